"""Options shared by several commands, declared once."""

from __future__ import annotations

import click

lake_option = click.option(
    "--lake",
    envvar="ASSETLAKE_LAKE",
    metavar="URL",
    help="The lake: s3://bucket[/prefix] or a local folder (default: $ASSETLAKE_LAKE). "
    "Example: --lake s3://my-lab-data",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
