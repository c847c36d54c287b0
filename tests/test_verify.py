"""Verify re-reads every object of a committed asset against its manifest, on both backends."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from factories import make_raw_asset

from assetlake.asset import CLAIM, COMMIT, MANIFEST
from assetlake.errors import AssetNotFoundError, IntegrityError
from assetlake.store import open_store
from assetlake.units import format_size
from assetlake.upload import upload_folder
from assetlake.verify import Changed, verify_asset

CHUNK = "ecephys.zarr/0.0"


def tamper(lake: str, key: str, data: bytes | None) -> None:
    """Change the lake behind assetlake's back (it never overwrites or deletes): write or delete."""
    store = open_store(lake)
    if lake.startswith("s3://"):
        client, bucket = store.client, store.bucket  # type: ignore[attr-defined]
        if data is None:
            client.delete_object(Bucket=bucket, Key=key)
        else:
            client.put_object(Bucket=bucket, Key=key, Body=data)
    elif data is None:
        Path(lake, key).unlink()
    else:
        Path(lake, key).write_bytes(data)


@pytest.fixture
def asset(lake: str, tmp_path: Path) -> tuple[str, str, Path]:
    folder = make_raw_asset(tmp_path)
    upload_folder(folder, lake)
    return lake, folder.name, folder


def test_intact_asset(asset: tuple[str, str, Path], cli) -> None:
    lake, name, folder = asset
    files = [p for p in folder.rglob("*") if p.is_file()]
    report = verify_asset(lake, name)
    assert report.ok and report.problems() == []
    assert report.checked == len(files) + 1
    result = cli("verify", name, "--lake", lake)
    assert result.code == 0 and result.err == ""
    assert result.out == f"intact: {name} ({len(files) + 1} objects, {format_size(report.size)})\n"
    data = json.loads(cli("verify", name, "--lake", lake, "--json").out)
    assert data["ok"] is True and data["checked"] == len(files) + 1


def test_changed_missing_and_unexpected_objects(asset: tuple[str, str, Path], cli) -> None:
    lake, name, folder = asset
    chunk = (folder / CHUNK).read_bytes()
    tamper(lake, f"{name}/{CHUNK}", bytes(b ^ 1 for b in chunk))
    tamper(lake, f"{name}/ecephys.zarr/.zarray", b"{}")
    tamper(lake, f"{name}/subject.json", None)
    tamper(lake, f"{name}/ecephys.zarr/stray", b"x")
    report = verify_asset(lake, name)
    assert not report.ok
    assert report.missing == ["subject.json"]
    zarray = (folder / "ecephys.zarr" / ".zarray").stat().st_size
    assert report.changed == [
        Changed("ecephys.zarr/.zarray", f"size 2, manifest says {zarray}"),
        Changed(CHUNK, "sha256 differs from the manifest"),
    ]
    assert report.unexpected == ["ecephys.zarr/stray"]
    result = cli("verify", name, "--lake", lake)
    assert result.code == 1
    assert result.out.splitlines() == [
        f"missing: {name}/subject.json",
        f"changed: {name}/ecephys.zarr/.zarray (size 2, manifest says {zarray})",
        f"changed: {name}/{CHUNK} (sha256 differs from the manifest)",
        f"unexpected: {name}/ecephys.zarr/stray (not in the manifest)",
    ]
    assert result.err.startswith(f"assetlake: error: asset {name} does not match its manifest (4 ")
    assert len(result.err.splitlines()) == 1
    data = json.loads(cli("verify", name, "--lake", lake, "--json").out)
    assert data["ok"] is False and data["missing"] == ["subject.json"]


def test_swapped_manifest_is_detected(asset: tuple[str, str, Path]) -> None:
    lake, name, _ = asset
    store = open_store(lake)
    manifest = json.loads(store.get(f"{name}/{MANIFEST}") or b"")
    manifest["objects"] = [e for e in manifest["objects"] if e["path"] != CHUNK]
    tamper(lake, f"{name}/{MANIFEST}", json.dumps(manifest).encode())
    report = verify_asset(lake, name)
    assert report.changed == [Changed(MANIFEST, f"sha256 differs from {COMMIT}")]
    assert report.unexpected == [CHUNK]
    tamper(lake, f"{name}/{MANIFEST}", None)
    assert verify_asset(lake, name).missing == [MANIFEST]


def test_uncommitted_and_foreign_assets(lake: str, tmp_path: Path, cli) -> None:
    store = open_store(lake)
    name = "ecephys_123456_2024-03-01_14-05-09"
    store.put(f"{name}/{CLAIM}", b"{}")
    with pytest.raises(AssetNotFoundError, match=f"asset {name} is not committed"):
        verify_asset(lake, name)
    result = cli("verify", name, "--lake", lake)
    assert result.code == 1 and result.out == ""
    assert result.err.startswith(f"assetlake: error: asset {name} is not committed in ")
    foreign = "ecephys_654321_2024-03-01_14-05-09"
    store.put(f"{foreign}/{COMMIT}", json.dumps({"name": foreign}).encode())
    with pytest.raises(IntegrityError, match="not uploaded by assetlake"):
        verify_asset(lake, foreign)
    bad = cli("verify", "not/a name", "--lake", lake)
    assert bad.code == 1 and bad.err.count("\n") == 1 and "asset name" in bad.err
