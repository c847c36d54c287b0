"""Worker processes that build catalogue records while the crawling process keeps its GETs going.

Reading, validating and recording a committed asset costs about twice the CPU of its GET, so one
process crawling is bound by its one core; on two or more, :class:`Settlers` hands chunks of
``(name, bytes)`` answers to ``python -m assetlake._settler`` children and gets their records
back in order. Children are started with ``subprocess`` (never ``fork``, which would copy the
threads doing the GETs, nor ``multiprocessing``'s spawn, which re-runs the caller's main
script). Frames on the pipes are a 8-byte length and a pickle; the children are ours, and
nothing but our own pickles crosses the pipes. A child that dies loses nothing: its chunks are
settled by the caller instead.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

#: Answers a child gets at once, and chunks queued per child ahead of the caller.
CHUNK = 64
AHEAD = 4
_LENGTH = struct.Struct("<Q")
#: A chunk settled by the caller (in its turn, so results stay in order).
HERE = -1

Work = Callable[[list[Any]], list[Any]]


class Settlers:
    """``processes`` children applying ``work`` (a module-level function, found by name in the
    child) to chunks of items; :meth:`run` yields every result in the order of the items."""

    def __init__(self, processes: int, work: Work, here: Work) -> None:
        self.work = (work.__module__, work.__qualname__)
        self.here = here
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.children = [
            subprocess.Popen(
                [sys.executable, "-m", "assetlake._settler"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            for _ in range(processes)
        ]
        self.results: list[queue.SimpleQueue[list[Any] | None]] = []
        for child in self.children:
            results: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()
            assert child.stdout is not None
            threading.Thread(target=_read_all, args=(child.stdout, results), daemon=True).start()
            self.results.append(results)
        self.deaf: set[int] = set()  # children that take no more chunks
        self.dead: set[int] = set()  # children whose answers have ended

    def run(self, items: Iterable[Any]) -> Iterator[Any]:
        ahead: deque[tuple[int, list[Any]]] = deque()  # (child, or HERE, and its chunk)
        turn = 0
        try:
            for chunk in chunks(items, CHUNK):
                alive = [i for i in range(len(self.children)) if i not in self.deaf | self.dead]
                child = alive[turn % len(alive)] if alive else HERE
                turn += 1
                ahead.append((child if child == HERE or self._send(child, chunk) else HERE, chunk))
                while len(ahead) > AHEAD * max(len(alive), 1):
                    yield from self._taken(ahead)
            while ahead:
                yield from self._taken(ahead)
        finally:
            self.close()

    def _send(self, child: int, chunk: list[Any]) -> bool:
        stdin = self.children[child].stdin
        assert stdin is not None
        try:
            _write(stdin, (self.work, chunk))
        except OSError:  # the child died; what it answered before is still read, in turn
            self.deaf.add(child)
            return False
        return True

    def _taken(self, ahead: deque[tuple[int, list[Any]]]) -> list[Any]:
        child, chunk = ahead.popleft()
        if child != HERE and child not in self.dead:
            done = self.results[child].get()
            if done is not None:
                return done
            self.dead.add(child)
        return self.here(chunk)

    def close(self) -> None:
        """End every child (closing its input ends it; a stuck one is killed)."""
        for child in self.children:
            if child.stdin is not None:
                with contextlib.suppress(OSError):  # a dead child's pipe
                    child.stdin.close()
        for child in self.children:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(stream: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _read(stream: IO[bytes]) -> Any:
    """The next frame, or None at the end of the stream (or a frame cut short)."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    return pickle.loads(data) if len(data) == size else None


def _read_all(stream: IO[bytes], results: queue.SimpleQueue[list[Any] | None]) -> None:
    """Every result frame of a child into ``results``; None once it has ended."""
    try:
        while (frame := _read(stream)) is not None:
            results.put(frame)
    finally:
        results.put(None)


def _serve() -> None:
    """The child: apply the named function to each chunk until the input ends."""
    import importlib

    source, sink = sys.stdin.buffer, sys.stdout.buffer
    while (frame := _read(source)) is not None:
        (module, name), chunk = frame
        work = getattr(importlib.import_module(module), name)
        _write(sink, work(chunk))


if __name__ == "__main__":
    _serve()
