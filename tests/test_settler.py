"""Records built in worker processes: the same results in the same order as building them here,
and a worker that dies loses nothing."""

from __future__ import annotations

import os
from typing import Any

from assetlake._settler import CHUNK, Settlers


def doubled(chunk: list[int]) -> list[Any]:
    return [(os.getpid(), 2 * item) for item in chunk]


def dies_at_500(chunk: list[int]) -> list[Any]:
    if 500 in chunk:
        os._exit(3)  # a worker killed mid-crawl (out of memory, a signal)
    return doubled(chunk)


def here(chunk: list[int]) -> list[Any]:
    return [("here", 2 * item) for item in chunk]


def test_workers_return_every_result_in_order() -> None:
    settlers = Settlers(2, doubled, here)
    results = list(settlers.run(range(2_000)))
    assert [value for _, value in results] == [2 * i for i in range(2_000)]
    workers = {where for where, _ in results}
    assert len(workers) == 2 and os.getpid() not in workers  # both children did the work
    assert all(child.returncode == 0 for child in settlers.children)  # and ended


def test_a_dead_worker_loses_nothing() -> None:
    settlers = Settlers(1, dies_at_500, here)
    results = list(settlers.run(range(2_000)))
    assert [value for _, value in results] == [2 * i for i in range(2_000)]
    first_here = next(i for i, (where, _) in enumerate(results) if where == "here")
    assert first_here == 500 // CHUNK * CHUNK  # its chunk and all after were settled here
    assert settlers.children[0].returncode == 3
