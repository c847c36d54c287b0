"""A moto S3 server in its own process, shared by the benchmarks that talk to S3.

Run the benchmarks as scripts (``python benchmarks/index.py``); this module sits beside them.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """A moto server in its own process, so it does not share the client's GIL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            return server, endpoint
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError(f"moto server did not start on {endpoint}") from None
            time.sleep(0.2)
