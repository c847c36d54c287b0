"""``assetlake watch``: the rig-side drop-folder agent, in the foreground, one log line per event."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assetlake.cli.options import lake_option, workers

if TYPE_CHECKING:
    from assetlake.cli.options import F


def _seconds(name: str, minimum: float, help: str) -> Callable[[F], F]:
    """A duration option of the agent, in seconds, 10 by default."""
    return click.option(
        name,
        type=click.FloatRange(minimum),
        default=10.0,
        show_default=True,
        metavar="SECONDS",
        help=help,
    )


@click.command("watch")
@click.argument("drop_dir", type=click.Path(path_type=Path))
@lake_option
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="The agent's SQLite journal (default: one per DROP_DIR under $ASSETLAKE_CACHE/watch/).",
)
@workers(
    None, "Files of one session in flight at once [default: the lake's choice, as for upload]."
)
@click.option(
    "--schedule", metavar="HH:MM-HH:MM", help="Upload only in this daily window (local time)."
)
@click.option(
    "--max-rate",
    type=click.FloatRange(min=0, min_open=True),
    metavar="MB/s",
    help="Cap upload bandwidth at this many megabytes (10^6 bytes) a second.",
)
@click.option(
    "--delete-source",
    is_flag=True,
    help="Delete a session's local files once the lake holds them verified (default: move the "
    "folder or manifest to DROP_DIR/done/).",
)
@click.option("--index", is_flag=True, help="Update (and publish) the catalogue after each commit.")
@click.option("--once", is_flag=True, help="Process what is settled now, then exit (cron, tests).")
@click.option(
    "--check",
    is_flag=True,
    help="Only check the set-up (drop folder writable, lake reachable with these credentials); "
    "exit 0, or 1 with one line per problem.",
)
@_seconds(
    "--settle",
    0,
    "Take an entry once nothing in it changed for this long (0: rigs that only mv in).",
)
@_seconds("--rescan", 0.1, "List the drop folder at least this often, events or not.")
@click.option(
    "--read-root",
    "read_roots",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="A folder manifests may name files in (repeatable; default: DROP_DIR's parent).",
)
def command(
    drop_dir: Path,
    lake: str | None,
    journal: Path | None,
    workers: int,
    schedule: str | None,
    max_rate: float | None,
    delete_source: bool,
    index: bool,
    once: bool,
    check: bool,
    settle: float,
    rescan: float,
    read_roots: tuple[Path, ...],
) -> None:
    """Commit every session dropped into DROP_DIR to the lake, verified, surviving restarts.

    A session is an asset folder moved in with 'mv' (atomic), or a manifest naming files that
    stay where the rig wrote them: an assetlake hand-over JSON (schemas/handover.schema.json) or
    an aind-watchdog-service YAML. Write a manifest under a temporary name (NAME.json.tmp) and
    rename it when complete. Stop with Ctrl-C or SIGTERM: an interrupted upload resumes on the
    next start. Invalid sessions go to DROP_DIR/failed/ with a NAME.error.txt saying why.

    \b
    Examples:
      assetlake watch D:/rig/drop --lake s3://my-lab-data
      assetlake watch /data/drop --lake s3://my-lab-data --schedule 20:00-06:00 --index
    """
    import signal
    import threading
    from datetime import datetime

    from assetlake.watch.agent import Agent, Config, Event
    from assetlake.watch.schedule import parse_window

    window = parse_window(schedule) if schedule is not None else None
    if not lake:
        from assetlake.errors import UsageError

        raise UsageError("no lake given: pass --lake URL or set ASSETLAKE_LAKE")

    def log(event: Event) -> None:
        moment = datetime.now().astimezone().isoformat(timespec="seconds")
        label = Path(event.source).name
        if event.name and event.name != label:
            label += f" -> {event.name}"
        click.echo(f"{moment} {event.kind:<9} {label}: {event.detail}")

    config = Config(
        drop=drop_dir,
        lake=lake,
        journal=journal,
        workers=workers,
        window=window,
        delete_source=delete_source,
        index=index,
        max_rate=None if max_rate is None else max_rate * 1e6,
        settle=settle,
        rescan=rescan,
        read_roots=list(read_roots),
    )
    agent = Agent(config, log)
    if check:
        try:
            problems = agent.check()
        finally:
            agent.close()
        for problem in problems:
            click.echo(f"assetlake watch: {problem}", err=True)
        if not problems:
            click.echo(f"ready: {agent.drop} -> {agent.store.url}")
        click.get_current_context().exit(1 if problems else 0)
    stop = threading.Event()

    def terminate(signum: int, frame: object) -> None:
        stop.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        code = agent.run(stop, once=once)
    except KeyboardInterrupt:
        click.echo("stopped: an interrupted upload resumes on the next start")
        code = 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        agent.close()
    click.get_current_context().exit(code)
