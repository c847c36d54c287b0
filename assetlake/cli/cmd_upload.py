"""``assetlake upload``: validate an asset folder and commit it to a lake, resuming if interrupted."""

from __future__ import annotations

from pathlib import Path

import click

from assetlake.cli.options import lake_option, workers
from assetlake.cli.output import one_line
from assetlake.units import format_size


@click.command("upload")
@click.argument("path", type=click.Path(path_type=Path, file_okay=False))
@lake_option
@click.option("--dry-run", is_flag=True, help="Print what would be uploaded; write nothing.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: only when stderr is a terminal).",
)
@workers()
def command(
    path: Path, lake: str | None, dry_run: bool, progress: bool | None, workers: int | None
) -> None:
    """Validate the asset folder PATH and commit it to the lake.

    Nothing is written if validation fails. The asset becomes visible only once every object and
    the manifest are stored; an interrupted upload stays invisible, and the same command again
    resumes it, skipping objects already in the lake. Assets are immutable: a fix is a new
    derived asset.

    \b
    Examples:
      assetlake upload ecephys_123456_2024-03-01_14-05-09 --lake s3://my-lab-data
      assetlake upload SESSION --lake s3://my-lab-data --dry-run
    """
    from assetlake.cli.progress import transfer
    from assetlake.errors import MetadataError
    from assetlake.store import open_store
    from assetlake.upload import upload_folder

    store = open_store(lake)
    resumes = "the unfinished upload stays invisible, and the same command again resumes it"
    try:
        with transfer(progress, resumes) as bar:
            result = upload_folder(path, store, dry_run=dry_run, progress=bar, workers=workers)
    except MetadataError as error:
        for problem in error.problems:
            click.echo(one_line(problem), err=True)
        raise
    if dry_run:
        plan = result.plan
        click.echo(f"dry run: nothing written\nname:   {result.name}\nlake:   {store.url}")
        click.echo(f"upload: {result.uploaded} files ({format_size(result.bytes_uploaded)})")
        click.echo(f"skip:   {result.skipped} files already in the lake")
        for verb, files in (("upload", plan.upload), ("skip", plan.skip)):
            for local in files:
                click.echo(f"  {verb:<6} {local.path} ({local.size} bytes)")
        return
    if result.took_over is not None:
        click.echo(
            f"took over the name from an upload that is gone ({result.took_over.describe()})",
            err=True,
        )
    if result.cleaned:
        click.echo(
            f"removed {result.cleaned} unfinished writes left by an interrupted upload", err=True
        )
    if result.skipped:
        click.echo(f"resumed: skipped {result.skipped} objects already in the lake")
    click.echo(
        f"committed: {result.name} -> {result.url} ({result.uploaded} files uploaded, "
        f"{format_size(result.bytes_uploaded)}; {result.objects} files, "
        f"{format_size(result.total_bytes)} in all)"
    )
