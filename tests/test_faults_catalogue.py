"""Index, publish and fetch through the fault-injecting proxy (tests/faults.py): dropped,
reset and throttled requests are retried, and the catalogue is the one a fault-free run builds;
a crawl held on a read that never returns still ends on Ctrl-C."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from faults import FaultProxy
from test_index import DERIVED, RAW, V1, commit, sample_sidecars
from test_publish import indexed_lake

from assetlake.asset import COMMIT
from assetlake.catalogue import Catalogue
from assetlake.catalogue.publish import ASSETS, MANIFEST, publish_catalogue
from assetlake.cli.cmd_index import INTERRUPTED
from assetlake.index import index_lake
from assetlake.store import open_store


def get(suffix: str) -> object:
    return lambda r: r.method == "GET" and r.path.endswith(suffix)


def test_index_and_publish_survive_faults(s3_lake: str, proxy: FaultProxy, tmp_path: Path) -> None:
    store = open_store(s3_lake)
    with indexed_lake(store, tmp_path / "clean.sqlite") as clean:
        expected = {r.name: (r.status, r.size, r.objects) for r in clean.records()}
    assert set(expected) == {RAW, DERIVED, V1}
    rules = [
        proxy.add(lambda r: r.method == "GET" and "delimiter=%2F" in r.query, "503"),
        proxy.add(get(f"{RAW}/{COMMIT}"), "reset"),
        proxy.add(get(f"{DERIVED}/{COMMIT}"), "drop"),
        proxy.add(get(f"{V1}/subject.json"), "slowdown"),
        proxy.add(lambda r: r.method == "PUT" and r.path.endswith(ASSETS), "drop"),
        proxy.add(lambda r: r.method == "PUT" and r.path.endswith(MANIFEST), "500"),
    ]
    with Catalogue(tmp_path / "faulty.sqlite") as catalogue:
        index_lake(store, catalogue)
        assert {r.name: (r.status, r.size, r.objects) for r in catalogue.records()} == expected
        stats = publish_catalogue(catalogue, store)
    assert [rule.hits for rule in rules] == [1] * len(rules), [
        (rule.action, rule.hits) for rule in rules
    ]
    published = json.loads(store.get(MANIFEST) or b"{}")
    assert stats.assets == 3
    assert (published["assets"], published["files"]) == (stats.assets, stats.files)


# -- Ctrl-C during a crawl held on a read ----------------------------------------------------
NEW = "ecephys_424242_2024-04-01_10-00-00"
#: ``assetlake ARGS...`` with the local store's read of NEW's commit document held forever (a
#: hung network file system): it says ``held`` on stdout, then never returns.
HELD_LOCAL_READ = f"""
import sys, threading
from assetlake.store._local import LocalStore
read = LocalStore.get
def held(self, key):
    if key == "{NEW}/{COMMIT}":
        print("held", flush=True)
        threading.Event().wait()
    return read(self, key)
LocalStore.get = held
from assetlake.cli import main
main(sys.argv[1:])
"""


def test_ctrl_c_ends_an_index_held_on_a_read_with_one_line(
    lake: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """SIGINT to an ``index`` whose read of one asset never returns: it ends at once (the read
    is still held) with one line and exit 130, and the catalogue is as before and usable."""
    store = open_store(lake)
    path = tmp_path / "c.sqlite"
    indexed_lake(store, path).close()
    commit(store, NEW, sample_sidecars(NEW))
    command = [sys.executable, "-c", HELD_LOCAL_READ]
    rule = None
    if lake.startswith("s3://"):
        proxy: FaultProxy = request.getfixturevalue("proxy")
        rule = proxy.add(get(f"{NEW}/{COMMIT}"), "hold")
        command = [sys.executable, "-c", "from assetlake.cli import main; main()"]
    index = subprocess.Popen(
        [*command, "index", "--lake", lake, "--catalogue", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        if rule is not None:
            assert rule.arrived.wait(300), "the held request never came"  # a guard, not a timing
        else:
            ready, _, _ = select.select([index.stdout], [], [], 300)
            assert ready and index.stdout.readline() == "held\n"  # type: ignore[union-attr]
        index.send_signal(signal.SIGINT)
        out, err = index.communicate(timeout=120)  # the read stays held: any end is prompt
    finally:
        if index.poll() is None:
            os.killpg(index.pid, signal.SIGKILL)
            index.wait()
        if rule is not None:
            rule.release.set()
    assert (index.returncode, out) == (130, ""), err
    assert err == f"assetlake: interrupted; {INTERRUPTED}\n"
    with Catalogue(path) as catalogue:
        assert {r.name for r in catalogue.find()} == {RAW, DERIVED, V1}
        assert index_lake(store, catalogue).new == 1
        assert {r.name for r in catalogue.find()} == {RAW, DERIVED, V1, NEW}
