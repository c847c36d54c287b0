"""``assetlake name``: the name grammar for people and shell scripts."""

from __future__ import annotations

import json
from datetime import datetime

import click

from assetlake.cli.options import json_option


@click.group("name")
def command() -> None:
    """Parse and make asset names.

    \b
    Raw:     <modality>_<subject-id>_<YYYY-MM-DD>_<HH-MM-SS>
    Derived: <source-name>_<label>_<YYYY-MM-DD>_<HH-MM-SS>
    """


@command.command("parse")
@click.argument("name")
@json_option
def parse(name: str, as_json: bool) -> None:
    """Check NAME and print its parts; exit 1 with the reason when it is not a valid name.

    \b
    Example:
      assetlake name parse ecephys_123456_2024-03-01_14-05-09 --json
    """
    from assetlake.naming import parse_name

    parsed = parse_name(name).to_dict()
    if as_json:
        click.echo(json.dumps(parsed, indent=2))
        return
    for key, value in parsed.items():
        if value is not None:
            click.echo(f"{key:<11} {value}")


def _moment(value: str | None) -> datetime:
    if value is None:
        return datetime.now()
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO time like 2024-03-01T14:05:09") from None


@command.command("make")
@click.option("--modality", help="Modality of a raw asset, e.g. ecephys.")
@click.option("--subject", "subject_id", help="Subject id of a raw asset, e.g. 123456.")
@click.option("--source", help="Name of the source asset of a derived asset.")
@click.option("--label", help="Label of a derived asset, e.g. sorted.")
@click.option(
    "--time",
    "moment",
    metavar="ISO",
    help="Acquisition (raw) or processing (derived) "
    "time, e.g. 2024-03-01T14:05:09; default now, local clock.",
)
def make(
    modality: str | None,
    subject_id: str | None,
    source: str | None,
    label: str | None,
    moment: str | None,
) -> None:
    """Print a new asset name (raw with --modality/--subject, derived with --source/--label).

    \b
    Examples:
      assetlake name make --modality ecephys --subject 123456 --time 2024-03-01T14:05:09
      assetlake name make --source ecephys_123456_2024-03-01_14-05-09 --label sorted
    """
    from assetlake.naming import AssetName, parse_name

    when = _moment(moment)
    if source or label:
        if not (source and label) or modality or subject_id:
            raise click.UsageError(
                "a derived name needs --source and --label (and no --modality/--subject)"
            )
        click.echo(str(parse_name(source).derive(label, when)))
    elif modality and subject_id:
        click.echo(str(AssetName.raw(modality, subject_id, when)))
    else:
        raise click.UsageError(
            "give --modality and --subject (raw) or --source and --label (derived)"
        )
