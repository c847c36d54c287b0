"""``assetlake verify``: check a committed asset's objects and digest against its manifest."""

from __future__ import annotations

import json
from collections import Counter

import click

from assetlake.cli.options import json_option, lake_option, workers
from assetlake.cli.output import one_line
from assetlake.units import format_size


@click.command("verify")
@click.argument("name")
@lake_option
@click.option(
    "--fast",
    is_flag=True,
    help="Compare sizes and the CRC32s S3 stores with the manifest, reading no data (S3 only).",
)
@workers()
@json_option
def command(name: str, lake: str | None, fast: bool, workers: int | None, as_json: bool) -> None:
    """Re-hash every object of the committed asset NAME against its manifest, and check the
    asset's digest.

    --json includes the asset's digest, computed from the verified manifest (also for assets
    committed before digests were recorded). Exit 0 when intact; exit 1 with one line per missing, changed or unexpected object. With
    --fast, objects whose CRC32 cannot be compared without reading them are listed and the exit
    is 1 too: run without --fast to check them.

    \b
    Examples:
      assetlake verify ecephys_123456_2024-03-01_14-05-09 --lake s3://my-lab-data
      assetlake verify ecephys_123456_2024-03-01_14-05-09 --lake s3://my-lab-data --fast
    """
    from assetlake.errors import IntegrityError
    from assetlake.store import open_store
    from assetlake.verify import verify_asset

    report = verify_asset(open_store(lake), name, workers=workers, fast=fast)
    how = "; sizes and stored CRC32s, no data read" if fast else ""
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif report.ok and report.complete:
        click.echo(f"intact: {name} ({report.checked} objects, {format_size(report.size)}{how})")
    else:
        for line in report.problems():
            click.echo(one_line(line))
        for why, count in Counter(c.why for c in report.unchecked).items():
            first = next(c.path for c in report.unchecked if c.why == why)
            click.echo(one_line(f"unchecked: {count} object(s) such as {name}/{first} ({why})"))
    if not report.ok:
        count = len(report.problems())
        raise IntegrityError(
            f"asset {name} does not match its manifest ({count} problem(s)); the lake copy is "
            "damaged: restore the objects or upload the source folder as a new asset"
        )
    if not report.complete:
        raise IntegrityError(
            f"asset {name}: {len(report.unchecked)} object(s) cannot be checked without reading "
            f"them; run 'assetlake verify {name}' without --fast"
        )
