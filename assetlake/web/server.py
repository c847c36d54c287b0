"""Running the site with uvicorn on a socket bound first, so the real port (for ``--port 0``)
is known before the server starts and can be printed or handed to a test.

One Python process runs one request at a time (the GIL), so a machine with several cores serves
with several worker processes accepting from the one socket, each with its own event loop and
read-only catalogue connection. They are uvicorn's own supervised workers (restarted when one
dies); the parent only refreshes the catalogue and shares the outcome (see :mod:`site`).
"""

from __future__ import annotations

import os
import signal
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetlake.errors import UsageError
from assetlake.web.site import Site

if TYPE_CHECKING:
    import uvicorn
    from starlette.applications import Starlette


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one)."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Inherited by accepted connections: without it a keep-alive client waits ~40 ms per
        # response for the delayed ACK of uvicorn's separate header and body writes.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError as error:
        raise UsageError(
            f"cannot listen on {host}:{port} ({error.strerror}); pick another --port or --host"
        ) from None
    sock.listen(128)
    return sock


def default_workers() -> int:
    """One worker per core this process may run on."""
    return len(os.sched_getaffinity(0))


def server(app: object, sock: socket.socket) -> uvicorn.Server:
    """A uvicorn server for ``app``; ``server.run(sockets=[sock])`` serves until ``should_exit``."""
    import uvicorn

    return uvicorn.Server(_config(app, sock))


def _config(app: object, sock: socket.socket, **options: Any) -> uvicorn.Config:
    import uvicorn

    host, port = sock.getsockname()[:2]
    # No proxy headers: the site uses no client address, and a request skips their middleware.
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="on", proxy_headers=False,
        **options,
    )  # fmt: skip


@dataclass(frozen=True)
class Worker:
    """The application factory of one worker process: picklable, so uvicorn can start (and
    restart) workers with it; each builds its own site following the parent's refresh."""

    catalogue_path: Path
    lake: str | None
    follows: Path | None

    def __call__(self) -> Starlette:
        from assetlake.web.app import create_app

        return create_app(Site(self.catalogue_path, lake=self.lake, follows=self.follows))


def serve(site: Site, sock: socket.socket, workers: int) -> None:
    """Serve ``site`` on ``sock`` until interrupted: in this process, or from ``workers``
    processes while this one runs the site's refresh loop."""
    if workers == 1:
        from assetlake.web.app import create_app

        server(create_app(site), sock).run(sockets=[sock])
        return
    from uvicorn.supervisors.multiprocess import SIGNALS, Multiprocess

    previous = {number: signal.getsignal(number) for number in SIGNALS}
    with tempfile.TemporaryDirectory(prefix="assetlake-serve-") as folder:
        site.shares = Path(folder) / "refreshed.json" if site.lake else None
        factory = Worker(site.catalogue_path, site.lake, site.shares)
        supervisor = Multiprocess(_config(factory, sock, factory=True, workers=workers), [sock])
        site.start()
        try:
            supervisor.run()
        finally:
            site.stop()
            for number, handler in previous.items():  # the supervisor's are for its run only
                signal.signal(number, handler)
