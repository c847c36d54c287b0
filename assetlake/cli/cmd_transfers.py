"""``assetlake transfers``: what the rig agents on this machine have seen, from their journals."""

from __future__ import annotations

import json
from pathlib import Path

import click

from assetlake.watch.journal import State

COLUMNS = ("state", "name", "attempts", "bytes", "updated", "source", "error")


@click.command("transfers")
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="One agent's journal (default: every journal under $ASSETLAKE_CACHE/watch/).",
)
@click.option("--state", type=click.Choice([s.value for s in State]), help="Only this state.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table for people, or one JSON array.",
)
def command(journal: Path | None, state: str | None, fmt: str) -> None:
    """List the sessions the rig agents have seen: state, asset name, attempts, last error.

    \b
    Examples:
      assetlake transfers --state failed
      assetlake transfers --journal D:/rig/journal.sqlite --format json
    """
    from assetlake.errors import UsageError
    from assetlake.watch.journal import Journal, journal_folder

    if journal is not None and not journal.is_file():
        raise UsageError(f"journal {journal}: does not exist; give the --journal an agent writes")
    paths = [journal] if journal else sorted(journal_folder().glob("*.sqlite"))
    rows = []
    for path in paths:
        opened = Journal(path)
        try:
            rows += opened.entries(State(state) if state else None)
        finally:
            opened.close()
    records = [{column: getattr(entry, column) for column in COLUMNS} for entry in rows]
    if fmt == "json":
        click.echo(json.dumps(records, indent=1))
        return
    if not records:
        click.echo("no transfers")
        return
    cells = [[_printable(record[c]) for c in COLUMNS] for record in records]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]
    for row in [list(COLUMNS), *cells]:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _printable(value: object) -> str:
    """A cell with no control characters (names and errors come from files rigs wrote)."""
    text = "" if value is None else str(value)
    return "".join(ch if ch.isprintable() else "?" for ch in text)
