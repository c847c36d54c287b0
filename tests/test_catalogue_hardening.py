"""Crafted records never break the catalogue: values beyond SQLite, Arrow or the calendar are
bounded (the record is kept, invalid, with its problem), bulk loads are atomic, and one process
writes a catalogue at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from test_catalogue import RAW_A, RAW_B, RAW_C, record, sample
from test_index import DERIVED, RAW, commit, sample_sidecars

from assetlake.catalogue import Catalogue, Status, flatten_text
from assetlake.catalogue.db import INDEXES
from assetlake.catalogue.publish import ASSETS, FILES, ensure_catalogue, publish_catalogue
from assetlake.document import MAX_DEPTH
from assetlake.errors import CatalogueBusyError, LakeError, QueryError
from assetlake.index import index_lake
from assetlake.store import Store, open_store

EARLY = "0001-01-01T00:00:00+14:00"
LATE = "9999-12-31T23:59:59-14:00"


def nested(depth: int) -> list[Any]:
    document: list[Any] = ["deepest"]
    for _ in range(depth):
        document = [document]
    return document


def crafted() -> list[Any]:
    return [
        record(RAW_A, level="raw", size=1 << 70, objects=-(1 << 64), acquired=EARLY,
               contents=[{"path": "a.zarr", "format": "zarr", "size": 1 << 80, "objects": "3"}]),
        record(RAW_B, level="raw", acquired=LATE, subject_id="bad\udcff", modalities=["x\ud800"],
               metadata={"notes": "lone \udc80 surrogate"}),
        record(RAW_C, level="raw", size=True, metadata={"deep": nested(100_000)},
               contents={"not": "a list"}),
    ]  # fmt: skip


def test_flatten_text_takes_any_depth() -> None:
    assert (
        flatten_text("n", {"a": nested(100_000), "b": [1, None, True, "x"]}) == "n\ndeepest\n1\nx"
    )


def test_crafted_values_are_stored_bounded_and_invalid(tmp_path: Path, local_lake: str) -> None:
    with Catalogue(tmp_path / "c.sqlite") as cat:
        assert cat.upsert(crafted()) == 3
        early, late, deep = (cat.get(name) for name in (RAW_A, RAW_B, RAW_C))
        assert (early.size, early.objects, early.status) == (0, 0, Status.INVALID)
        assert [p["path"] for p in early.problems] == [
            "size",
            "objects",
            "contents[0].size",
            "contents[0].objects",
            "acquired",
        ]
        assert early.contents == [{"path": "a.zarr", "format": "zarr", "size": 0, "objects": 0}]
        assert "beyond 64 bits" in early.problems[0]["message"]
        assert early.acquired == EARLY
        assert late.subject_id == "bad?" and late.modalities == ["x?"]
        assert late.metadata == {"notes": "lone ? surrogate"}
        assert [p["path"] for p in late.problems] == ["acquired"]
        assert deep.metadata == {} and deep.status == Status.INVALID
        assert {p["path"] for p in deep.problems} == {"size", "contents", "metadata"}
        assert deep.contents == []
        assert {r.name for r in cat.find()} == {RAW_A, RAW_B, RAW_C}
        assert [r.name for r in cat.find(text="deepest")] == []
        assert [r.name for r in cat.find(subject="bad?", limit=1)] == [RAW_B]
        for moment in (EARLY, LATE):
            with pytest.raises(QueryError, match=r"falls outside the years 1 to 9999 in UTC"):
                cat.find(after=moment)
        stats = publish_catalogue(cat, local_lake)
    assert (stats.assets, stats.files) == (3, 1)
    files = pq.read_table(Path(local_lake) / FILES).to_pylist()
    assert files == [{"asset": RAW_A, "path": "a.zarr", "format": "zarr", "size": 0, "objects": 0}]
    assets = pq.read_table(Path(local_lake) / ASSETS).to_pylist()
    assert {row["name"]: row["size"] for row in assets} == {RAW_A: 0, RAW_B: 0, RAW_C: 0}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 990, 5000])
@pytest.mark.parametrize("field", ["metadata", "contents", "schema_versions"])
def test_a_container_nested_deeper_than_the_reader_allows_is_dropped(
    tmp_path: Path, local_lake: str, cli: Any, field: str, depth: int
) -> None:
    """At any depth past the reader's bound, not only past Python's recursion limit: stored
    empty with its problem, and get, show and publish still work."""
    value = {"deep": nested(depth)} if field != "contents" else [{"path": "x", "d": nested(depth)}]
    with Catalogue(tmp_path / "c.sqlite") as cat:
        good = record(RAW_B, level="raw", status="valid")
        assert cat.upsert([record(RAW_A, level="raw", **{field: value}), good]) == 2
        stored = cat.get(RAW_A)
        assert getattr(stored, field) in ({}, []) and stored.status == Status.INVALID
        assert [p["path"] for p in stored.problems] == [field]
        assert cat.get(RAW_B).status == Status.VALID
        assert publish_catalogue(cat, local_lake).assets == 2
    shown = cli("show", RAW_A, "--catalogue", tmp_path / "c.sqlite")
    assert shown.code == 0 and f"nests more than {MAX_DEPTH} deep" in shown.out


def test_a_reader_that_waits_out_a_long_write_is_told_to_wait_not_to_delete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    import sqlite3

    import assetlake.catalogue.db as db

    path = tmp_path / "c.sqlite"
    with Catalogue(path) as cat:
        cat.upsert(sample())
    monkeypatch.setattr(db, "_BUSY_SECONDS", 0.2)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")  # as a long write does once its cache spills
        with pytest.raises(CatalogueBusyError, match=r"is being written by another process"):
            Catalogue(path, readonly=True)
        found = cli("find", "--catalogue", path)
        assert found.code != 0 and "try again when" in found.err and "delete" not in found.err
    finally:
        writer.close()
    with Catalogue(path, readonly=True) as cat:
        assert len(cat.find()) == len(sample()), "the file is sound"


def test_find_after_the_calendar_edge_is_one_line(tmp_path: Path, cli: Any) -> None:
    with Catalogue(tmp_path / "c.sqlite") as cat:
        cat.upsert(sample())
    done = cli("find", "--catalogue", tmp_path / "c.sqlite", "--after", EARLY)
    assert done.code == 2
    assert done.out == ""
    assert done.err.count("\n") == 1
    assert f"--after '{EARLY}' falls outside the years 1 to 9999 in UTC" in done.err


def indexes(cat: Catalogue) -> set[str]:
    rows = cat.db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
    return {name for (name,) in rows}


def test_a_failed_bulk_load_keeps_every_index(tmp_path: Path) -> None:
    def failing() -> Any:
        yield from sample()[:3]
        raise RuntimeError("the crawl broke")

    with Catalogue(tmp_path / "c.sqlite") as cat:
        with pytest.raises(RuntimeError, match="the crawl broke"):
            cat.upsert(failing())
        assert indexes(cat) == set(INDEXES)
        assert cat.count() == 0
        with pytest.raises(RuntimeError), cat.writing():
            cat.upsert(sample())
            cat.set_meta("origin", "index")
            raise RuntimeError("after the load")
        assert (indexes(cat), cat.count(), cat.meta("origin")) == (set(INDEXES), 0, None)
        cat.upsert(sample())
        assert indexes(cat) == set(INDEXES)
        assert [r.name for r in cat.find(subject="222")] == [RAW_B]
        sql, params = cat.query(subject="111", limit=5)
        plan = " ".join(r[3] for r in cat.db.execute(f"EXPLAIN QUERY PLAN {sql}", params))
        assert "USING INDEX assets_subject" in plan


def test_a_failed_first_index_leaves_a_usable_catalogue(local_lake: str, tmp_path: Path) -> None:
    """The lake fails half-way through the first crawl: nothing of it is kept, every index is,
    and the next crawl fills the catalogue."""
    store = open_store(local_lake)
    commit(store, RAW, sample_sidecars(RAW))
    commit(store, DERIVED, sample_sidecars(DERIVED))
    original = type(store).get_many

    def get_many(self: Store, keys: Any, workers: int = 32) -> Any:
        for done, item in enumerate(original(self, keys, workers)):
            if done == 1:
                raise LakeError("the lake went away")
            yield item

    failing = open_store(local_lake)
    failing.__class__ = type("Failing", (type(store),), {"get_many": get_many})
    with Catalogue(tmp_path / "c.sqlite") as cat:
        with pytest.raises(LakeError, match="went away"):
            index_lake(failing, cat, workers=1)
        assert (indexes(cat), cat.count(), cat.meta("origin")) == (set(INDEXES), 0, None)
        index_lake(store, cat)
        assert [r.name for r in cat.find(derived_from=RAW)] == [DERIVED]


HOLDER = """
import sys
from assetlake.catalogue import Catalogue
from test_catalogue import sample
catalogue = Catalogue(sys.argv[1])
with catalogue.writing():
    catalogue.upsert(sample())
    print("holding", flush=True)
    sys.stdin.readline()
catalogue.close()
print("done", flush=True)
"""


def test_one_writer_at_a_time(tmp_path: Path, local_lake: str) -> None:
    """A second writer (``assetlake index``) and a fetch of the published catalogue both meet a
    writer that holds the file: the index gets one line, the fetch leaves the file alone, readers
    see none of the writer's work until it commits, then all of it."""
    steward = tmp_path / "steward.sqlite"
    with Catalogue(steward) as published:
        published.upsert(sample()[:2])
        publish_catalogue(published, local_lake)
    path = tmp_path / "c.sqlite"
    tests = Path(__file__).parent
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tests,
        env={**os.environ, "PYTHONPATH": str(tests)},
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline() == "holding\n"
        with pytest.raises(CatalogueBusyError, match=rf"\(pid {holder.pid}\)"):
            Catalogue(path)
        second = subprocess.run(
            [
                Path(sys.executable).with_name("assetlake"),
                "index",
                "--lake",
                local_lake,
                "--catalogue",
                path,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode != 0
        assert second.stderr.count("\n") == 1, second.stderr
        assert (
            f"catalogue {path} is being written by another assetlake process (pid {holder.pid}); "
            "wait for it to finish, then run again"
        ) in second.stderr
        inode = path.stat().st_ino
        with Catalogue(path, readonly=True) as reader:
            assert reader.count() == 0
        assert ensure_catalogue(local_lake, path) == path
        assert path.stat().st_ino == inode
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline() == "done\n"
        assert holder.wait(timeout=60) == 0
    finally:
        holder.kill()
        holder.wait()
    with Catalogue(path, readonly=True) as reader:
        assert reader.count() == len(sample())
        assert reader.meta("origin") is None
    assert ensure_catalogue(local_lake, path) == path
    with Catalogue(path, readonly=True) as reader:  # no writer now: the fetch replaced it
        assert (reader.count(), reader.meta("origin")) == (2, "published")
    assert json.loads((Path(local_lake) / "assetlake-catalogue" / "catalogue.json").read_text())
