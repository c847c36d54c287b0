"""Rare collections during bulk transfers: the threshold is raised while any use is open, also
across threads, and restored exactly when the last one ends; cycles are still collected."""

from __future__ import annotations

import gc
import threading

from assetlake.collector import THRESHOLD, rare_collections


def test_threshold_raised_while_any_use_runs_and_restored_after_the_last() -> None:
    before = gc.get_threshold()
    entered, leave = threading.Event(), threading.Event()

    def other() -> None:
        with rare_collections():
            entered.set()
            leave.wait(30)

    thread = threading.Thread(target=other)
    with rare_collections():
        assert gc.get_threshold()[0] == max(THRESHOLD, before[0])
        thread.start()
        assert entered.wait(30)
    assert gc.get_threshold()[0] == max(THRESHOLD, before[0])  # the other thread's use is open
    leave.set()
    thread.join(30)
    assert gc.get_threshold() == before


def test_cycles_are_still_collected_and_an_error_restores_the_threshold() -> None:
    before = gc.get_threshold()
    collected = threading.Event()

    class Node:
        def __del__(self) -> None:
            collected.set()

    try:
        with rare_collections():
            node = Node()
            node.self = node  # type: ignore[attr-defined]
            del node
            kept = [[] for _ in range(THRESHOLD * 2)]  # live container objects: a collection
            assert collected.is_set()
            del kept
            raise RuntimeError("a transfer failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
