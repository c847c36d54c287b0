"""``assetlake verify``: re-read a committed asset and compare every object with its manifest."""

from __future__ import annotations

import json

import click

from assetlake.cli.options import json_option, lake_option
from assetlake.cli.output import one_line
from assetlake.units import format_size


@click.command("verify")
@click.argument("name")
@lake_option
@json_option
def command(name: str, lake: str | None, as_json: bool) -> None:
    """Re-hash every object of the committed asset NAME against its manifest.

    Exit 0 when intact; exit 1 with one line per missing, changed or unexpected object.

    \b
    Example:
      assetlake verify ecephys_123456_2024-03-01_14-05-09 --lake s3://my-lab-data
    """
    from assetlake.errors import IntegrityError
    from assetlake.store import open_store
    from assetlake.verify import verify_asset

    report = verify_asset(open_store(lake), name)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    elif report.ok:
        click.echo(f"intact: {name} ({report.checked} objects, {format_size(report.size)})")
    else:
        for line in report.problems():
            click.echo(one_line(line))
    if not report.ok:
        count = len(report.problems())
        raise IntegrityError(
            f"asset {name} does not match its manifest ({count} problem(s)); the lake copy is "
            "damaged: restore the objects or upload the source folder as a new asset"
        )
