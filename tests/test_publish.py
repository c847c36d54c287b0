"""The published catalogue: Parquet in the lake, read by DuckDB and pandas, fetched by ``find``."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_index import DERIVED, RAW, V1, V1_SIDECARS, commit, put_files, sample_sidecars

from assetlake.catalogue import (
    SCHEMA,
    VERSION,
    Catalogue,
    Query,
    Record,
    default_catalogue_path,
    publish,
)
from assetlake.catalogue.db import writer_lock
from assetlake.catalogue.publish import (
    ASSETS,
    DOCUMENTS,
    FILES,
    MANIFEST,
    PREFIX,
    _parquet,
    _table,
    ensure_catalogue,
    pending_fetch,
    prefilter,
    publish_catalogue,
)
from assetlake.errors import CatalogueError, LakeError
from assetlake.index import index_lake
from assetlake.store import RESERVED_PREFIX, Store, open_store


def indexed_lake(store: Store, path: Path) -> Catalogue:
    commit(
        store,
        RAW,
        sample_sidecars(RAW),
        {"ecephys.zarr/.zarray": b"{}", "ecephys.zarr/0.0": b"x" * 64},
    )
    commit(store, DERIVED, sample_sidecars(DERIVED))
    put_files(store, V1, {f: json.dumps(d).encode() for f, d in V1_SIDECARS.items()})
    catalogue = Catalogue(path)
    index_lake(store, catalogue)
    return catalogue


def test_publish_writes_parquet_then_manifest(lake: str, tmp_path: Path) -> None:
    store = open_store(lake)
    with indexed_lake(store, tmp_path / "c.sqlite") as catalogue:
        puts: list[str] = []
        original = type(store).put

        def put(self: Store, key: str, data: bytes, *, overwrite: bool = False) -> None:
            puts.append(key)
            original(self, key, data, overwrite=overwrite)

        store.__class__ = type("Recording", (type(store),), {"put": put})
        stats = publish_catalogue(catalogue, store)
        records = {r.name: r for r in catalogue.records()}

        one = [f"{PREFIX}one/sessions.pqt", f"{PREFIX}one/datasets.pqt"]
        assert puts == [ASSETS, DOCUMENTS, FILES, *one, MANIFEST], "catalogue.json is written last"
        assert PREFIX == RESERVED_PREFIX
        files_count = sum(len(r.contents) for r in records.values())
        assert (stats.assets, stats.files) == (3, files_count)
        assert stats.line() == f"published 3 assets ({files_count} files) to {store.url}/{PREFIX}"
        manifest = json.loads(store.get(MANIFEST))
        assert manifest["format_version"] == "2" and manifest["lake"] == store.url
        assert (manifest["assets"], manifest["files"]) == (3, files_count)
        assert manifest["status"] == {"valid": 2, "unverified": 1}

        assets = pq.read_table(io.BytesIO(store.get(ASSETS))).to_pandas()
        hot = [column for column, _ in SCHEMA.parquet_columns() if column != SCHEMA.document]
        assert list(assets.columns) == hot
        documents = pq.read_table(io.BytesIO(store.get(DOCUMENTS))).to_pandas()
        assert list(documents.name) == list(assets.name)
        assert json.loads(documents.set_index("name").loc[V1, "metadata"]) == records[V1].metadata
        row = assets.set_index("name").loc[V1]
        assert list(row["investigators"]) == ["Ada Lovelace"] and row["status"] == "unverified"
        assert json.loads(row["problems"]) == records[V1].problems
        assert json.loads(row["schema_versions"]) == records[V1].schema_versions
        assert int(row["size"]) == records[V1].size

        # Overwriting is allowed under the reserved prefix only, so publishing again works; an
        # indexed catalogue is never refreshed from the lake, so it records no fingerprint.
        publish_catalogue(catalogue, store)
        assert catalogue.meta("published_etag") is None


def test_published_assets_are_sorted_by_subject_in_row_groups(
    local_lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row groups cover disjoint, ascending ranges of subjects (then times), with statistics, so
    a reader over S3 skips every row group a subject filter cannot match."""
    store = open_store(local_lake)
    with indexed_lake(store, tmp_path / "c.sqlite") as catalogue:
        records = list(catalogue.records())
        monkeypatch.setattr(publish, "ROW_GROUP", 1)
        publish_catalogue(catalogue, store)
    footer = pq.ParquetFile(io.BytesIO(store.get(ASSETS))).metadata
    assert footer.num_row_groups == len(records) == 3
    subject = footer.schema.names.index("subject_id")
    acquired = footer.schema.names.index("acquired")
    ranges = []
    for group in range(footer.num_row_groups):
        columns = footer.row_group(group)
        by_subject, by_time = (
            columns.column(subject).statistics,
            columns.column(acquired).statistics,
        )
        assert by_subject.has_min_max and by_time.has_min_max
        ranges.append((by_subject.min, by_time.min))
    expected = sorted((r.subject_id, r.acquired) for r in records)
    assert ranges == expected
    manifest = json.loads(store.get(MANIFEST))
    assert (manifest["sorted_by"], manifest["row_group"]) == (["subject_id", "acquired", "name"], 1)


def test_documents_out_of_order_are_refused(local_lake: str, tmp_path: Path) -> None:
    store = open_store(local_lake)
    with indexed_lake(store, tmp_path / "c.sqlite") as catalogue:
        publish_catalogue(catalogue, store)
    documents = pq.read_table(io.BytesIO(store.get(DOCUMENTS)))
    store.put(DOCUMENTS, _parquet(documents.take([2, 1, 0])), overwrite=True)
    with pytest.raises(CatalogueError, match=r"assets\.parquet is unreadable .*same order"):
        ensure_catalogue(local_lake, tmp_path / "cache" / "c.sqlite")
    assert not (tmp_path / "cache").exists()


def test_duckdb_reads_the_published_files(local_lake: str, tmp_path: Path) -> None:
    store = open_store(local_lake)
    with indexed_lake(store, tmp_path / "c.sqlite") as catalogue:
        publish_catalogue(catalogue, store)
        sizes = {r.name: r.size for r in catalogue.records()}
    root = Path(local_lake)
    assets = duckdb.sql(
        f"SELECT name, status, modalities FROM read_parquet('{root / ASSETS}') ORDER BY name"
    ).fetchall()
    assert assets == [
        (RAW, "valid", ["ecephys"]),
        (DERIVED, "valid", ["ecephys"]),
        (V1, "unverified", ["ecephys"]),
    ]
    totals = duckdb.sql(
        f"SELECT asset, sum(size)::BIGINT FROM read_parquet('{root / FILES}') GROUP BY asset"
    ).fetchall()
    assert dict(totals) == sizes
    zarr = duckdb.sql(
        f"SELECT format, size, objects FROM read_parquet('{root / FILES}') "
        f"WHERE asset = '{RAW}' AND path = 'ecephys.zarr'"
    ).fetchall()
    assert zarr == [("zarr", 66, 2)]


def test_find_on_a_clean_machine_fetches_once(
    lake: str, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(lake)
    commit(store, RAW, sample_sidecars(RAW))
    steward = tmp_path / "steward.sqlite"
    published = cli("index", "--lake", lake, "--catalogue", steward, "--publish")
    assert published.code == 0, published.err
    assert published.out.splitlines()[1] == f"published 1 assets (7 files) to {store.url}/{PREFIX}"

    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "clean-machine"))
    local = default_catalogue_path(lake)
    assert not local.exists()
    first = cli("find", "--lake", lake, "--format", "names")
    assert (first.code, first.out, first.err) == (0, f"{RAW}\n", "")
    with Catalogue(local, readonly=True) as fetched:
        assert fetched.meta("origin") == "published"
    fetched_at = (local.stat().st_ino, local.stat().st_mtime_ns)

    second = cli("find", "--lake", lake, "--format", "names")
    assert second.out == f"{RAW}\n"
    assert (local.stat().st_ino, local.stat().st_mtime_ns) == fetched_at

    commit(store, DERIVED, sample_sidecars(DERIVED))
    assert cli("index", "--lake", lake, "--catalogue", steward, "--publish").code == 0
    third = cli("find", "--lake", lake, "--format", "names", "--sort", "name")
    assert third.out == f"{RAW}\n{DERIVED}\n"
    assert (local.stat().st_ino, local.stat().st_mtime_ns) != fetched_at


def test_no_published_catalogue_is_one_line(
    lake: str, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "cache"))
    result = cli("find", "--lake", lake)
    assert result.code == 1 and result.out == ""
    assert result.err == (
        f"assetlake: error: no catalogue for lake {lake}: run `assetlake index --lake {lake}`, "
        "or ask its steward to run `assetlake index --publish`\n"
    )
    assert not default_catalogue_path(lake).exists()


def test_unreadable_published_catalogue_is_an_error(lake: str, tmp_path: Path) -> None:
    store = open_store(lake)
    store.put(MANIFEST, json.dumps({"format_version": "99"}).encode())
    with pytest.raises(CatalogueError, match="has format '99', this assetlake reads '1' and '2'"):
        ensure_catalogue(lake, tmp_path / "cache" / "c.sqlite")
    store.put(MANIFEST, json.dumps({"format_version": "1"}).encode(), overwrite=True)
    with pytest.raises(CatalogueError, match=r"has no assetlake-catalogue/assets\.parquet"):
        ensure_catalogue(lake, tmp_path / "cache" / "c.sqlite")
    store.put(ASSETS, b"not parquet")
    with pytest.raises(CatalogueError, match=r"assets\.parquet is unreadable"):
        ensure_catalogue(lake, tmp_path / "cache" / "c.sqlite")
    assert not (tmp_path / "cache").exists()


def test_indexed_catalogue_is_used_without_requests_or_heavy_imports(
    local_lake: str, tmp_path: Path
) -> None:
    store = open_store(local_lake)
    path = tmp_path / "c.sqlite"
    indexed_lake(store, path).close()
    assert ensure_catalogue("s3://no-such-bucket-anywhere", path) == path
    script = (
        "import sys; from pathlib import Path; from assetlake.catalogue.publish import ensure_catalogue; "
        f"ensure_catalogue('s3://no-such-bucket', Path({str(path)!r})); "
        "print(sorted(m for m in ('boto3', 'pyarrow', 'pydantic') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout == "[]\n"


def test_local_copy_kept_when_the_published_one_disappears(local_lake: str, tmp_path: Path) -> None:
    store = open_store(local_lake)
    with indexed_lake(store, tmp_path / "steward.sqlite") as catalogue:
        publish_catalogue(catalogue, store)
    path = tmp_path / "fetched.sqlite"
    assert ensure_catalogue(local_lake, path) == path
    (Path(local_lake) / MANIFEST).unlink()
    assert ensure_catalogue(local_lake, path) == path
    with Catalogue(path, readonly=True) as fetched:
        assert fetched.count() == 3


def test_fetched_copy_is_used_when_the_lake_is_gone(
    lake: str, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(lake)
    with indexed_lake(store, tmp_path / "steward.sqlite") as catalogue:
        publish_catalogue(catalogue, store)
    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "cache"))
    path = default_catalogue_path(lake)
    assert ensure_catalogue(lake, path) == path
    fetched_at = path.stat().st_mtime_ns
    if lake.startswith("s3://"):
        endpoint = os.environ["AWS_ENDPOINT_URL"]
        request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request).close()
        with pytest.raises(LakeError, match="does not exist"):
            open_store(lake).check()
    else:
        shutil.rmtree(lake)
    assert ensure_catalogue(lake, path) == path
    assert path.stat().st_mtime_ns == fetched_at
    done = cli("find", "--lake", lake, "--format", "names", "--sort", "name")
    assert (done.code, done.out, done.err) == (0, f"{RAW}\n{DERIVED}\n{V1}\n", "")
    if lake.startswith("s3://"):
        # Without a fetched copy, the lake's error is the answer.
        with pytest.raises(LakeError, match="does not exist"):
            ensure_catalogue(lake, tmp_path / "never-fetched.sqlite")


def test_published_rows_without_json_columns_read_as_empty(
    local_lake: str, tmp_path: Path, cli: Any
) -> None:
    store = open_store(local_lake)
    columns = [
        (c, k)
        for c, k in SCHEMA.parquet_columns()
        if c not in ("contents", "schema_versions", "objects")
    ]
    row = {"name": RAW, "url": f"{store.url}/{RAW}", "level": "raw", "status": "valid",
           "size": None, "problems": None, "metadata": None}  # fmt: skip
    store.put(ASSETS, _parquet(_table([row], tuple(columns))))
    store.put(MANIFEST, json.dumps({"format_version": "1"}).encode())
    path = ensure_catalogue(local_lake, tmp_path / "c.sqlite")
    with Catalogue(path, readonly=True) as catalogue:
        record = catalogue.get(RAW)
    assert record is not None
    assert (record.size, record.objects) == (0, 0)
    assert (record.contents, record.schema_versions, record.problems, record.metadata) == (
        [],
        {},
        [],
        {},
    )
    done = cli("show", RAW, "--catalogue", path)
    assert (done.code, done.err) == (0, "")
    assert done.out.splitlines()[-1] == "files         0 objects, 0 B"


def test_catalogue_of_another_version_is_refetched_unless_indexed(
    local_lake: str, tmp_path: Path, cli: Any
) -> None:
    store = open_store(local_lake)
    steward = tmp_path / "steward.sqlite"
    with indexed_lake(store, steward) as catalogue:
        publish_catalogue(catalogue, store)
    fetched = tmp_path / "fetched.sqlite"
    ensure_catalogue(local_lake, fetched)
    for path in (fetched, steward):
        db = sqlite3.connect(path)
        db.execute(f"PRAGMA user_version = {VERSION - 1}")
        db.close()
    assert ensure_catalogue(local_lake, fetched) == fetched
    with Catalogue(fetched, readonly=True) as catalogue:
        assert catalogue.count() == 3
    assert ensure_catalogue(local_lake, steward) == steward
    done = cli("find", "--lake", local_lake, "--catalogue", steward)
    assert (done.code, done.out) == (1, "")
    assert done.err == (
        f"assetlake: error: catalogue {steward} has version {VERSION - 1}, this assetlake reads "
        f"version {VERSION}; delete the file and run 'assetlake index' again\n"
    )


def lab(n: int) -> list[Record]:
    """Records of a few subjects, crowded into few seconds (ties), some without a time or with a
    time outside the calendar, raw and derived, in several genotypes, species spellings and
    statuses: every filter a first answer can meet."""
    rng = random.Random(13)
    moments = [*(f"2024-03-0{d}T1{h}:00:00-08:00" for d in range(1, 4) for h in range(3)),
               "2024-03-01T22:00:00Z", None, "9999-12-31T23:00:00-05:00"]  # fmt: skip
    records = []
    for i in range(n):
        subject = rng.choice(["111", "222", "333", "444", "1234"])
        raw = f"{rng.choice(['ecephys', 'pophys'])}_{subject}_2024-03-01_14-05-{i % 60:02d}"
        derived = records and rng.random() < 0.3
        source = rng.choice(records).name if derived else None
        name = f"{source}_sorted_2024-03-02_09-{i % 60:02d}-00" if derived else f"{raw}x{i}"
        records.append(
            Record(
                name=name, url=f"s3://lab/{name}", level="derived" if derived else "raw",
                modalities=rng.sample(["ecephys", "pophys", "behavior"], rng.randint(1, 2)),
                subject_id=subject, acquired=rng.choice(moments),
                project=rng.choice(["Visual Coding", "Motor Learning", None]),
                species=rng.choice(["Mus musculus", "mus MUSCULUS", "Rattus norvegicus"]),
                genotype=rng.choice(["Sst-IRES-Cre/wt", "Pvalb-IRES-Cre/wt", "wt/wt", None]),
                source=source, label="sorted" if derived else None,
                status=rng.choice(["valid", "invalid", "unverified"]), size=i,
                metadata={"notes": rng.choice(["probe drift", "quiet rig"])},
            )
        )  # fmt: skip
    return records


FIRST_QUERIES = [
    {"subject": "111"},
    {"subject": ["222", "1234"]},
    {"subject": "333", "modality": "pophys"},
    {"subject": ["111", "444"], "modality": ["behavior", "ecephys"], "level": "raw"},
    {"subject": "222", "after": "2024-03-02", "before": "2024-03-03T11:30:00-08:00"},
    {"subject": "444", "genotype": "ires-cre"},
    {"subject": "111", "genotype": "wt/"},
    {"subject": "1234", "species": "MUS musculus", "project": "Visual Coding"},
    {"subject": "333", "invalid": True},
    {"subject": "111", "sort": "-acquired", "limit": 3},
    {"subject": ["222", "444"], "sort": "name", "limit": 5},
    {"subject": "no-such-subject"},
]


@pytest.mark.parametrize("keywords", FIRST_QUERIES)
def test_first_answer_equals_find_on_the_indexed_catalogue(
    lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keywords: dict[str, Any]
) -> None:
    """A clean machine's first answer, from the rows of ``assets.parquet`` the query can match
    (in row groups of 8 here, so most are skipped), is what ``find`` on the catalogue that was
    published returns, and reads no documents."""
    monkeypatch.setattr(publish, "ROW_GROUP", 8)
    store = open_store(lake)
    with Catalogue(tmp_path / "steward.sqlite") as indexed:
        indexed.upsert(lab(150))
        publish_catalogue(indexed, store)
        expected = [r.without_metadata() for r in indexed.find(Query(**keywords))]
    gets: list[str] = []
    original = type(store).get

    def get(self: Store, key: str) -> bytes | None:
        gets.append(key)
        return original(self, key)

    monkeypatch.setattr(type(store), "get", get)
    fetch = pending_fetch(lake, tmp_path / "clean" / "c.sqlite")
    assert fetch is not None
    answer = fetch.answer(Query(**keywords))
    assert answer is not None
    assert [r.without_metadata() for r in answer] == expected
    assert gets == [MANIFEST, ASSETS]
    assert not (tmp_path / "clean").exists()  # nothing written until the copy is built
    fetch.complete()
    with Catalogue(tmp_path / "clean" / "c.sqlite", readonly=True) as fetched:
        assert [r.without_metadata() for r in fetched.find(Query(**keywords))] == expected
    assert gets == [MANIFEST, ASSETS, DOCUMENTS]  # assets.parquet read once


@pytest.mark.parametrize(
    "keywords",
    [{}, {"modality": "ecephys"}, {"subject": "11*"}, {"subject": ["111", "2?2"]},
     {"subject": "111", "derived_from": RAW}, {"subject": "111", "text": "drift"}],
)  # fmt: skip
def test_queries_the_hot_file_cannot_narrow_need_the_whole_catalogue(
    keywords: dict[str, Any],
) -> None:
    assert prefilter(Query(**keywords)) is None


def test_find_on_a_clean_machine_answers_then_builds_the_copy(
    lake: str, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(lake)
    with Catalogue(tmp_path / "steward.sqlite") as indexed:
        indexed.upsert(lab(40))
        publish_catalogue(indexed, store)
        expected = "".join(f"{r.name}\n" for r in indexed.find(subject="222"))
    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "clean-machine"))
    first = cli("find", "--lake", lake, "--subject", "222", "--format", "names")
    assert (first.code, first.out, first.err) == (0, expected, "")
    with Catalogue(default_catalogue_path(lake), readonly=True) as fetched:
        assert fetched.meta("origin") == "published"
        assert fetched.count() == 40
        assert fetched.find(text="drift")  # the documents came too
    again = cli("find", "--lake", lake, "--subject", "222", "--format", "names")
    assert (again.code, again.out) == (0, expected)


def test_first_answer_while_another_process_builds_the_copy(
    local_lake: str, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Catalogue(tmp_path / "steward.sqlite") as indexed:
        indexed.upsert(lab(30))
        publish_catalogue(indexed, open_store(local_lake))
        expected = "".join(f"{r.name}\n" for r in indexed.find(subject="111"))
    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "clean-machine"))
    local = default_catalogue_path(local_lake)
    local.parent.mkdir(parents=True)
    with writer_lock(local):  # held as another find building the copy holds it
        result = cli("find", "--lake", local_lake, "--subject", "111", "--format", "names")
    assert (result.code, result.out, result.err) == (0, expected, "")
    assert not local.exists()


# -- a hostile published catalogue -------------------------------------------------------------
#: Columns of a published catalogue rewritten as a careless or hostile tool could: each row is
#: (file, column, value, the problem ``show`` then lists, or None for a one-line refusal). The
#: first three failed ``find`` or ``show`` with "unexpected RecursionError / ValueError /
#: AttributeError".
HOSTILE_COLUMNS: dict[str, tuple[str, str, Any, str | None]] = {
    "deep contents": (ASSETS, "contents", "[" * 5000 + "]" * 5000, "contents: nests arrays"),
    "size text": (ASSETS, "contents", json.dumps([{"path": "x", "size": "big"}]),
                  "contents[0].size: is not a 64-bit whole number"),
    "problem text": (ASSETS, "problems", json.dumps(["oops"]), "problems[0]: is not an object"),
    "contents entry": (ASSETS, "contents", json.dumps([7, {"path": 7, "objects": "3"}]),
                       "contents[0]: is not an object"),
    "versions": (ASSETS, "schema_versions", json.dumps({"a.json": ["1"]}),
                 "schema_versions.a.json: is not text"),
    "NaN": (ASSETS, "problems", "[NaN]", "problems: holds NaN"),
    "not JSON": (ASSETS, "contents", "[1,", "contents: is not valid JSON"),
    "deep document": (DOCUMENTS, "metadata", '{"a": ' + "[" * 100 + "]" * 100 + "}",
                      "metadata: nests arrays"),
    "size column text": (ASSETS, "size", "huge", "size: is not a whole number"),
    "no name": (ASSETS, "name", None, None),
    "unknown level": (ASSETS, "level", "cooked", None),
}  # fmt: skip


@pytest.mark.parametrize("case", HOSTILE_COLUMNS.values(), ids=HOSTILE_COLUMNS)
def test_a_hostile_published_catalogue_gives_typed_records_or_one_line(
    lake: str, tmp_path: Path, cli: Any, monkeypatch: pytest.MonkeyPatch, case: tuple
) -> None:
    key, column, value, shown = case
    store = open_store(lake)
    with Catalogue(tmp_path / "steward.sqlite") as steward:
        steward.upsert([Record(name=RAW, url=f"{store.url}/{RAW}", level="raw", status="valid")])
        publish_catalogue(steward, store)
    table = pq.read_table(io.BytesIO(store.get(key) or b""))
    position = table.schema.get_field_index(column)
    table = table.set_column(position, column, pa.array([value], pa.string()))
    store.put(key, _parquet(table), overwrite=True)
    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "clean-machine"))

    found = cli("find", "--lake", lake, "--format", "names")
    described = cli("show", RAW, "--lake", lake)
    for result in (found, described):
        assert "unexpected" not in result.err and result.err.count("\n") <= 1, result.err
    if shown is None:
        assert (found.code, found.out) == (1, "")
        assert found.err.startswith(f"assetlake: error: published catalogue {store.url}/{ASSETS}")
        assert found.err.endswith("ask its steward to run `assetlake index --publish` again\n")
        assert described.code == 1
        return
    assert (found.code, found.out, found.err) == (0, f"{RAW}\n", "")
    assert described.code == 0 and described.err == ""
    assert "status        invalid" in described.out
    assert f"  error: :{shown}" in described.out, described.out
    listed = cli("find", "--lake", lake, "--invalid", "--format", "json")
    [record] = json.loads(listed.out)
    assert all(isinstance(entry, dict) for entry in record["problems"] + record["contents"])
