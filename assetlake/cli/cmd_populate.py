"""``assetlake populate``: compute every missing output of a step, each job exactly once."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from assetlake.cli.options import lake_option, workers
from assetlake.cli.output import drawing_stream, one_line, sources_text

if TYPE_CHECKING:
    from assetlake.pipelines.run import Outcome
    from assetlake.pipelines.todo import ToDo

_PARSED_AS_LIST = ("subject", "modality", "project", "derived_from", "species", "label")


def parse_pairs(
    pairs: tuple[str, ...], option: str, *, filters: bool = True
) -> dict[str, str | list[str]]:
    """``KEY=VALUE`` options as a dict; for filters, a key given twice (or a comma list) means
    OR, as in find."""
    from assetlake.errors import UsageError

    values: dict[str, str | list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key or not value:
            raise UsageError(
                f"{option} {pair!r}: expected KEY=VALUE, e.g. {option} modality=ecephys"
            )
        if filters and key in _PARSED_AS_LIST:
            previous = values.get(key, [])
            values[key] = [*previous, *value.split(",")]
        else:
            values[key] = value
    return values


@click.command("populate")
@click.argument("step")
@lake_option
@click.option(
    "--where",
    multiple=True,
    metavar="KEY=VALUE",
    help="Narrow the sources with find's filters, e.g. --where subject=611028 --where "
    "after=2024-01-01 (label= filters the source's label).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a step parameter (JSON value or text); other parameters keep their defaults.",
)
@click.option("--limit", type=click.IntRange(1), metavar="N", help="Run at most N jobs.")
@workers(None, "Local processes (default: cores).")
@click.option("--scheduler", metavar="ADDRESS", help="Run on a Dask cluster, e.g. tcp://host:8786.")
@click.option("--dry-run", is_flag=True, help="Print the to-do list, run nothing.")
@click.option("--retry-failed", is_flag=True, help="Run jobs that failed before again.")
@click.option(
    "--lease",
    type=click.FloatRange(1, None),
    default=600,
    show_default=True,
    metavar="SECONDS",
    help="How long a claim holds without renewal (a dead worker's job is free after it).",
)
def command(
    step: str,
    lake: str | None,
    where: tuple[str, ...],
    params: tuple[str, ...],
    limit: int | None,
    workers: int | None,
    scheduler: str | None,
    dry_run: bool,
    retry_failed: bool,
    lease: float,
) -> None:
    """Run STEP (a registered name or package.module:step) on every source lacking its output.

    \b
    Examples:
      assetlake populate spikes --lake s3://my-lab-data
      assetlake populate spikes --where subject=611028 --dry-run
      assetlake populate figures --scheduler tcp://10.0.0.5:8786
      assetlake populate mylab.steps:sorting --retry-failed
    """
    import json

    from assetlake.pipelines.populate import populate
    from assetlake.store import open_store

    values: dict[str, object] = {}
    for key, value in parse_pairs(params, "--param", filters=False).items():
        try:
            values[key] = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            values[key] = value
    store = open_store(lake)
    bar = None

    def planned(todo: ToDo) -> None:
        nonlocal bar
        for source, reason in todo.skipped:
            click.echo(f"skipped  {source}: {reason}")
        if dry_run:
            for job in todo.jobs:
                click.echo(f"to do    {job.describe()}  [{job.key}]")
        elif todo.jobs and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=len(todo.jobs), unit="job", file=drawing_stream(), leave=False)

    def ended(outcome: Outcome) -> None:
        what = sources_text(outcome.sources)
        if outcome.status == "done":
            line = f"done     {what} -> {outcome.output} in {outcome.seconds:.1f} s"
        elif outcome.status == "error":
            line = f"failed   {what}: {outcome.reason} (see 'assetlake jobs --status error')"
        else:
            line = f"skipped  {what}: {outcome.reason}"
        if bar is not None:
            bar.write(one_line(line))  # the bar draws on the raw stream: clean what it writes
            bar.update()
        else:
            click.echo(line)

    try:
        result = populate(
            step,
            store,
            where=parse_pairs(where, "--where"),
            parameters=values,
            limit=limit,
            workers=workers,
            scheduler=scheduler,
            dry_run=dry_run,
            retry_failed=retry_failed,
            lease=lease,
            on_plan=planned,
            on_outcome=ended,
        )
    finally:
        if bar is not None:
            bar.close()
    if dry_run:
        todo = result.todo
        click.echo(
            f"populate {result.step.name}: {len(todo.jobs)} to do, {todo.done} up to date "
            "(dry run: nothing ran)"
        )
        return
    click.echo(result.summary())
    if result.failed:
        click.get_current_context().exit(1)
