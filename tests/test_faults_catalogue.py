"""Index, publish and fetch through the fault-injecting proxy (tests/faults.py): dropped,
reset and throttled requests are retried, and the catalogue is the one a fault-free run builds."""

from __future__ import annotations

import json
from pathlib import Path

from faults import FaultProxy
from test_index import DERIVED, RAW, V1
from test_publish import indexed_lake

from assetlake.asset import COMMIT
from assetlake.catalogue import Catalogue
from assetlake.catalogue.publish import ASSETS, MANIFEST, publish_catalogue
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
