"""``assetlake jobs``: the job records populate keeps in the lake."""

from __future__ import annotations

import click

from assetlake.cli.options import json_option, lake_option
from assetlake.cli.output import sources_text
from assetlake.pipelines.claims import STATUSES


@click.command("jobs")
@lake_option
@click.option("--step", metavar="NAME", help="Only the jobs of this step (its name).")
@click.option("--status", type=click.Choice(STATUSES), help="Only jobs in this state.")
@json_option
def command(lake: str | None, step: str | None, status: str | None, as_json: bool) -> None:
    """List populate's jobs: reserved (running), expired (lease lapsed), error or done.

    \b
    Examples:
      assetlake jobs --lake s3://my-lab-data
      assetlake jobs --step spikes --status error
    """
    import json

    from assetlake.pipelines.claims import list_jobs
    from assetlake.store import open_store

    store = open_store(lake)
    store.check()
    states = [s for s in list_jobs(store, step) if status is None or s.status == status]
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in states], indent=1))
        return
    for state in states:
        what = sources_text(state.sources)
        if state.status == "done":
            detail = f"-> {state.output}"
        elif state.status == "error":
            detail = f"{state.error} (attempt {state.attempts}, {state.host})"
        else:
            detail = f"{state.host} pid {state.pid}, lease until {state.expires}"
        click.echo(f"{state.status:<8}  {state.step}  {state.key}  {what}  {detail}")
    if not as_json:
        counts = {s: sum(1 for x in states if x.status == s) for s in STATUSES}
        shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        click.echo(f"{len(states)} jobs" + (f" ({shown})" if shown else ""))
