"""Bytes on their way to the lake: ``--max-rate``'s budget, and the agent's progress lines.

The store reports each block it sent to the uploader's progress callback; :func:`metered` hands
those counts to the agent too, which waits there until the block's share of the budget has passed
and, now and then, reports progress. Idle time earns no credit, so a rig never bursts past the cap
after a quiet hour.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from assetlake.store import ProgressCallback, Store

if TYPE_CHECKING:
    from assetlake.checksums import FileChecksums
    from assetlake.errors import LakeError


class RateLimit:
    """At most ``rate`` bytes a second on average, across threads."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self._clock, self._sleep = clock, sleep
        self._free_at = 0.0
        self._lock = threading.Lock()

    def spend(self, count: int) -> None:
        """Account for ``count`` bytes just sent; return once the budget allows more."""
        with self._lock:
            now = self._clock()
            start = max(self._free_at, now)
            self._free_at = start + count / self.rate
            delay = start - now
        if delay > 0:
            self._sleep(delay)


def metered(store: Store, on_bytes: ProgressCallback) -> Store:
    """The same store, whose file uploads also report to ``on_bytes`` (the uploader stays the
    only writer, and keeps its own progress callback)."""
    send = store.put_files

    def put_files(
        files: Iterable[tuple[str, Path]],
        workers: int | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> Iterator[tuple[str, FileChecksums | LakeError]]:
        def sent(count: int) -> None:
            on_bytes(count)
            if progress is not None:
                progress(count)

        return send(files, workers, progress=sent)

    store.put_files = put_files  # type: ignore[method-assign]
    return store
