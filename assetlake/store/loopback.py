"""A moto S3 server on 127.0.0.1: the one start-up used by the demo, the tests and the benchmarks.

In this process (a thread; the demo and the tests), or in a process of its own so that it does not
share the client's GIL (the benchmarks). Either way the caller gets the endpoint URL only once the
server answers, and the server is stopped when the block ends, however it ends.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

from assetlake.errors import UsageError

#: Longest wait for a server process to answer: a guard against a server that never comes up,
#: generous for a busy machine; the wait ends as soon as the server answers.
START_TIMEOUT = 120.0


@contextlib.contextmanager
def moto_server(*, own_process: bool = False) -> Iterator[str]:
    """Run a moto S3 server on loopback for the block; yields its endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise UsageError(
            "the demo's loopback S3 needs moto: pip install 'assetlake[demo]', or pass --lake FOLDER"
        ) from None
    if own_process:
        with _server_process() as endpoint:
            yield endpoint
        return
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()  # returns once the server's socket is listening
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextlib.contextmanager
def _server_process() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, ended as a whole below
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on {endpoint}") from None
                time.sleep(0.1)  # polling for the server to answer, not a wait for time to pass
        yield endpoint
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
