"""``assetlake schema``: the published JSON Schemas of the sidecars, generated from the models."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("schema")
def command() -> None:
    """Export the sidecars' JSON Schemas (never edit schemas/ by hand)."""


@command.command("export")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
    help="Folder to write <sidecar>.schema.json files into; created if missing.",
)
def export(out: Path) -> None:
    """Write one JSON Schema per sidecar and print each path written.

    \b
    Example:
      assetlake schema export --out schemas
    """
    from assetlake.schema import write_schemas

    for path in write_schemas(out):
        click.echo(f"wrote {path}")
