"""``assetlake steps``: every step populate can find, one per line, its name first."""

from __future__ import annotations

import click

from assetlake.cli.options import json_option


@click.command("steps")
@json_option
def command(as_json: bool) -> None:
    """List the registered steps: name, label, version and source selector.

    Steps register in the entry-point group assetlake.steps; any step can also be given to
    populate by import path (package.module:step).

    \b
    Examples:
      assetlake steps
      assetlake steps --json
    """
    import json

    from assetlake.pipelines.registry import available

    rows = []
    for name, declared, problem in available():
        if declared is None:
            rows.append({"name": name, "error": problem})
            continue
        rows.append(
            {
                "name": name,
                "label": declared.label,
                "version": declared.version,
                "sources": declared.selector_text(),
                "description": declared.description,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    width = max((len(row["name"]) for row in rows), default=4)
    for row in rows:
        if "error" in row:
            click.echo(f"{row['name']:<{width}}  cannot load: {row['error']}")
        else:
            click.echo(
                f"{row['name']:<{width}}  label={row['label']}  version={row['version']}  "
                f"sources: {row['sources']}"
            )
