"""The commit protocol on both backends: plan, claim, upload, manifest, commit, resume, races."""

from __future__ import annotations

import json
import re
import shutil
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from factories import make_derived_asset, make_raw_asset

from assetlake.asset import CLAIM, COMMIT, MANIFEST, Manifest
from assetlake.checksums import crc32_text
from assetlake.digest import asset_digest
from assetlake.errors import (
    AssetExistsError,
    AssetLakeError,
    AssetNotFoundError,
    ConflictError,
    LakeError,
    MetadataError,
)
from assetlake.progress import Progress
from assetlake.store import Store, open_store, sha256_file
from assetlake.upload import committed, upload_folder
from assetlake.verify import verify_asset


def local_files(folder: Path) -> dict[str, Path]:
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


def listing(store: Store, prefix: str = "") -> dict[str, int]:
    return {info.key: info.size for info in store.list(prefix)}


def test_upload_commits_every_file_with_a_manifest(lake: str, tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path)
    files = local_files(folder)
    result = upload_folder(folder, lake)
    store = open_store(lake)
    name = folder.name
    assert (result.name, result.uploaded, result.skipped, result.dry_run) == (
        name,
        len(files),
        0,
        False,
    )
    assert result.objects == len(files)
    assert (
        result.total_bytes == result.bytes_uploaded == sum(p.stat().st_size for p in files.values())
    )
    assert result.url == f"{store.url}/{name}"
    assert committed(store, name)
    assert set(listing(store, name + "/")) == {
        f"{name}/{path}" for path in [*files, CLAIM, MANIFEST, COMMIT]
    }
    for path, local in files.items():
        assert store.get(f"{name}/{path}") == local.read_bytes()
    manifest = json.loads(store.get(f"{name}/{MANIFEST}") or b"")
    assert manifest["name"] == name and manifest["algorithm"] == "sha256"
    by_path = {entry["path"]: entry for entry in manifest["objects"]}
    assert [entry["path"] for entry in manifest["objects"]] == sorted(by_path)
    assert set(by_path) == {*files, CLAIM}
    for path, local in files.items():
        assert by_path[path] == {
            "path": path,
            "size": local.stat().st_size,
            "sha256": sha256_file(local),
            "crc32": crc32_text(zlib.crc32(local.read_bytes())),
        }
    document = json.loads(store.get(f"{name}/{COMMIT}") or b"")
    entries = Manifest.from_bytes(store.get(f"{name}/{MANIFEST}") or b"").objects
    assert document["assetlake"]["digest"] == asset_digest(entries)
    assert document["name"] == name and document["location"] == result.url
    assert document["data_description"] == json.loads(
        (folder / "data_description.json").read_text()
    )
    assert document["assetlake"]["objects"] == len(files)
    assert verify_asset(store, name).ok


def test_dry_run_plans_and_writes_nothing(lake: str, tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path)
    files = local_files(folder)
    result = upload_folder(folder, lake, dry_run=True)
    assert result.dry_run and (result.uploaded, result.skipped) == (len(files), 0)
    assert sorted(f.path for f in result.plan.upload) == sorted(files)
    assert listing(open_store(lake)) == {}


def test_invalid_folder_writes_nothing(lake: str, tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path)
    (folder / "subject.json").write_text("{not json")
    with pytest.raises(MetadataError) as raised:
        upload_folder(folder, lake)
    assert raised.value.problems and any(p.file == "subject.json" for p in raised.value.problems)
    assert listing(open_store(lake)) == {}


def test_committed_asset_is_immutable(lake: str, tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path)
    upload_folder(folder, lake)
    store = open_store(lake)
    before = listing(store)
    (folder / "ecephys.zarr" / "extra").write_bytes(b"new")
    with pytest.raises(AssetExistsError, match=r"immutable.*derived asset"):
        upload_folder(folder, lake)
    assert listing(store) == before


class DropsAfter:
    """Fault injection on a real store: the connection drops after ``count`` uploaded files."""

    def __init__(self, store: Store, count: int) -> None:
        self.count = count
        self.real_put_files = store.put_files
        store.put_files = self.put_files  # type: ignore[method-assign]

    def put_files(
        self, files: Iterable[tuple[str, Path]], workers: int | None = None, **kwargs: Any
    ) -> Iterator[tuple[str, object]]:
        yield from self.real_put_files(list(files)[: self.count], workers, **kwargs)
        raise LakeError("connection dropped")


def test_interrupted_upload_is_invisible_and_resumes(lake: str, tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path)
    files = local_files(folder)
    store = open_store(lake)
    DropsAfter(store, 4)
    with pytest.raises(LakeError, match="connection dropped"):
        upload_folder(folder, store, workers=1)
    name = folder.name
    assert not committed(store, name)
    assert len(listing(store, name + "/")) == 4 + 1
    with pytest.raises(AssetNotFoundError):
        verify_asset(lake, name)
    dry = upload_folder(folder, lake, dry_run=True)
    assert (dry.uploaded, dry.skipped) == (len(files) - 4, 4)
    result = upload_folder(folder, lake)
    assert (result.uploaded, result.skipped) == (len(files) - 4, 4)
    assert verify_asset(lake, name).ok


def test_claim_with_other_content_is_a_conflict(lake: str, tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path)
    store = open_store(lake)
    claim = {
        "fingerprint": "0" * 64,
        "started": "2024-03-01T00:00:00+00:00",
        "expires": "2999-01-01T00:00:00+00:00",  # a live claim from another host
        "host": "rig-7",
    }
    store.put(f"{folder.name}/{CLAIM}", json.dumps(claim).encode())
    with pytest.raises(ConflictError, match=r"different content.*2024-03-01T00:00:00.*rig-7"):
        upload_folder(folder, lake)
    assert list(listing(store)) == [f"{folder.name}/{CLAIM}"]


def test_object_with_other_content_is_a_conflict(lake: str, tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path)
    store = open_store(lake)
    DropsAfter(store, len(local_files(folder)) - 1)
    with pytest.raises(LakeError):
        upload_folder(folder, store, workers=1)
    assert f"{folder.name}/ecephys.zarr/0.0" in listing(store)
    local = folder / "ecephys.zarr" / "0.0"
    local.write_bytes(bytes(b ^ 0xFF for b in local.read_bytes()))
    with pytest.raises(ConflictError, match="already exists with different content"):
        upload_folder(folder, lake)
    assert not committed(store, folder.name)


def test_foreign_name_is_refused(lake: str, tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path)
    store = open_store(lake)
    store.put(f"{folder.name}/data_description.json", b"{}")
    with pytest.raises(AssetExistsError, match="not uploaded by assetlake"):
        upload_folder(folder, lake)
    assert list(listing(store)) == [f"{folder.name}/data_description.json"]


def test_derived_asset_needs_its_source_and_never_writes_under_it(
    lake: str, tmp_path: Path
) -> None:
    raw = make_raw_asset(tmp_path / "raw")
    derived = make_derived_asset(tmp_path / "derived", raw.name)
    store = open_store(lake)
    with pytest.raises(AssetNotFoundError, match=f"source asset {raw.name} .* not committed"):
        upload_folder(derived, lake)
    assert listing(store) == {}
    upload_folder(raw, lake)
    source_before = {i.key: (i.size, i.etag) for i in store.list(raw.name + "/")}
    result = upload_folder(derived, lake)
    assert result.name == derived.name and committed(store, derived.name)
    assert {i.key: (i.size, i.etag) for i in store.list(raw.name + "/")} == source_before
    assert set(store.list_dirs()) == {raw.name, derived.name}
    assert verify_asset(lake, derived.name).ok


def test_derived_asset_of_a_foreign_source(lake: str, tmp_path: Path) -> None:
    raw = make_raw_asset(tmp_path / "raw")
    derived = make_derived_asset(tmp_path / "derived", raw.name)
    store = open_store(lake)
    store.put(f"{raw.name}/data_description.json", (raw / "data_description.json").read_bytes())
    upload_folder(derived, lake)
    assert committed(store, derived.name)
    assert list(listing(store, raw.name + "/")) == [f"{raw.name}/data_description.json"]


def race(folders: list[Path], lake: str) -> list[object]:
    """Upload the folders at the same moment from threads; each outcome is a result or an error."""
    barrier = threading.Barrier(len(folders))
    outcomes: list[object] = [None] * len(folders)

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = upload_folder(folders[i], lake, workers=2)
        except AssetLakeError as error:
            outcomes[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(folders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_racing_identical_uploads_commit_once(lake: str, tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path)
    outcomes = race([folder, folder], lake)
    errors = [o for o in outcomes if isinstance(o, AssetLakeError)]
    assert len(errors) == 1 and isinstance(errors[0], AssetExistsError), outcomes
    assert "committed" in str(errors[0])
    assert verify_asset(lake, folder.name).ok


def test_racing_different_uploads_commit_one_of_them(lake: str, tmp_path: Path) -> None:
    first = make_raw_asset(tmp_path / "a")
    second = shutil.copytree(first, tmp_path / "b" / first.name)
    (second / "ecephys.zarr" / "notes.txt").write_bytes(b"a different take")
    outcomes = race([first, second], lake)
    winners = [i for i, o in enumerate(outcomes) if not isinstance(o, AssetLakeError)]
    assert len(winners) == 1, outcomes
    loser = outcomes[1 - winners[0]]
    assert isinstance(loser, ConflictError | AssetExistsError), loser
    store = open_store(lake)
    stored = {k.split("/", 1)[1] for k in listing(store, first.name + "/")}
    assert stored == {*local_files([first, second][winners[0]]), CLAIM, MANIFEST, COMMIT}
    assert verify_asset(lake, first.name).ok


def test_progress_bar_only_when_asked(
    local_lake: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], cli: Any
) -> None:
    upload_folder(make_raw_asset(tmp_path / "a"), local_lake)
    assert capsys.readouterr().err == ""
    folder = make_raw_asset(tmp_path / "b", subject_id="654321")
    err = cli("upload", folder, "--lake", local_lake, "--progress").err
    assert (
        folder.name in err and f"{len(local_files(folder))}/{len(local_files(folder))} files" in err
    )


def test_the_library_reports_progress_to_a_callback_and_never_draws(
    local_lake: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_raw_asset(tmp_path / "a")
    reports: list[Progress] = []
    result = upload_folder(folder, local_lake, progress=reports.append)
    assert capsys.readouterr() == ("", "")
    last = reports[-1]
    assert (last.name, last.files_done, last.files_total) == (
        result.name,
        result.uploaded,
        result.uploaded,
    )
    assert last.bytes_done == last.bytes_total == result.bytes_uploaded
    assert [r.bytes_done for r in reports] == sorted(r.bytes_done for r in reports)


def _long_project(folder: Path) -> None:
    path = folder / "data_description.json"
    document = json.loads(path.read_text())
    document["project_name"] = "p" * 5000
    path.write_text(json.dumps(document))


def _big_together(folder: Path) -> None:
    """Each sidecar under the 16 MiB limit, the consolidated document over it."""
    for path in folder.glob("*.json"):
        document = json.loads(path.read_text())
        document["notes"] = "n" * (4 << 20)
        path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (_long_project, r"project_name: is 5000 characters, over the 1024 a catalogue field"),
        (_big_together, r"metadata\.nd\.json: \d+ bytes is over the 16777216-byte limit"),
    ],
    ids=["field-over-its-bound", "consolidated-over-the-limit"],
)
def test_upload_refuses_what_the_catalogue_would_call_invalid(
    lake: str, tmp_path: Path, spoil: Any, message: str, cli: Any
) -> None:
    """The writer enforces every limit the reader has: what validates file by file but would be
    catalogued invalid is refused before anything is written (dry run too)."""
    folder = make_raw_asset(tmp_path / "work", with_data=False)
    spoil(folder)
    for dry_run in (True, False):
        with pytest.raises(MetadataError, match=r"would be catalogued invalid") as refused:
            upload_folder(folder, lake, dry_run=dry_run)
        assert re.search(message, str(refused.value.problems[0]))
    assert listing(open_store(lake)) == {}
    result = cli("upload", folder, "--lake", lake)
    assert result.code != 0 and "would be catalogued invalid" in result.err
    assert re.search(message, result.err), "each problem is shown"
    assert "Traceback" not in result.err and listing(open_store(lake)) == {}
