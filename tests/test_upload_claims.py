"""Claims: who holds a name, and when a claim is taken over (its process gone on this host, or its
lease expired on another); a resume removes the unfinished writes of the upload it takes over.
Also the layout types that own an asset's reserved files, and names at the file-system limits."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from factories import make_raw_asset

from assetlake.asset import (
    CLAIM,
    COMMIT,
    LEASE,
    MANIFEST,
    TMP_PREFIX,
    Claim,
    Layout,
    Manifest,
    ManifestEntry,
    classify,
)
from assetlake.errors import ConflictError, UsageError
from assetlake.store import open_store
from assetlake.upload import committed, fingerprint, holder_alive, scan_folder, upload_folder
from assetlake.verify import verify_asset


def dead_pid() -> int:
    """The id of a process of this host that has ended (and was reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def claim_of(folder: Path, **changes: object) -> Claim:
    """A claim for ``folder`` as another upload would have written it, with ``changes``."""
    description = json.loads((folder / "data_description.json").read_text())
    claim = Claim.new(folder.name, fingerprint(scan_folder(folder), description), "someone")
    return dataclasses.replace(claim, **changes)


@pytest.mark.parametrize("who", ["process gone", "lease expired"])
def test_a_claim_whose_upload_is_gone_is_taken_over(
    lake: str, tmp_path: Path, cli, who: str
) -> None:
    folder = make_raw_asset(tmp_path)
    store = open_store(lake)
    old = datetime.now(UTC).replace(microsecond=0) - LEASE - timedelta(hours=1)
    if who == "process gone":
        stale = claim_of(folder, pid=dead_pid(), fingerprint="0" * 64)
    else:
        stale = claim_of(folder, host="rig-7", started=old, expires=old + LEASE)
    assert not holder_alive(stale)
    store.put(f"{folder.name}/{CLAIM}", stale.to_bytes())
    result = cli("upload", folder, "--lake", lake)
    assert result.code == 0, result.err
    assert result.err == (f"took over the name from an upload that is gone ({stale.describe()})\n")
    claim = Claim.from_bytes(store.get(f"{folder.name}/{CLAIM}") or b"")
    assert (claim.pid, claim.host) == (os.getpid(), socket.gethostname())
    assert claim.token != stale.token
    assert verify_asset(lake, folder.name).ok


@pytest.mark.parametrize("who", ["live process here", "live lease elsewhere"])
def test_a_live_claim_stops_every_other_upload_before_any_data(
    lake: str, tmp_path: Path, who: str
) -> None:
    folder = make_raw_asset(tmp_path)
    store = open_store(lake)
    if who == "live process here":
        live = claim_of(folder, pid=os.getppid())
        where = f"host {socket.gethostname()}, process {os.getppid()}"
    else:
        live = claim_of(folder, host="rig-7", pid=dead_pid())
        where = f"host rig-7, process {live.pid}"
    store.put(f"{folder.name}/{CLAIM}", live.to_bytes())
    with pytest.raises(ConflictError, match=f"with the same files by another upload .*{where}"):
        upload_folder(folder, lake)
    assert [i.key for i in store.list("")] == [f"{folder.name}/{CLAIM}"]


def test_a_resume_removes_what_the_killed_upload_left_unfinished(
    local_lake: str, tmp_path: Path, cli
) -> None:
    """A local lake: the temporary file of a write that a SIGKILL cut short is reported by
    verify, and removed by the upload that takes the name over (S3's incomplete multipart
    uploads: tests/test_upload_faults.py)."""
    folder = make_raw_asset(tmp_path)
    store = open_store(local_lake)
    store.put(f"{folder.name}/{CLAIM}", claim_of(folder, pid=dead_pid()).to_bytes())
    tmp = Path(local_lake, folder.name, "ecephys.zarr", f"{TMP_PREFIX}0123")
    tmp.parent.mkdir(parents=True)
    tmp.write_bytes(b"half a chunk")
    assert store.leftovers(f"{folder.name}/") == [f"{folder.name}/ecephys.zarr/{tmp.name}"]
    result = cli("upload", folder, "--lake", local_lake)
    assert result.code == 0, result.err
    assert "removed 1 unfinished writes left by an interrupted upload" in result.err
    assert not tmp.exists() and verify_asset(local_lake, folder.name).ok
    tmp.write_bytes(b"written behind assetlake's back")
    report = verify_asset(local_lake, folder.name)
    assert not report.ok and report.unfinished == [f"ecephys.zarr/{tmp.name}"]
    assert report.problems() == [
        f"unfinished: {folder.name}/ecephys.zarr/{tmp.name} (left by an interrupted upload; "
        "safe to delete)"
    ]
    assert cli("verify", folder.name, "--lake", local_lake).code == 1


def test_a_255_byte_file_name_uploads(lake: str, tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path)
    (folder / ("n" * 251 + ".bin")).write_bytes(b"long name")
    upload_folder(folder, lake)
    assert verify_asset(lake, folder.name).ok


def test_a_key_longer_than_s3_allows_is_refused_before_any_write(lake: str, tmp_path: Path) -> None:
    folder = make_raw_asset(tmp_path)
    deep = folder.joinpath(*["d" * 200] * 5)
    deep.mkdir(parents=True)
    (deep / "x").write_bytes(b"deep")
    with pytest.raises(UsageError, match="longer than 1024 bytes; shorten"):
        upload_folder(folder, lake)
    assert list(open_store(lake).list("")) == []


def test_classify_says_what_a_folder_is() -> None:
    assert classify([COMMIT, MANIFEST, CLAIM, "x"]) is Layout.COMMITTED
    assert classify([COMMIT, "data_description.json"]) is Layout.COMMITTED
    assert classify([CLAIM, "data_description.json"]) is Layout.UPLOADING
    assert classify(["data_description.json", "x"]) is Layout.FOREIGN
    assert classify(["x", MANIFEST]) is Layout.STRAY
    assert classify([]) is Layout.STRAY


def test_manifest_and_claim_round_trip_and_read_tolerantly() -> None:
    manifest = Manifest("n", (ManifestEntry("b", 2, "f" * 64), ManifestEntry("a", 1, "e" * 64)))
    assert Manifest.from_bytes(manifest.to_bytes()) == dataclasses.replace(
        manifest, objects=tuple(sorted(manifest.objects, key=lambda e: e.path))
    )
    for bad in (b"[]", b'{"objects": [{"path": "a", "size": -1, "sha256": "x"}]}', b"{"):
        with pytest.raises(ValueError):
            Manifest.from_bytes(bad)
    claim = Claim.new("n", "f" * 64, "me")
    assert Claim.from_bytes(claim.to_bytes()) == claim
    assert claim.expires - claim.started == LEASE
    legacy = Claim.from_bytes(b'{"started": "2024-03-01T00:00:00+00:00", "pid": "x"}')
    assert legacy.pid == 0 and legacy.expires == legacy.started + LEASE
    assert Claim.from_bytes(b"not json").fingerprint == "?"


def test_commit_check_refuses_when_the_claim_was_taken_over(lake: str, tmp_path: Path) -> None:
    """An upload whose claim another upload took over (its lease ran out) commits nothing."""
    folder = make_raw_asset(tmp_path)
    store = open_store(lake)
    real_put_files = store.put_files
    other = claim_of(folder, host="rig-7").to_bytes()

    def put_files(files: Iterable[tuple[str, Path]], workers: int | None = None, **kwargs: Any):
        """While the data goes up, another upload takes the name over (the lease ran out)."""
        stored = store.get(f"{folder.name}/{CLAIM}") or b""
        store.swap(f"{folder.name}/{CLAIM}", stored, other)
        return real_put_files(files, workers, **kwargs)

    store.put_files = put_files  # type: ignore[method-assign]
    with pytest.raises(ConflictError, match="taken over by another upload while this one ran"):
        upload_folder(folder, store)
    assert not committed(store, folder.name)
    assert store.head(f"{folder.name}/{MANIFEST}") is None
    assert store.get(f"{folder.name}/{CLAIM}") == other
