"""The lake going away in the middle of an agent's upload, and coming back (moto over HTTP)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from faults import FaultProxy, nth_data_put
from watchkit import assert_committed_once, drop_folder

from assetlake.watch.agent import Agent, Config, Event
from assetlake.watch.journal import default_journal


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "cache"))


def test_lake_gone_mid_upload_and_back_commits_once_intact(
    s3_lake: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """The proxy holds the session's 4th data PUT, so the lake goes away with the upload surely
    under way; while it is away every request is refused, and once it heals the next pass
    resumes the same upload to one intact commit."""
    drop, staging = tmp_path / "drop", tmp_path / "staging"
    drop.mkdir()
    staging.mkdir()
    name = drop_folder(drop, staging)
    held = proxy.add(nth_data_put(name, 4), "hold")
    events: list[Event] = []
    agent = Agent(Config(drop, s3_lake, settle=0, workers=1), events.append)
    waits: list[float] = []
    first = threading.Thread(target=lambda: waits.append(agent.step(time.time())))
    try:
        first.start()
        assert held.arrived.wait(60), "the upload never reached its 4th object"
        away = proxy.add(lambda request: True, "denied", times=1_000_000)
        held.release.set()
        first.join(60)
        assert not first.is_alive()
        assert away.hits > 0  # the lake refused what came after the held request
        assert events[-1].kind == "waiting" and "for the lake" in events[-1].detail
        with sqlite3.connect(default_journal(drop)) as db:
            assert db.execute("SELECT name, state FROM sessions").fetchall() == [(name, "queued")]
        assert (drop / name).is_dir()
        proxy.clear()  # the lake is back
        agent.step(time.time() + waits[0] + 1)
    finally:
        proxy.clear()
        first.join(60)
        agent.close()
    kinds = [e.kind for e in events if e.name == name]
    assert kinds.count("committed") == 1 and kinds.count("uploading") == 2
    assert kinds[-2:] == ["verified", "done"]
    assert (drop / "done" / name).is_dir()
    assert_committed_once(s3_lake, [name])
