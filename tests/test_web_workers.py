"""``assetlake serve --workers N``: N processes serve from the one socket, one process refreshes
for all of them, and every worker shows that refresh's outcome (notice, jobs, new assets)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from factories import make_raw_asset
from starlette.testclient import TestClient
from weblake import build_lake, put_jobs

from assetlake.upload import upload_folder
from assetlake.web.app import create_app
from assetlake.web.site import Refreshed, Site

ASSETLAKE = str(Path(sys.executable).parent / "assetlake")


def test_a_worker_site_shows_what_the_refreshing_site_shared(
    local_lake: str, tmp_path: Path
) -> None:
    web_lake = build_lake(local_lake, tmp_path)
    put_jobs(web_lake)
    refresher = web_lake.site()
    refresher.shares = tmp_path / "refreshed.json"
    worker = Site(web_lake.catalogue, lake=local_lake, follows=refresher.shares)
    assert worker.refreshed == Refreshed()  # no refresh has ended yet
    refresher.refresh()
    assert worker.refreshed == refresher.refreshed and worker.refreshed.ended
    assert worker.notice is None and worker.jobs is not None and worker.jobs.failed == 1
    shutil.move(local_lake, tmp_path / "moved")
    refresher.refresh()
    assert worker.notice is not None and "cannot be reached" in worker.notice
    assert worker.refreshed == refresher.refreshed  # the jobs and time of the last good one
    with TestClient(create_app(worker)) as client:  # a worker's lifespan never refreshes
        page = client.get("/?subject=123456").text
        overview = client.get("/api/overview").json()
    assert 'id="notice"' in page and "showing the catalogue as of" in page
    assert overview["jobs"]["failed"] == 1
    assert worker.refreshed == refresher.refreshed


def test_serve_with_workers_serves_from_each_and_refreshes_for_all(
    cli, local_lake: str, tmp_path: Path
) -> None:
    first = make_raw_asset(tmp_path / "staging", subject_id="4242")
    upload_folder(first, local_lake)
    env = {**os.environ, "ASSETLAKE_CACHE": str(tmp_path / "cache")}
    command = [ASSETLAKE, "serve", "--lake", local_lake, "--port", "0", "--workers", "2",
               "--refresh", "0.2"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    try:
        url = process.stdout.readline().split(" at ")[1].split()[0]
        assert process.stdout.readline() == "assetlake serve: catalogue up to date\n"
        workers = serving_workers(process.pid, int(url.rsplit(":", 1)[1].strip("/")))
        assert len(workers) == 2
        for pid in workers:
            with only(pid, workers):
                assert [r["name"] for r in get(url + "api/assets")] == [first.name]
        later = make_raw_asset(tmp_path / "later", subject_id="4343")
        upload_folder(later, local_lake)
        assert wait_for(lambda: get(url + "api/assets?subject=4343")), "the parent's refresh"
        for pid in workers:
            with only(pid, workers):
                assert [r["name"] for r in get(url + "api/assets?subject=4343")] == [later.name]
        (catalogue,) = (tmp_path / "cache").glob("*.sqlite")
        found = cli("find", "--catalogue", catalogue, "--format", "json", "--sort", "name")
        with urllib.request.urlopen(url + "api/assets?sort=name") as response:
            assert response.read().decode() == found.out
    finally:
        process.terminate()
        process.wait(30)
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers), "workers outlived serve"


def get(url: str) -> list[dict]:
    with urllib.request.urlopen(url) as response:
        return json.load(response)


def wait_for(read, seconds: float = 30):  # type: ignore[no-untyped-def]
    """``read()`` once it is not empty; the deadline only guards against a refresh that never
    comes."""
    deadline = time.monotonic() + seconds
    while not (value := read()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def serving_workers(parent: int, port: int, seconds: float = 60) -> list[int]:
    """The children of ``parent`` that hold its listening socket, once they all have started."""
    deadline = time.monotonic() + seconds
    while True:
        listening = _listening_inode(port)
        found = [pid for pid in _children(parent) if listening in _socket_inodes(pid)]
        if len(found) >= 2 or time.monotonic() > deadline:
            return sorted(found)
        time.sleep(0.05)


@contextmanager
def only(serving: int, workers: list[int]) -> Iterator[None]:
    """Every worker but ``serving`` stopped (SIGSTOP): a new connection can only be its."""
    others = [pid for pid in workers if pid != serving]
    for pid in others:
        os.kill(pid, signal.SIGSTOP)
    try:
        for pid in others:
            while _state(pid) != "T":
                time.sleep(0.001)
        yield
    finally:
        for pid in others:
            os.kill(pid, signal.SIGCONT)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _listening_inode(port: int) -> int | None:
    for row in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = row.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
            return int(fields[9])
    return None


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes
