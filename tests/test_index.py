"""The indexer on both backends: one GET per asset, incremental, foreign and broken assets."""

from __future__ import annotations

import functools
import json
import shutil
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from factories import make_derived_asset, make_raw_asset

from assetlake.asset import CLAIM, COMMIT, consolidate
from assetlake.catalogue import Catalogue
from assetlake.index import IndexStats, index_lake
from assetlake.naming import parse_name
from assetlake.schema import dump_sidecar
from assetlake.schema.fields import record_fields
from assetlake.schema.samples import derived_sidecars, raw_sidecars
from assetlake.store import Store, open_store
from assetlake.upload import upload_folder
from assetlake.validate import validate_documents

PACIFIC = ZoneInfo("America/Los_Angeles")
RAW = "ecephys_123456_2024-03-01_14-05-09"
DERIVED = f"{RAW}_sorted_2024-03-02_09-30-00"
V1 = "ecephys_654321_2023-05-04_10-11-12"
V2 = "777777_2025-01-02_03-04-05"

V1_SIDECARS: dict[str, Any] = {
    "data_description.json": {
        "schema_version": "1.0.0",
        "name": V1,
        "subject_id": "654321",
        "creation_time": "2023-05-04T10:11:12-07:00",
        "institution": {"name": "Allen Institute for Neural Dynamics", "abbreviation": "AIND"},
        "investigators": [{"name": "Ada Lovelace", "abbreviation": "AL"}],
        "modality": [{"name": "Extracellular electrophysiology", "abbreviation": "ecephys"}],
        "project_name": "Brain Map",
        "data_level": "raw",
    },
    "subject.json": {
        "schema_version": "1.0.0",
        "subject_id": "654321",
        "sex": "Female",
        "genotype": "Pvalb-IRES-Cre/wt",
        "species": {"name": "Mus musculus", "registry_identifier": "NCBI:txid10090"},
    },
    "rig.json": {"schema_version": "1.0.0", "rig_id": "323_EPHYS1"},
    "session.json": {
        "schema_version": "1.0.0",
        "session_start_time": "2023-05-04T10:11:12-07:00",
        "session_type": "Receptive field mapping",
    },
}
V2_SIDECARS: dict[str, Any] = {
    "data_description.json": {
        "schema_version": "2.0.0",
        "name": V2,
        "subject_id": "777777",
        "creation_time": "2025-01-02T03:04:05+00:00",
        "institution": {"name": "Allen Institute for Neural Dynamics", "abbreviation": "AIND"},
        "investigators": [{"name": "Grace Hopper"}],
        "modalities": [{"name": "Planar optical physiology", "abbreviation": "pophys"}],
        "project_name": "Cell types",
    },
    "subject.json": {"schema_version": "2.0.0", "subject_id": "777777"},
    "instrument.json": {"schema_version": "2.0.0", "instrument_id": "MESO1"},
    "acquisition.json": {
        "schema_version": "2.0.0",
        "acquisition_start_time": "2025-01-02T03:04:05+00:00",
    },
}


def sample_sidecars(name: str) -> dict[str, Any]:
    """The six valid sidecars the schema's samples give an asset of that name."""
    parsed = parse_name(name)
    if parsed.source is None:
        models = raw_sidecars(parsed, parsed.acquired.replace(tzinfo=PACIFIC))
    else:
        models = derived_sidecars(parsed, parsed.processed.replace(tzinfo=PACIFIC))
    return {filename: json.loads(dump_sidecar(model)) for filename, model in models.items()}


def put_files(store: Store, name: str, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        store.put(f"{name}/{path}", data)


def commit(
    store: Store, name: str, sidecars: dict[str, Any], data: dict[str, bytes] | None = None
) -> dict[str, Any]:
    """Write an asset the way the commit protocol leaves it: claim, files, consolidated document."""
    files = {
        CLAIM: b"{}",
        **{f: json.dumps(d).encode() for f, d in sidecars.items()},
        **(data or {}),
    }
    put_files(store, name, files)
    objects = {path: len(blob) for path, blob in files.items()}
    document = consolidate(
        name,
        f"{store.url}/{name}",
        "2024-03-03T00:00:00+00:00",
        sidecars,
        "0" * 64,
        objects,
        f"{'0' * 64}-{len(objects)}--{sum(objects.values())}",
    )
    store.put(f"{name}/{COMMIT}", json.dumps(document).encode())
    return document


def count_requests(store: Store) -> Counter[str]:
    """Count the store's requests (they still go to the real backend) by making it a subclass."""
    calls: Counter[str] = Counter()
    lock = threading.Lock()
    base = type(store)

    def counted(method: str) -> Any:
        def call(self: Store, *args: Any, **kwargs: Any) -> Any:
            with lock:
                calls[method] += 1
            return getattr(base, method)(self, *args, **kwargs)

        return call

    def counted_many(method: str, bulk: str) -> Any:
        """A backend's own bulk path (S3's) counts one request per key, as ``method`` would."""

        def call(self: Store, keys: Any, *args: Any, **kwargs: Any) -> Any:
            def each() -> Any:
                for key in keys:
                    with lock:
                        calls[method] += 1
                    yield key

            return getattr(base, bulk)(self, each(), *args, **kwargs)

        return call

    def counted_listing(self: Store, *args: Any, **kwargs: Any) -> Any:
        names = base.list_dirs_parallel(self, *args, **kwargs)
        with lock:
            calls["list_dirs"] += 1
        return names

    methods = {m: counted(m) for m in ("check", "get", "head", "list", "list_dirs")}
    if base.get_many is not Store.get_many:
        methods["get_many"] = counted_many("get", "get_many")
    if base.head_many is not Store.head_many:
        methods["head_many"] = counted_many("head", "head_many")
    if base.list_dirs_parallel is not Store.list_dirs_parallel:
        methods["list_dirs_parallel"] = counted_listing
    store.__class__ = type("Counting" + base.__name__, (base,), methods)
    return calls


def delete_prefix(store: Store, prefix: str) -> None:
    """Remove a folder from the lake behind assetlake's back (lakes are never deleted from)."""
    keys = [info.key for info in store.list(prefix)]
    if store.url.startswith("s3://"):
        for key in keys:
            store.client.delete_object(Bucket=store.bucket, Key=key)  # type: ignore[attr-defined]
    else:
        shutil.rmtree(Path(store.fsspec_url(prefix)))


@pytest.fixture
def catalogue(tmp_path: Path) -> Iterator[Catalogue]:
    with Catalogue(tmp_path / "catalogue.sqlite") as opened:
        yield opened


def test_assetlake_assets_read_with_one_get_each(lake: str, catalogue: Catalogue) -> None:
    store = open_store(lake)
    zarr = {"ecephys.zarr/.zarray": b"x" * 10, "ecephys.zarr/0.0": b"y" * 90}
    document = commit(store, RAW, sample_sidecars(RAW), zarr)
    commit(store, DERIVED, sample_sidecars(DERIVED))
    calls = count_requests(store)

    stats = index_lake(store, catalogue)

    assert stats == IndexStats(2, 0, 2, 0, 0, 0, stats.seconds)
    assert calls == {"check": 1, "list_dirs": 1, "get": 2}
    record = catalogue.get(RAW)
    assert (record.status, record.problems) == ("valid", [])
    assert record.url == f"{store.url}/{RAW}"
    assert (record.level, record.modalities, record.subject_id) == ("raw", ["ecephys"], "123456")
    assert record.acquired == "2024-03-01T14:05:09-08:00"
    assert (record.species, record.sex) == ("Mus musculus", "Female")
    assert record.genotype == "Sst-IRES-Cre/wt;Ai32(RCL-ChR2(H134R)_EYFP)/wt"
    assert (record.institution, record.investigators) == ("AIND", ["Jane Doe", "John Smith"])
    assert record.project == "Visual Behavior"
    assert record.schema_versions == dict.fromkeys(sample_sidecars(RAW), "1.0.0")
    assert (record.size, record.objects) == (document["assetlake"]["size"], 9)
    assert record.contents == document["assetlake"]["contents"]
    assert {"path": "ecephys.zarr", "format": "zarr", "size": 100, "objects": 2} in record.contents
    assert record.metadata == document
    child = catalogue.get(DERIVED)
    assert (child.status, child.level, child.source, child.label) == (
        "valid",
        "derived",
        RAW,
        "sorted",
    )
    assert (child.acquired, child.processed) == (
        "2024-03-01T14:05:09-08:00",
        "2024-03-02T09:30:00-08:00",
    )


def test_schema_problems_make_an_assetlake_asset_invalid(lake: str, catalogue: Catalogue) -> None:
    store = open_store(lake)
    sidecars = sample_sidecars(RAW)
    sidecars["subject.json"]["subject_id"] = "999"
    commit(store, RAW, sidecars)
    assert index_lake(store, catalogue).invalid == 1
    record = catalogue.get(RAW)
    assert record.status == "invalid"
    assert record.problems == [p.to_dict() for p in validate_documents(RAW, sidecars).problems]
    assert any(p["file"] == "subject.json" and p["severity"] == "error" for p in record.problems)


def test_reindex_reads_only_new_assets_and_drops_vanished_ones(
    lake: str, catalogue: Catalogue
) -> None:
    store = open_store(lake)
    names = [f"ecephys_{subject}_2024-03-01_14-05-09" for subject in ("1", "2", "3")]
    for name in names:
        commit(store, name, sample_sidecars(name))
    calls = count_requests(store)
    assert index_lake(store, catalogue).new == 3
    assert calls["get"] == 3

    calls.clear()
    again = index_lake(store, catalogue)
    assert (again.new, again.removed, again.total) == (0, 0, 3)
    assert calls["get"] == 0 and calls["list"] == 0

    extra = "ecephys_4_2024-03-01_14-05-09"
    commit(store, extra, sample_sidecars(extra))
    delete_prefix(store, names[0] + "/")
    calls.clear()
    changed = index_lake(store, catalogue)
    assert (changed.new, changed.removed, changed.total) == (1, 1, 3)
    assert calls["get"] == 1
    assert catalogue.known_names() == {*names[1:], extra}

    calls.clear()
    full = index_lake(store, catalogue, full=True)
    assert (full.new, full.total) == (3, 3)
    assert calls["get"] == 3


def test_foreign_aind_assets_are_unverified(lake: str, catalogue: Catalogue) -> None:
    store = open_store(lake)
    put_files(store, V1, {f: json.dumps(d).encode() for f, d in V1_SIDECARS.items()})
    put_files(store, V1, {"ecephys/raw.dat": b"z" * 1000})
    aind_document = {
        "name": V2,
        "schema_version": "2.0.0",
        **{f.removesuffix(".json"): d for f, d in V2_SIDECARS.items()},
    }
    put_files(store, V2, {COMMIT: json.dumps(aind_document).encode(), "pophys/movie.h5": b"m" * 50})

    stats = index_lake(store, catalogue)

    assert (stats.total, stats.unverified, stats.invalid) == (2, 2, 0)
    v1 = catalogue.get(V1)
    assert v1.status == "unverified"
    assert v1.problems == [p.to_dict() for p in validate_documents(V1, V1_SIDECARS).problems]
    assert v1.problems, "a v1 asset does not pass assetlake's schema"
    assert (v1.modalities, v1.subject_id, v1.institution) == (["ecephys"], "654321", "AIND")
    assert (v1.investigators, v1.species, v1.project) == (
        ["Ada Lovelace"],
        "Mus musculus",
        "Brain Map",
    )
    assert v1.acquired == "2023-05-04T10:11:12-07:00"
    assert v1.objects == 5
    assert v1.size == 1000 + sum(len(json.dumps(d)) for d in V1_SIDECARS.values())
    assert {"path": "ecephys", "format": "file", "size": 1000, "objects": 1} in v1.contents
    assert v1.metadata["session"] == V1_SIDECARS["session.json"]
    assert v1.schema_versions["session.json"] == "1.0.0"

    v2 = catalogue.get(V2)
    assert v2.status == "unverified"
    assert (v2.level, v2.modalities, v2.subject_id) == ("raw", ["pophys"], "777777")
    assert v2.acquired == "2025-01-02T03:04:05+00:00"
    assert v2.investigators == ["Grace Hopper"]
    assert v2.metadata == aind_document
    assert v2.objects == 2


def test_broken_assets_are_invalid_and_never_stop_the_crawl(
    lake: str, catalogue: Catalogue
) -> None:
    store = open_store(lake)
    good = "ecephys_1_2024-03-01_14-05-09"
    commit(store, good, sample_sidecars(good))
    malformed, binary, huge, bad_commit = (
        f"ecephys_{s}_2024-03-01_14-05-09" for s in ("2", "3", "4", "5")
    )
    put_files(store, malformed, {"data_description.json": b'{"name": "x",'})
    put_files(
        store,
        binary,
        {"data_description.json": b"{}", "subject.json": b'{"subject_id": "\xff\xfe"}'},
    )
    put_files(store, huge, {"data_description.json": b"{}", "subject.json": b" " * 60_000})
    put_files(store, bad_commit, {CLAIM: b"{}", COMMIT: b"[1, 2"})

    stats = index_lake(store, catalogue, max_bytes=50_000)

    assert (stats.total, stats.invalid, stats.unverified) == (5, 4, 0)
    assert catalogue.get(good).status == "valid"

    def first(name: str) -> dict[str, Any]:
        record = catalogue.get(name)
        assert record.status == "invalid"
        return record.problems[0]

    assert first(malformed)["file"] == "data_description.json"
    assert first(malformed)["message"].startswith("is not valid JSON (Expecting")
    assert first(binary)["file"] == "subject.json"
    assert first(binary)["message"].startswith("is not UTF-8 text")
    assert first(huge) == {
        "file": "subject.json",
        "path": "",
        "message": "60000 bytes is over the 50000-byte limit for metadata; not read",
        "value": 60_000,
        "severity": "error",
    }
    assert first(bad_commit)["file"] == COMMIT


def test_stray_objects_and_uploads_in_progress_are_not_listed(
    lake: str, catalogue: Catalogue
) -> None:
    store = open_store(lake)
    store.put("README.txt", b"not an asset")
    store.put("scratch/notes.json", b"{}")
    store.put("assetlake-catalogue/catalogue.json", b"{}")
    put_files(store, "ecephys_9_2024-03-01_14-05-09", {"raw.bin": b"no sidecars"})
    interrupted = "ecephys_8_2024-03-01_14-05-09"
    put_files(
        store, interrupted, {CLAIM: b"{}", "data_description.json": b"{}", "ecephys.zarr/0": b"x"}
    )

    stats = index_lake(store, catalogue)

    assert (stats.new, stats.total, stats.skipped) == (0, 0, 2)
    assert catalogue.known_names() == set()
    commit_document = consolidate(
        interrupted, "", "2024-03-03T00:00:00+00:00", {}, "0" * 64, {}, f"{'0' * 64}-0--0"
    )
    store.put(f"{interrupted}/{COMMIT}", json.dumps(commit_document).encode())
    assert index_lake(store, catalogue).new == 1
    assert catalogue.known_names() == {interrupted}


def test_record_fields_fall_back_to_the_name() -> None:
    fields, problems = record_fields(
        parse_name(DERIVED), {"data_description.json": {"modalities": "nonsense-shape"}}
    )
    assert problems == []
    assert fields == {
        "level": "derived",
        "modalities": ["nonsense-shape"],
        "subject_id": "123456",
        "acquired": "2024-03-01T14:05:09",
        "project": None,
        "species": None,
        "sex": None,
        "genotype": None,
        "institution": None,
        "investigators": [],
        "source": RAW,
        "sources": [RAW],
        "label": "sorted",
        "processed": "2024-03-02T09:30:00",
    }
    assert record_fields(parse_name(V2), {})[0]["modalities"] == []


def test_index_cli_prints_summary(lake: str, cli: Any, tmp_path: Path) -> None:
    store = open_store(lake)
    commit(store, RAW, sample_sidecars(RAW))
    path = tmp_path / "c.sqlite"
    result = cli("index", "--lake", lake, "--catalogue", path)
    assert result.code == 0, result.err
    assert result.out.startswith("indexed 1 new, removed 0, 1 total (")
    assert result.out.rstrip().endswith(" s") and result.out.count("\n") == 1
    again = cli("index", "--lake", lake, "--catalogue", path)
    assert again.out.startswith("indexed 0 new, removed 0, 1 total (")


def test_catalogue_of_another_lake_is_refused(
    local_lake: str, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commit(open_store(local_lake), RAW, sample_sidecars(RAW))
    path = tmp_path / "c.sqlite"
    monkeypatch.chdir(Path(local_lake).parent)
    assert cli("index", "--lake", "./lake/", "--catalogue", path).code == 0
    other = tmp_path / "other"
    other.mkdir()
    for command in (["index"], ["find", "--format", "names"], ["show", RAW], ["lineage", RAW]):
        done = cli(*command, "--lake", other, "--catalogue", path)
        assert (done.code, done.out) == (2, ""), command
        assert done.err == (
            f"assetlake: error: catalogue {path} is the catalogue of lake "
            f"{Path(local_lake).as_uri()}, not of {other.as_uri()}; drop --catalogue, or give the --lake "
            "(or ASSETLAKE_LAKE) it was built for\n"
        )
    with Catalogue(path, readonly=True) as catalogue:
        assert catalogue.known_names() == {RAW}
    done = cli("find", "--lake", local_lake, "--catalogue", path, "--format", "names")
    assert (done.code, done.out, done.err) == (0, f"{RAW}\n", "")


def test_index_cli_bad_inputs(
    cli: Any, moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "cache"))
    missing = cli("index", "--lake", "s3://no-such-bucket-here")
    assert missing.code == 1 and missing.out == ""
    assert missing.err == (
        "assetlake: error: lake s3://no-such-bucket-here: bucket 'no-such-bucket-here' does not "
        "exist; create it or fix --lake\n"
    )
    nolake = cli("index")
    assert nolake.code == 2
    assert nolake.err.startswith("assetlake: error: no lake given") and nolake.err.count("\n") == 1
    folder = cli("index", "--lake", tmp_path / "absent")
    assert folder.code == 1 and folder.err.count("\n") == 1
    assert "folder does not exist" in folder.err
    scheme = cli("index", "--lake", "gs://bucket")
    assert scheme.code == 2 and "scheme 'gs' is not supported" in scheme.err


def test_uploaded_assets_are_indexed_valid(lake: str, catalogue: Catalogue, tmp_path: Path) -> None:
    raw = make_raw_asset(tmp_path / "staging")
    derived = make_derived_asset(tmp_path / "staging", raw.name, label="sorted")
    upload_folder(raw, lake)
    upload_folder(derived, lake)
    store = open_store(lake)

    assert (
        index_lake(store, catalogue)
        .line()
        .startswith("indexed 2 new, removed 0, 2 total (0 invalid, 0 unverified) in ")
    )
    for folder in (raw, derived):
        record = catalogue.get(folder.name)
        summary = json.loads(store.get(f"{folder.name}/{COMMIT}"))["assetlake"]
        assert (record.status, record.problems) == ("valid", [])
        assert (record.size, record.objects) == (summary["size"], summary["objects"])
        assert record.contents == summary["contents"]
    assert catalogue.get(derived.name).source == raw.name
    zarr = [c for c in catalogue.get(raw.name).contents if c["path"] == "ecephys.zarr"]
    assert [c["format"] for c in zarr] == ["zarr"] and zarr[0]["objects"] > 1


def test_records_built_in_worker_processes_are_the_records_built_here(
    lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The crawl of a large lake builds records in worker processes; same catalogue either way."""
    import assetlake.index as index_module

    settled_here: list[int] = []
    real = index_module._settle_all

    @functools.wraps(real)  # the workers find the real one by this name
    def counted(answers: list[Any]) -> list[Any]:
        settled_here.append(len(answers))
        return real(answers)

    monkeypatch.setattr(index_module, "_settle_all", counted)
    store = open_store(lake)
    commit(store, RAW, sample_sidecars(RAW))
    commit(store, DERIVED, sample_sidecars(DERIVED))
    wrong = "ecephys_7_2024-03-01_14-05-09"
    sidecars = sample_sidecars(wrong)
    sidecars["subject.json"]["subject_id"] = "999"
    commit(store, wrong, sidecars)
    foreign = "ecephys_8_2024-03-01_14-05-09"
    put_files(store, foreign, {"data_description.json": json.dumps(sample_sidecars(foreign)[
        "data_description.json"]).encode()})  # fmt: skip
    put_files(store, "ecephys_9_2024-03-01_14-05-09", {CLAIM: b"{}", COMMIT: b"[1, 2"})
    for number in range(10, 80):  # enough for several chunks per worker
        name = f"ecephys_{number}_2024-03-01_14-05-09"
        commit(store, name, sample_sidecars(name))

    def crawled(processes: int) -> list[dict[str, Any]]:
        with Catalogue(tmp_path / f"{processes}.sqlite") as catalogue:
            stats = index_lake(store, catalogue, processes=processes)
            assert (stats.total, stats.invalid, stats.unverified) == (75, 2, 1)
            return [record.to_dict() for record in catalogue.records()]

    assert crawled(2) == crawled(0)
    assert settled_here == []  # every chunk was settled by a worker, none fell back here
