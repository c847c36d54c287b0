"""``--max-rate``: one byte budget shared by every upload thread of the agent.

The store reports each block it sent to the uploader's progress callback; the agent's callback
waits there until the block's share of the budget has passed. Idle time earns no credit, so a
rig never bursts past the cap after a quiet hour.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from assetlake.store import ProgressCallback, Store


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


def throttle(store: Store, limit: RateLimit) -> Store:
    """The same store, whose file uploads spend ``limit`` (the uploader stays the only writer)."""
    send = store.put_file

    def put_file(key: str, path: object, *, progress: ProgressCallback | None = None) -> str:
        def sent(count: int) -> None:
            limit.spend(count)
            if progress is not None:
                progress(count)

        return send(key, path, progress=sent)  # type: ignore[arg-type]

    store.put_file = put_file  # type: ignore[method-assign]
    return store
