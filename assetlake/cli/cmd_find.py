"""``assetlake find``: search the local catalogue; stdlib + click only, so it answers in milliseconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assetlake.cli.options import catalogue_option, lake_option, open_catalogue
from assetlake.cli.output import one_line

if TYPE_CHECKING:
    from assetlake.catalogue import Record

FORMATS = ("table", "json", "names", "urls")
TABLE_COLUMNS = ("name", "level", "modality", "subject", "acquired", "project", "status")
DEFAULT_LIMIT = 100


def _row(record: Record) -> tuple[str, ...]:
    return (
        record.name,
        record.level,
        ",".join(record.modalities),
        record.subject_id or "",
        record.acquired or "",
        record.project or "",
        record.status,
    )


def format_table(records: list[Record]) -> str:
    """Plain aligned columns, the same on a terminal and in a pipe."""
    rows = [TABLE_COLUMNS, *(tuple(map(one_line, _row(r))) for r in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TABLE_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


@click.command("find")
@click.argument("text", nargs=-1)
@click.option("--subject", multiple=True, help="Subject id; '*' wildcards; repeat for OR.")
@click.option("--modality", multiple=True, help="Modality, e.g. ecephys; repeat for OR.")
@click.option("--project", multiple=True, help="Project name; repeat for OR.")
@click.option("--after", metavar="DATE", help="Acquired at or after, e.g. 2024-03-01.")
@click.option("--before", metavar="DATE", help="Acquired before, e.g. 2024-04-01T12:00:00.")
@click.option("--level", type=click.Choice(["raw", "derived"]), help="Raw or derived assets.")
@click.option(
    "--derived-from", metavar="NAME", multiple=True, help="Descendants of NAME (any depth)."
)
@click.option("--species", multiple=True, help="Species, any case; repeat for OR.")
@click.option("--genotype", help="Part of the genotype, any case, e.g. sst-ires.")
@click.option("--invalid", is_flag=True, help="Only assets that failed validation.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=DEFAULT_LIMIT,
    show_default=True,
    help="At most this many assets.",
)
@click.option(
    "--sort",
    default="acquired",
    show_default=True,
    help="name, acquired, subject, size or processed; '-' in front for descending.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for people; names or urls one per line for scripts; json records "
    "(name, url and the summary fields). Example: --format urls",
)
@lake_option
@catalogue_option
def command(
    text: tuple[str, ...],
    subject: tuple[str, ...],
    modality: tuple[str, ...],
    project: tuple[str, ...],
    after: str | None,
    before: str | None,
    level: str | None,
    derived_from: tuple[str, ...],
    species: tuple[str, ...],
    genotype: str | None,
    invalid: bool,
    limit: int,
    sort: str,
    fmt: str,
    lake: str | None,
    catalogue_file: Path | None,
) -> None:
    """Search the catalogue. TEXT matches every word anywhere in the metadata.

    Filters combine with AND; a repeated option means OR within it.

    \b
    Examples:
      assetlake find --subject 123456 --modality ecephys
      assetlake find --after 2024-03-01 --before 2024-04-01 --format names
      assetlake find "probe drift" --genotype sst-ires --level raw
      assetlake find --derived-from ecephys_123456_2024-03-01_14-05-09 --format json
    """
    with open_catalogue(catalogue_file, lake) as catalogue:
        records = catalogue.find(
            subject=subject or None,
            modality=modality or None,
            project=project or None,
            after=after,
            before=before,
            level=level,
            derived_from=derived_from or None,
            species=species or None,
            genotype=genotype,
            invalid=invalid,
            text=" ".join(text) if text else None,
            limit=limit,
            sort=sort,
        )
    if len(records) == limit:
        click.echo(
            f"assetlake find: showing the first {limit} matches; raise --limit for more", err=True
        )
    if fmt == "json":
        click.echo(json.dumps([r.summary() for r in records], indent=2))
    elif fmt in ("names", "urls"):
        for record in records:
            click.echo(record.name if fmt == "names" else record.url)
    elif records:
        click.echo(format_table(records))
    else:
        click.echo("no assets match", err=True)
