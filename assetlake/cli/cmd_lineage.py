"""``assetlake lineage``: the derivation tree of an asset, from its raw root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assetlake.cli.options import catalogue_option, json_option, lake_option, open_catalogue
from assetlake.cli.output import one_line

if TYPE_CHECKING:
    from assetlake.catalogue import LineageNode


def render_tree(node: LineageNode, mark: str, depth: int = 0) -> list[str]:
    """Indented lines, two spaces per generation; ``mark`` gets a ``*``."""
    flags = " *" if node.name == mark else ""
    if not node.known:
        flags += " (not in the catalogue)"
    lines = [f"{'  ' * depth}{one_line(node.name)}{flags}"]
    for child in node.children:
        lines += render_tree(child, mark, depth + 1)
    return lines


@click.command("lineage")
@click.argument("name")
@json_option
@lake_option
@catalogue_option
def command(name: str, as_json: bool, lake: str | None, catalogue_file: Path | None) -> None:
    """Print the derivation tree of NAME from its raw root; NAME is marked with '*'.

    \b
    Example:
      assetlake lineage ecephys_123456_2024-03-01_14-05-09_sorted_2024-03-02_09-30-00
    """
    with open_catalogue(catalogue_file, lake) as catalogue:
        lineage = catalogue.lineage(name)
    if as_json:
        click.echo(json.dumps(lineage.to_dict(), indent=2))
    else:
        click.echo("\n".join(render_tree(lineage.root, name)))
