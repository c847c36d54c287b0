"""Worker threads for I/O that never hold up Ctrl-C or the end of the process.

A read can take minutes or never return (a request a server holds, a hung network file system).
``ThreadPoolExecutor`` joins its workers when the interpreter exits, so after Ctrl-C the process
would still wait for that read, and its ``with`` block waits for every running call. A
:class:`Pool`'s workers are daemon threads, and leaving it (its ``with`` block, or
:meth:`Pool.shutdown`) cancels what has not started and waits for nothing: a call still running
ends on its own, or with the process. Its futures are ``concurrent.futures`` ones, so ``wait``
and ``as_completed`` work as with an executor.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")
_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class Pool:
    """Up to ``workers`` daemon threads, started as calls come and no idle one can take them."""

    def __init__(self, workers: int, name: str = "assetlake-io") -> None:
        self.workers = max(1, workers)
        self.name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, call: Callable[..., T], /, *args: Any) -> Future[T]:
        future: Future[T] = Future()
        self._jobs.put((future, call, args))
        if not self._idle.acquire(blocking=False):
            with self._lock:
                if len(self._threads) < self.workers:
                    thread = threading.Thread(
                        target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
                    )
                    thread.start()
                    self._threads.append(thread)
        return future

    def map(self, call: Callable[[Any], T], items: Iterable[Any]) -> Iterator[T]:
        """``call`` of every item, all submitted at once, the results in the items' order."""
        futures = [self.submit(call, item) for item in items]
        return (future.result() for future in futures)

    def shutdown(self) -> None:
        """Cancel the calls that have not started; let the workers end; wait for nothing."""
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        with self._lock:
            for _ in self._threads:
                self._jobs.put(None)

    def __enter__(self) -> Pool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, call, args = job
            del job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call(*args))
                except BaseException as error:  # handed to whoever waits on the future
                    future.set_exception(error)
            del future
            self._idle.release()
