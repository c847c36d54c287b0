"""IBL's ONE over the lake: the published ONE tables read by the real ``ONE-api``, and LakeOne
loading files lazily from the bucket, checked against the manifest."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import zarr
from factories import ACQUIRED, make_derived_asset, make_raw_asset, write_zarr
from one.api import ONE
from test_verify import tamper

from assetlake.catalogue import Catalogue
from assetlake.catalogue.publish import PREFIX, publish_catalogue
from assetlake.errors import CatalogueError, IntegrityError
from assetlake.index import index_lake
from assetlake.one import LakeOne
from assetlake.one.tables import DATASETS, FOLDER, SESSIONS, session_id
from assetlake.store import Store, open_store
from assetlake.upload import upload_folder

TIMES = np.array([0.25, 0.5, 1.75, 3.0])
CLUSTERS = np.array([0, 2, 2, 1], dtype=np.int16)
POSITION = np.linspace(0.0, 1.0, 5)


pytestmark = pytest.mark.usefixtures("own_cache")


@dataclass
class OneLake:
    lake: str
    first: str  # 123456, 2024-03-01 14:05, Visual Behavior, wheel.* ALF files
    second: str  # 123456, the same day at 16:05
    other: str  # 654321, 2024-05-10, Brain Map
    spikes: str  # derived from first: spikes.times/clusters.npy and a Zarr


def save(folder: Path, name: str, values: np.ndarray) -> None:
    with open(folder / name, "wb") as stream:
        np.save(stream, values)


def publish(lake: str, catalogue: Path) -> None:
    with Catalogue(catalogue) as db:
        index_lake(open_store(lake), db)
        publish_catalogue(db, lake)


def build(lake: str, tmp_path: Path) -> OneLake:
    work = tmp_path / "work"
    first = make_raw_asset(work)
    save(first, "wheel.position.npy", POSITION)
    save(first, "wheel.timestamps.npy", np.arange(5.0))
    second = make_raw_asset(work, acquired=ACQUIRED + timedelta(hours=2))
    other = make_raw_asset(
        work, subject_id="654321", acquired=ACQUIRED + timedelta(days=70), project="Brain Map"
    )
    spikes = make_derived_asset(work, first.name, label="spikes")
    save(spikes, "spikes.times.npy", TIMES)
    save(spikes, "spikes.clusters.npy", CLUSTERS)
    for folder in (first, second, other, spikes):
        upload_folder(folder, lake)
    publish(lake, tmp_path / "catalogue.sqlite")
    return OneLake(lake, first.name, second.name, other.name, spikes.name)


def eid(lake: OneLake, name: str) -> uuid.UUID:
    return uuid.UUID(session_id(open_store(lake.lake).url, name))


def test_search_list_and_load_from_the_lake(
    lake: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    built = build(lake, tmp_path)
    one = LakeOne(lake=lake, cache_dir=tmp_path / "one")
    first, second, other = (eid(built, n) for n in (built.first, built.second, built.other))

    assert set(one.search(subject="123456")) == {first, second}
    assert one.search(subject="654321") == [other]
    assert set(one.search(date_range=["2024-03-01", "2024-03-01"])) == {first, second}
    assert one.search(date_range=["2024-05-01", "2024-05-31"]) == [other]
    assert one.search(projects="Brain Map") == [other]
    assert one.search(datasets="spikes.times.npy") == [first]
    assert one.search(datasets=["wheel.position.npy", "spikes.clusters.npy"]) == [first]
    details = one.get_details(second)
    assert (details["lab"], details["number"], str(details["date"])) == ("AIND", 2, "2024-03-01")
    assert one.get_details(first)["number"] == 1
    assert details["task_protocol"] == "ecephys"

    listed = one.list_datasets(first)
    assert f"{built.spikes}/spikes.times.npy" in listed
    assert f"{built.first}/wheel.position.npy" in listed
    assert set(one.list_collections(first)) == {built.first, built.spikes}

    session = one.eid2path(first)
    target = session / built.spikes / "spikes.times.npy"
    assert session.relative_to(tmp_path / "one").as_posix() == "AIND/Subjects/123456/2024-03-01/001"
    assert not target.exists(), "nothing is downloaded before a load asks for it"
    np.testing.assert_array_equal(one.load_dataset(first, "spikes.times.npy"), TIMES)
    assert target.is_file()
    assert not (session / built.spikes / "spikes.clusters.npy").exists()

    spikes = one.load_object(first, "spikes")
    assert sorted(spikes.keys()) == ["clusters", "times"]
    np.testing.assert_array_equal(spikes["clusters"], CLUSTERS)
    np.testing.assert_array_equal(spikes["times"], TIMES)
    assert one.search(task_protocol="ecephys", laboratory="AIND", number=2) == [second]
    assert set(one.list_subjects()) == {"123456", "654321"}
    collection = one.load_collection(first, built.spikes)
    np.testing.assert_array_equal(collection.spikes.clusters, CLUSTERS)
    wheel = one.load_object(first, "wheel", collection=built.first)
    np.testing.assert_array_equal(wheel["position"], POSITION)
    assert "mismatch" not in caplog.text


def test_plain_one_reads_the_published_tables(s3_lake: str, tmp_path: Path) -> None:
    """The tables are ONE's own format: a plain ``ONE(mode='local')`` lists every session."""
    built = build(s3_lake, tmp_path)
    store = open_store(s3_lake)
    folder = tmp_path / "plain"
    folder.mkdir()
    for name in (SESSIONS, DATASETS):
        (folder / name).write_bytes(store.get(PREFIX + FOLDER + name))
    one = ONE(cache_dir=folder, mode="local")
    assert len(one.search()) == 3
    assert eid(built, built.first).version == 3
    datasets = pq.read_table(io.BytesIO(store.get(PREFIX + FOLDER + DATASETS))).to_pandas()
    times = datasets[datasets.rel_path == f"{built.spikes}/spikes.times.npy"].iloc[0]
    assert times.file_size == TIMES.nbytes + 128 and pd.isna(times.hash)
    assert times.sha256 == store.sha256(f"{built.spikes}/spikes.times.npy")
    zarr = datasets[datasets.rel_path == f"{built.first}/ecephys.zarr"].iloc[0]
    assert zarr.file_size == 0 and pd.isna(zarr.hash) and pd.isna(zarr.sha256)
    assert datasets.default_revision.all() and (datasets.qc == "NOT_SET").all()
    assert not datasets.rel_path.str.contains("manifest.json|metadata.nd.json|upload").any()


def test_a_published_asset_appears_in_a_fresh_lakeone(lake: str, tmp_path: Path) -> None:
    built = build(lake, tmp_path)
    one = LakeOne(lake=lake, cache_dir=tmp_path / "one")
    assert len(one.search()) == 3
    assert one.refresh_cache() is False, "nothing changed in the lake"
    later = make_raw_asset(tmp_path / "later", subject_id="777777", project="Brain Map")
    upload_folder(later, lake)
    publish(lake, tmp_path / "catalogue.sqlite")

    fresh = LakeOne(lake=lake, cache_dir=tmp_path / "one")
    assert fresh.search(subject="777777") == [eid(built, later.name)]
    assert set(fresh.search(projects="Brain Map")) == {
        eid(built, built.other),
        eid(built, later.name),
    }
    assert one.refresh_cache() is True and one.search(subject="777777") == [eid(built, later.name)]
    assert set(LakeOne(lake=lake, cache_dir=tmp_path / "one").search()) == set(fresh.search())
    assert eid(built, built.first) in fresh.search(), "eids are stable across publishes"


def test_a_changed_file_is_refused_and_never_cached(local_lake: str, tmp_path: Path) -> None:
    built = build(local_lake, tmp_path)
    one = LakeOne(lake=local_lake, cache_dir=tmp_path / "one")
    tampered = Path(local_lake) / built.spikes / "spikes.times.npy"
    data = bytearray(tampered.read_bytes())
    data[-1] ^= 0xFF
    tampered.chmod(0o644)
    tampered.write_bytes(bytes(data))
    first = eid(built, built.first)
    with pytest.raises(
        IntegrityError, match=r"spikes\.times\.npy disagrees with its manifest \(sha256\)"
    ):
        one.load_dataset(first, "spikes.times.npy")
    folder = one.eid2path(first) / built.spikes
    assert not folder.exists() or list(folder.iterdir()) == []
    np.testing.assert_array_equal(one.load_dataset(first, "spikes.clusters.npy"), CLUSTERS)


def test_a_lake_without_a_published_catalogue_says_what_to_do(
    local_lake: str, tmp_path: Path
) -> None:
    with pytest.raises(CatalogueError, match=r"no published catalogue; ask its steward to run"):
        LakeOne(lake=local_lake, cache_dir=tmp_path / "one")


def test_a_second_publish_reads_only_new_manifests(s3_lake: str, tmp_path: Path) -> None:
    """Assets never change, so their rows are taken from the previous tables."""
    build(s3_lake, tmp_path)
    later = make_raw_asset(tmp_path / "later", subject_id="777777")
    upload_folder(later, s3_lake)
    store = open_store(s3_lake)
    before = pq.read_table(io.BytesIO(store.get(PREFIX + FOLDER + DATASETS))).to_pylist()
    gets: list[str] = []
    base = type(store)

    def get(self: Store, key: str) -> bytes | None:
        gets.append(key)
        return base.get(self, key)

    def get_many(self: Store, keys, workers: int = 32):  # the bulk path reads many at once
        keys = list(keys)
        gets.extend(keys)
        return base.get_many(self, keys, workers)

    store.__class__ = type("Recording", (base,), {"get": get, "get_many": get_many})
    with Catalogue(tmp_path / "catalogue.sqlite") as db:
        index_lake(store, db)
        publish_catalogue(db, store)
    assert [key for key in gets if key.endswith("/manifest.json")] == [
        f"{later.name}/manifest.json"
    ]
    after = pq.read_table(io.BytesIO(store.get(PREFIX + FOLDER + DATASETS))).to_pylist()
    assert [row for row in after if not row["rel_path"].startswith(later.name)] == before
    assert any(row["rel_path"] == f"{later.name}/ecephys.zarr" for row in after)


def test_the_builtin_steps_write_alf_objects_one_loads(
    lake: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from nwbfiles import RATE, nwbfile_with_series, traces

    from assetlake.formats import write_nwb_zarr
    from assetlake.pipelines.populate import populate

    data = traces(samples=3000, channels=5)
    data[500::700, :4] -= 3000  # a spike on channels 0-3 every 700 samples; channel 4 silent
    raw = make_raw_asset(tmp_path / "work", with_data=False)
    write_nwb_zarr(nwbfile_with_series(data), raw / "ecephys.nwb.zarr")
    upload_folder(raw, lake)
    for step in ("spikes", "rates"):  # in this process: this test is of ALF files, not engines
        result = populate(step, lake, catalogue=tmp_path / "jobs.sqlite", workers=1)
        assert [o.status for o in result.outcomes] == ["done"], result.outcomes
    publish(lake, tmp_path / "catalogue.sqlite")

    one = LakeOne(lake=lake, cache_dir=tmp_path / "one")
    (session,) = one.search(datasets=["spikes.times.npy", "clusters.firingRate.npy"])
    spikes = one.load_object(session, "spikes")
    assert len(spikes["times"]) == len(spikes["clusters"]) == 4 * 4
    assert sorted(set(spikes["clusters"].tolist())) == [0, 1, 2, 3]
    expected = np.array([500, 1200, 1900, 2600]) / RATE
    np.testing.assert_allclose(spikes["times"][spikes["clusters"] == 0], expected)
    assert np.all(np.diff(spikes["times"]) >= 0), "spikes.times is in time order, as in IBL's"
    clusters = one.load_object(session, "clusters")
    np.testing.assert_array_equal(clusters["channels"], [0, 1, 2, 3, 4])  # the silent one too
    np.testing.assert_allclose(clusters["firingRate"], [4 / (3000 / RATE)] * 4 + [0])
    assert "mismatch" not in caplog.text, "ONE finds no hash to doubt"

    folder = one.load_dataset(session, "ecephys.nwb.zarr")  # a Zarr folder, fetched whole
    traces_in_cache = zarr.open(str(folder), mode="r")["acquisition/ElectricalSeries/data"]
    np.testing.assert_array_equal(traces_in_cache[:], data)


def test_hostile_manifest_paths_never_become_datasets() -> None:
    from assetlake.asset import Manifest, ManifestEntry
    from assetlake.one.tables import datasets_of

    sha = "a" * 64
    paths = [
        "spikes.times.npy",
        "../outside.npy",
        "alf/./x.npy",
        "a//b.npy",
        "bell\x07.npy",
        "back\\slash.npy",
        "x" * 2000,
        ".assetlake-upload.json",
        "raw.zarr/0.0",
        "raw.zarr/.zarray",
        "alf/wheel.position.npy",
    ]
    manifest = Manifest("a_1", tuple(ManifestEntry(p, 1, sha) for p in paths))
    found = [(d.rel_path, d.file_size, d.sha256) for d in datasets_of("a_1", manifest)]
    assert found == [
        ("a_1/alf/wheel.position.npy", 1, sha),
        ("a_1/raw.zarr", 0, None),
        ("a_1/spikes.times.npy", 1, sha),
    ]


def test_index_publish_writes_the_one_tables(local_lake: str, tmp_path: Path, cli) -> None:
    folder = make_raw_asset(tmp_path / "work")
    upload_folder(folder, local_lake)
    result = cli("index", "--lake", local_lake, "--publish")
    assert result.code == 0, result.err
    store = open_store(local_lake)
    sessions = pq.read_table(io.BytesIO(store.get(PREFIX + FOLDER + SESSIONS)))
    assert sessions.column("id").to_pylist() == [session_id(store.url, folder.name)]
    assert b"date_created" in sessions.schema.metadata[b"one_metadata"]


def _rewrite_sessions(lake: str, **values: str) -> None:
    """A hostile steward's (or tool's) sessions table: the published one with ``values`` set."""
    store = open_store(lake)
    table = pq.read_table(io.BytesIO(store.get(PREFIX + FOLDER + SESSIONS)))
    frame = table.to_pandas()
    for column, value in values.items():
        frame[column] = value
    sink = io.BytesIO()
    pq.write_table(
        type(table)
        .from_pandas(frame, preserve_index=False)
        .replace_schema_metadata(table.schema.metadata),
        sink,
    )
    store.put(PREFIX + FOLDER + SESSIONS, sink.getvalue(), overwrite=True)


@pytest.mark.parametrize("field", ["lab", "subject"])
def test_a_crafted_sessions_table_cannot_write_outside_the_cache(
    local_lake: str, tmp_path: Path, field: str
) -> None:
    """ONE builds a session's folder from the table's lab, subject, date and number; values that
    lead out of the cache folder are refused before a byte is written."""
    built = build(local_lake, tmp_path)
    outside = tmp_path / "outside"
    value = str(outside) if field == "lab" else "../../../../outside"
    _rewrite_sessions(local_lake, **{field: value})
    one = LakeOne(lake=local_lake, cache_dir=tmp_path / "deep" / "er" / "one")
    with pytest.raises(IntegrityError, match=r"has no safe place in the cache"):
        one.load_dataset(eid(built, built.first), "spikes.times.npy")
    assert not outside.exists()
    assert not any(p.is_file() for p in (tmp_path / "deep").rglob("*.npy"))


def test_a_zarr_folder_is_cached_whole_or_not_at_all(lake: str, tmp_path: Path) -> None:
    """A damaged chunk refuses the whole folder, and a second load does not return a part."""
    raw = make_raw_asset(tmp_path / "work", with_data=False)
    write_zarr(raw / "ecephys.traces.zarr", rows=400, columns=2)  # four chunks
    upload_folder(raw, lake)
    publish(lake, tmp_path / "catalogue.sqlite")
    key = f"{raw.name}/ecephys.traces.zarr/2.0"
    good = open_store(lake).get(key)
    tamper(lake, key, good[:-1] + bytes([good[-1] ^ 0xFF]))
    one = LakeOne(lake=lake, cache_dir=tmp_path / "one")
    session = one.search(subject="123456")[0]
    for _ in range(2):
        with pytest.raises(IntegrityError, match=r"2\.0 disagrees with its manifest"):
            one.load_dataset(session, "ecephys.traces.zarr")
    folder = one.eid2path(session) / raw.name
    assert not folder.exists() or not any(folder.iterdir()), "no partial folder is left"


def test_a_crafted_previous_datasets_table_does_not_stop_a_publish(
    s3_lake: str, tmp_path: Path
) -> None:
    """Rows of the previous table are reused only when their size and path are sound."""
    import pyarrow as pa

    build(s3_lake, tmp_path)
    store = open_store(s3_lake)
    table = pq.read_table(io.BytesIO(store.get(PREFIX + FOLDER + DATASETS)))
    rows = table.to_pylist()
    rows[0]["rel_path"] = rows[0]["rel_path"].split("/")[0] + "/../escape.npy"
    rows[1]["file_size"] = -1
    schema = pa.schema(
        [(f.name, pa.int64() if f.name == "file_size" else f.type) for f in table.schema]
    )
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink)
    store.put(PREFIX + FOLDER + DATASETS, sink.getvalue(), overwrite=True)
    publish(s3_lake, tmp_path / "catalogue.sqlite")
    after = pq.read_table(io.BytesIO(store.get(PREFIX + FOLDER + DATASETS))).to_pylist()
    assert all(".." not in row["rel_path"].split("/") for row in after)
    assert all(row["file_size"] >= 0 for row in after)


def test_lakeone_without_the_one_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    import assetlake.one as package

    monkeypatch.delitem(sys.modules, "assetlake.one.client", raising=False)
    monkeypatch.setitem(sys.modules, "one.api", None)  # as if ONE-api were not installed
    with pytest.raises(ModuleNotFoundError, match=r'pip install "assetlake\[one\]"'):
        package.LakeOne  # noqa: B018
