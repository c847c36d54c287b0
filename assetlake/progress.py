"""The one progress record: how far a transfer of one asset is (upload and download alike).

The library reports a :class:`Progress` to a callback after each block and each file; only the
CLI draws it (``assetlake.cli.progress.ProgressBar``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Progress:
    """Bytes and files of one asset transferred so far, out of those planned."""

    name: str
    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int


ProgressReport = Callable[[Progress], None]


class Tracker:
    """Counts what transfer threads have moved and reports it, one report at a time."""

    def __init__(self, start: Progress, report: ProgressReport | None) -> None:
        self._report = report
        self._state = start
        self._lock = threading.Lock()

    def bytes(self, count: int) -> None:
        self._advance(count, 0)

    def file(self) -> None:
        self._advance(0, 1)

    def _advance(self, count: int, files: int) -> None:
        if self._report is not None:
            with self._lock:
                state = self._state
                self._state = replace(
                    state,
                    bytes_done=state.bytes_done + count,
                    files_done=state.files_done + files,
                )
                self._report(self._state)
