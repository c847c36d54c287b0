"""``assetlake download``: copy committed assets to a local folder, every byte checked."""

from __future__ import annotations

from pathlib import Path

import click

from assetlake.cli.options import lake_option, workers
from assetlake.units import format_size


@click.command("download")
@click.argument("names", nargs=-1, required=True, metavar="NAME...")
@click.argument("dest", type=click.Path(path_type=Path, file_okay=False))
@lake_option
@click.option(
    "--include",
    multiple=True,
    metavar="GLOB",
    help="Only files whose path inside the asset matches (repeatable; '*' spans folders).",
)
@click.option(
    "--exclude", multiple=True, metavar="GLOB", help="Skip files whose path matches (repeatable)."
)
@workers()
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar (default: only when stderr is a terminal).",
)
def command(
    names: tuple[str, ...],
    dest: Path,
    lake: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    workers: int | None,
    progress: bool | None,
) -> None:
    """Copy the committed assets NAME... into DEST/NAME/, checking every file against the
    manifest's SHA-256 while it streams.

    Files already in DEST with the right SHA-256 are skipped (decided by hash), so the same
    command again resumes an interrupted download; a file under its final name is always a
    verified copy. Every asset is checked before anything is written.

    \b
    Examples:
      assetlake download ecephys_123456_2024-03-01_14-05-09 ./data --lake s3://my-lab-data
      assetlake download NAME ./data --include '*.json' --include 'ecephys.zarr/*'
    """
    from assetlake.cli.progress import transfer
    from assetlake.download import download_asset, plan_download
    from assetlake.store import open_store

    store = open_store(lake)
    store.check()
    plans = [plan_download(store, name, include, exclude) for name in names]
    resumes = "files under their final names are verified, and the same command again resumes"
    with transfer(progress, resumes) as bar:
        results = [
            download_asset(store, plan, dest, workers=workers, progress=bar) for plan in plans
        ]
    for plan, result in zip(plans, results, strict=True):
        click.echo(
            f"downloaded: {plan.name} -> {result.folder} ({len(result.downloaded)} files, "
            f"{format_size(result.bytes_downloaded)}; {len(result.skipped)} already there and "
            "verified)"
        )
