"""The agent as rigs run it: a separate process, killed with SIGKILL or stopped with SIGTERM.

Every test waits for a line of the agent's log (or an object in the lake), never a sleep, and
ends every process it starts whatever happens.
"""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from watchkit import assert_committed_once, drop_folder

from assetlake.store import open_store
from assetlake.watch.journal import default_journal

#: Longest a test waits for a line or an object before it fails (never a pause).
DEADLINE = 120.0
BIG = 48 << 20


class Running:
    """An ``assetlake watch`` process whose log lines arrive on a queue."""

    def __init__(self, *args: object) -> None:
        command = [sys.executable, "-c", "from assetlake.cli import main; main()", "watch"]
        self.process = subprocess.Popen(
            [*command, *(str(a) for a in args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, text: str) -> str:
        """The first log line containing ``text``; fails if the agent exits or time runs out."""
        end = time.monotonic() + DEADLINE
        while True:
            line = self.lines.get(timeout=max(end - time.monotonic(), 0.01))
            assert line is not None, f"agent exited before {text!r}: {self.log}"
            self.log.append(line)
            if text in line:
                return line

    def finish(self) -> int:
        """Wait for the process to exit by itself; its exit code."""
        code = self.process.wait(DEADLINE)
        while (line := self.lines.get(timeout=DEADLINE)) is not None:
            self.log.append(line)
        return code

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(DEADLINE)


@pytest.fixture
def agents() -> Iterator[list[Running]]:
    """Starts agents through ``agents.append``-style calls; kills any still running at the end."""
    started: list[Running] = []
    yield started
    for agent in started:
        agent.end()


def start(agents: list[Running], *args: object) -> Running:
    agent = Running(*args)
    agents.append(agent)
    return agent


def state(drop: Path, name: str) -> str:
    with sqlite3.connect(default_journal(drop)) as db:
        (row,) = db.execute("SELECT state FROM sessions WHERE name = ?", (name,))
    return str(row[0])


def wait_for_object(lake: str, key: str) -> None:
    store = open_store(lake)
    end = time.monotonic() + DEADLINE
    while store.head(key) is None:
        assert time.monotonic() < end, f"{key} never appeared in {lake}"
        time.sleep(0.01)  # polling the lake for an event, not waiting for a duration


pytestmark = pytest.mark.usefixtures("own_cache")


def test_agent_killed_mid_upload_resumes_without_duplicating(
    agents: list[Running], s3_lake: str, rig: tuple[Path, Path]
) -> None:
    drop, staging = rig
    name = drop_folder(drop, staging, big=BIG)
    small = drop_folder(drop, staging, minutes=5)
    args = (drop, "--lake", s3_lake, "--settle", "0")
    first = start(agents, *args)
    first.wait_for(f"uploading {name}")
    wait_for_object(s3_lake, f"{name}/.assetlake-upload.json")
    first.process.send_signal(signal.SIGKILL)
    assert first.finish() == -signal.SIGKILL
    assert state(drop, name) == "uploading"
    assert open_store(s3_lake).head(f"{name}/metadata.nd.json") is None
    again = start(agents, *args, "--once")
    assert again.finish() == 0, again.log
    assert any(f"resuming  {name}" in line for line in again.log), again.log
    assert_committed_once(s3_lake, [name, small])
    assert (state(drop, name), state(drop, small)) == ("verified", "verified")
    assert sorted(p.name for p in (drop / "done").iterdir()) == sorted([name, small])


def test_sigterm_stops_cleanly_and_the_upload_resumes_on_the_next_start(
    agents: list[Running], s3_lake: str, rig: tuple[Path, Path]
) -> None:
    drop, staging = rig
    args = (drop, "--lake", s3_lake, "--settle", "0")
    idle = start(agents, *args)
    idle.wait_for("watching")
    idle.process.send_signal(signal.SIGTERM)
    assert idle.finish() == 0
    assert idle.log[-1] == "stopped: an interrupted upload resumes on the next start"

    name = drop_folder(drop, staging, big=BIG)
    busy = start(agents, *args)
    busy.wait_for(f"uploading {name}")
    wait_for_object(s3_lake, f"{name}/.assetlake-upload.json")
    busy.process.send_signal(signal.SIGTERM)
    assert busy.finish() == 0, busy.log
    assert busy.log[-1] == "stopped: an interrupted upload resumes on the next start"
    assert state(drop, name) == "uploading" and (drop / name).is_dir()
    again = start(agents, *args, "--once")
    assert again.finish() == 0, again.log
    assert_committed_once(s3_lake, [name])
    assert state(drop, name) == "verified"


def test_kill_loop_loses_and_duplicates_nothing(
    agents: list[Running], s3_lake: str, rig: tuple[Path, Path], tmp_path: Path
) -> None:
    """20 ``kill -9`` at random points of the agent's work, new sessions arriving meanwhile."""
    import random

    from watchkit import aind_manifest

    drop, staging = rig
    chance = random.Random(17)
    names: list[str] = []
    args = (drop, "--lake", s3_lake, "--settle", "0")
    for kill in range(20):
        pending = [n for n in names if not (drop / "done" / n).exists()]
        pending = [n for n in pending if not (drop / "done" / f"{n}.yml").exists()]
        while len(pending) < 2:
            minutes = len(names) * 2
            if len(names) % 3 == 2:
                name = aind_manifest(drop, tmp_path / "data", minutes=minutes)
            else:
                name = drop_folder(drop, staging, minutes=minutes, big=2 << 20)
            names.append(name)
            pending.append(name)
        agent = start(agents, *args)
        agent.wait_for("watching")
        for _ in range(chance.randrange(0, 7)):  # a random point among the events that follow
            agent.wait_for("")
        agent.process.send_signal(signal.SIGKILL)
        assert agent.finish() == -signal.SIGKILL, f"kill {kill}"
    last = start(agents, *args, "--once")
    assert last.finish() == 0, last.log
    assert_committed_once(s3_lake, names)
    for name in names:
        assert state(drop, name) == "verified"
    finished = sorted(p.name.removesuffix(".yml") for p in (drop / "done").iterdir())
    assert finished == sorted(names)
    assert not (drop / "failed").exists()
