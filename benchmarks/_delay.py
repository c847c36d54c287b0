"""A loopback TCP proxy that adds a fixed latency to every HTTP request and counts what it serves.

Minimal on purpose (the full synthetic S3 endpoint of issue 13 is ``benchmarks/s3_endpoint.py``):
it sits in front of an S3 server (moto; or that endpoint, adding no latency of its own), holds
each request (the first bytes a client sends after the last response began) for ``latency``
seconds, like a real bucket's time to first byte, and counts the requests and the response bytes,
which is how the benchmarks measure what a reader fetched.
Run in its own thread with its own asyncio loop, so it never waits on the client's GIL-bound work
for long; requests on separate connections are delayed concurrently, as S3 serves them.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass


@dataclass
class Counts:
    requests: int = 0
    bytes_out: int = 0


class DelayProxy:
    """``with DelayProxy(upstream_port, latency) as proxy:`` serves on ``proxy.endpoint``."""

    def __init__(self, upstream: str, latency: float) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.latency = latency
        self.counts = Counts()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.endpoint = ""

    def __enter__(self) -> DelayProxy:
        self._thread.start()
        self._ready.wait()
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    def reset(self) -> Counts:
        """The counts so far, and zero them."""
        counts, self.counts = self.counts, Counts()
        return counts

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
        )
        self.endpoint = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        turn = {"responding": True}  # the next client bytes start a new request

        async def requests() -> None:
            while data := await reader.read(65536):
                if turn["responding"]:
                    turn["responding"] = False
                    self.counts.requests += 1
                    await asyncio.sleep(self.latency)
                up_writer.write(data)
                await up_writer.drain()
            up_writer.close()

        async def responses() -> None:
            while data := await up_reader.read(65536):
                turn["responding"] = True
                self.counts.bytes_out += len(data)
                writer.write(data)
                await writer.drain()
            writer.close()

        try:
            await asyncio.gather(requests(), responses())
        except (ConnectionError, OSError):
            writer.close()
            up_writer.close()
