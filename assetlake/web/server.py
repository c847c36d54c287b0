"""Running the site with uvicorn on a socket bound first, so the real port (for ``--port 0``)
is known before the server starts and can be printed or handed to a test."""

from __future__ import annotations

import socket

from assetlake.errors import UsageError


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


def server(app: object, sock: socket.socket):  # type: ignore[no-untyped-def]
    """A uvicorn server for ``app``; ``server.run(sockets=[sock])`` serves until ``should_exit``."""
    import uvicorn

    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    return uvicorn.Server(config)
