"""``assetlake find``: search the local catalogue; stdlib + click only, so it answers in milliseconds."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import fields
from enum import EnumMeta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from assetlake.catalogue.query import DEFAULT_LIMIT, Query
from assetlake.cli.options import catalogue_option, lake_option, open_catalogue
from assetlake.cli.output import end_output, one_line
from assetlake.errors import CatalogueBusyError, QueryError
from assetlake.jsontext import indented

if TYPE_CHECKING:
    from assetlake.catalogue import Record

FORMATS = ("table", "json", "names", "urls")
TABLE_COLUMNS = ("name", "level", "modality", "subject", "acquired", "project", "status")


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


def _option(name: str) -> str:
    return "--" + name.replace("_", "-")


def query_options(command: Callable[..., None]) -> Callable[..., None]:
    """``find``'s arguments, generated from the :class:`Query` declarations: TEXT for ``text``,
    a repeatable option for a filter that takes several values, a flag for a yes/no one."""
    for spec in reversed(fields(Query)):
        meta = spec.metadata
        if not meta["cli"]:
            continue
        if spec.name == "text":
            command = click.argument("text", nargs=-1)(command)
            continue
        flag = _option(spec.name)
        extra: dict[str, Any] = {"help": meta["help"], "metavar": meta["metavar"]}
        if meta["many"]:
            extra["multiple"] = True
        elif spec.type == "bool":
            extra["is_flag"] = True
        elif isinstance(meta["choices"], EnumMeta):  # the query accepts only these
            extra["type"] = click.Choice([str(choice) for choice in meta["choices"]])
        elif spec.name == "limit":
            extra.update(type=click.IntRange(min=1), default=DEFAULT_LIMIT, show_default=True)
        elif spec.default is not None:
            extra.update(default=spec.default, show_default=True)
        command = click.option(flag, **extra)(command)
    return command


@click.command("find")
@query_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for people; names or urls one per line for scripts; json records "
    "(name, url and every field but the metadata document). Example: --format urls",
)
@lake_option
@catalogue_option
def command(
    text: tuple[str, ...], fmt: str, lake: str | None, catalogue_file: Path | None, **filters: Any
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
    try:
        query = Query(text=" ".join(text) if text else None, **filters)
    except QueryError as error:  # name the option as typed: --after, not after
        raise error.renamed(_option(error.named)) if error.named in filters else error from None
    limit = query.limit
    fetch = None
    if catalogue_file is None and lake:
        from assetlake.catalogue import default_catalogue_path
        from assetlake.catalogue.publish import pending_fetch

        # No local copy of the published catalogue yet: answer from the rows the query can
        # match, then build the copy (minutes at a million assets) with the answer given.
        catalogue_file = default_catalogue_path(lake)
        fetch = pending_fetch(lake, catalogue_file)
    records = fetch.answer(query) if fetch is not None else None
    if records is None:
        if fetch is not None:
            fetch.complete()
            fetch = None
        with open_catalogue(catalogue_file, lake) as catalogue:
            records = catalogue.find(query)
    show(records, fmt, limit)
    if fetch is not None:
        end_output()
        with contextlib.suppress(CatalogueBusyError):  # another process is building the copy
            fetch.complete()


def show(records: list[Record], fmt: str, limit: int | None) -> None:
    """Print ``records`` in ``fmt``, and on stderr whether the limit cut them short."""
    if len(records) == limit:
        click.echo(
            f"assetlake find: showing the first {limit} matches; raise --limit for more", err=True
        )
    if fmt == "json":
        click.echo(indented([r.without_metadata() for r in records]))
    elif fmt in ("names", "urls"):
        for record in records:
            click.echo(record.name if fmt == "names" else record.url)
    elif records:
        click.echo(format_table(records))
    else:
        click.echo("no assets match", err=True)
