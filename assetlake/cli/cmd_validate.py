"""``assetlake validate``: check an asset folder's sidecars and name before uploading it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from assetlake.cli.options import json_option
from assetlake.cli.output import one_line


@click.command("validate")
@click.argument("path", type=click.Path(path_type=Path))
@json_option
def command(path: Path, as_json: bool) -> None:
    """Check the sidecars of the asset folder PATH and their agreement with its name.

    Exit 0 when valid (warnings are printed), 1 when invalid, listing every problem by file,
    JSON path and offending value, 2 when PATH is not a folder.

    \b
    Example:
      assetlake validate examples/ecephys_123456_2024-03-01_14-05-09
    """
    from assetlake.errors import MetadataError
    from assetlake.validate import validate_folder

    report = validate_folder(path)
    name = report.to_dict()["name"]
    errors = [p for p in report.problems if p.severity == "error"]
    counted = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        click.echo(f"valid: {name}" if report.ok else f"invalid: {name} ({counted})")
        for problem in report.problems:
            click.echo(one_line(problem))
    if not report.ok:
        raise MetadataError(
            f"asset folder {name} is invalid ({counted}); fix them and run assetlake validate again",
            errors,
        )
