"""``assetlake serve``: the lake's read-only website and JSON API."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from assetlake.cli.options import catalogue_option, lake_option

if TYPE_CHECKING:
    from assetlake.web.site import Site


@click.command("serve")
@lake_option
@catalogue_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="0: any free."
)
@click.option(
    "--refresh",
    "refresh",
    type=click.FloatRange(min=0),
    default=300,
    show_default=True,
    metavar="SECONDS",
    help="Re-read the lake this often (0: only on start).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Processes serving requests, each on its own core  [default: one per core]",
)
def command(
    lake: str | None,
    catalogue_file: Path | None,
    host: str,
    port: int,
    refresh: float,
    workers: int | None,
) -> None:
    """Serve the catalogue as a website with a JSON API under /api/ (read-only).

    The catalogue is refreshed from the lake on start and every --refresh seconds (indexed, or
    the published one fetched when there is no local index); if the lake cannot be reached the
    site keeps serving the last catalogue with a notice. Requests are served by --workers
    processes (one refreshes for all).

    \b
    Examples:
      assetlake serve --lake s3://my-lab-data
      assetlake serve --catalogue lab.sqlite --port 8080
    """
    try:
        import assetlake.web.app  # noqa: F401 - the extra's packages, checked before anything
    except ImportError as error:
        raise click.ClickException(
            f"the website needs {error.name}: pip install 'assetlake[web]'"
        ) from None
    from assetlake.catalogue import default_catalogue_path
    from assetlake.errors import UsageError
    from assetlake.store import normalise_lake_url
    from assetlake.web.server import bind, default_workers, serve
    from assetlake.web.site import Site

    if not lake and catalogue_file is None:
        raise UsageError(
            "no catalogue given: pass --lake URL (or set ASSETLAKE_LAKE) or --catalogue FILE"
        )
    if lake:
        lake = normalise_lake_url(lake) if lake.startswith("s3://") else lake
    path = catalogue_file or default_catalogue_path(lake or "")
    site = Site(path, lake=lake, refresh=refresh if lake else 0)
    sock = bind(host, port)
    where, bound = sock.getsockname()[:2]
    shown = f"[{where}]" if ":" in where else where
    click.echo(f"assetlake serve: {lake or path} at http://{shown}:{bound}/ (Ctrl-C to stop)")
    if lake:
        threading.Thread(target=_say_when_ready, args=(site,), daemon=True).start()
    serve(site, sock, workers or default_workers())


def _say_when_ready(site: Site) -> None:
    """One line once the first refresh has ended: the catalogue is current, or why it is not."""
    site.ready.wait()
    if site.notice:
        click.echo(f"assetlake serve: {site.notice}", err=True)
    else:
        click.echo("assetlake serve: catalogue up to date")
