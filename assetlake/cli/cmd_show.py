"""``assetlake show``: one asset's metadata summary, files, validation and lineage."""

from __future__ import annotations

import json
from pathlib import Path

import click

from assetlake.cli.options import (
    catalogue_option,
    json_option,
    lake_option,
    open_catalogue,
)
from assetlake.cli.output import one_line
from assetlake.units import format_size


@click.command("show")
@click.argument("name")
@json_option
@lake_option
@catalogue_option
def command(name: str, as_json: bool, lake: str | None, catalogue_file: Path | None) -> None:
    """Describe asset NAME: metadata, files, validation status and lineage.

    \b
    Example:
      assetlake show ecephys_123456_2024-03-01_14-05-09 --lake s3://my-lab-data
    """
    from assetlake.errors import AssetNotFoundError

    with open_catalogue(catalogue_file, lake) as catalogue:
        record = catalogue.get(name)
        if record is None:
            raise AssetNotFoundError(
                f"asset {name} is not in the catalogue; list names with 'assetlake find'"
            )
        lineage = catalogue.lineage(name)
    derived = [node.name for node in lineage.descendants.children]
    if as_json:
        shown = record.without_metadata()
        shown["lineage"] = {"ancestors": lineage.ancestors, "derived": derived}
        click.echo(json.dumps(shown, indent=2))
        return
    fields = (
        ("name", record.name),
        ("url", record.url),
        ("level", record.level),
        ("modalities", ", ".join(record.modalities)),
        ("subject", record.subject_id),
        ("species", record.species),
        ("sex", record.sex),
        ("genotype", record.genotype),
        ("acquired", record.acquired),
        ("project", record.project),
        ("institution", record.institution),
        ("investigators", ", ".join(record.investigators)),
        ("processed", record.processed),
        ("status", record.status),
        ("digest", record.digest),
    )
    for label, value in fields:
        if value:
            click.echo(f"{label:<13} {one_line(value)}")
    click.echo(f"files         {record.objects} objects, {format_size(record.size)}")
    for entry in record.contents:
        click.echo(
            f"  {one_line(entry.get('path', ''))}  {one_line(entry.get('format', ''))}  "
            f"{format_size(int(entry.get('size', 0)))}  {entry.get('objects', 0)} objects"
        )
    for problem in record.problems:
        where = f"{problem.get('file', '')}:{problem.get('path', '')}".rstrip(":")
        message = f"{problem.get('severity', 'error')}: {where}: {problem.get('message', '')}"
        click.echo(f"  {one_line(message)}")
    if lineage.ancestors:
        click.echo("derived from  " + " <- ".join(reversed(lineage.ancestors)))
    for child in derived:
        click.echo(f"derived       {child}")
