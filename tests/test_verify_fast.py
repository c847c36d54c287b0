"""``verify --fast``: sizes and the CRC32s S3 stores against the manifest, reading no data.

Requests are counted at the fault proxy in front of moto: a fast verify GETs the commit document
and the manifest, and no data object.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from factories import make_raw_asset
from faults import FaultProxy
from test_verify import tamper

from assetlake.asset import COMMIT, MANIFEST, Manifest
from assetlake.store import open_store
from assetlake.store._s3 import MiB
from assetlake.upload import upload_folder
from assetlake.verify import Changed, verify_asset

CHUNK = "ecephys.zarr/0.0"


def data_gets(proxy: FaultProxy, name: str) -> list[str]:
    """Paths of GETs of the asset's objects other than the commit document and the manifest."""
    return [
        r.path
        for r in proxy.requests
        if r.method == "GET"
        and f"/{name}/" in r.path
        and not r.path.endswith((f"/{COMMIT}", f"/{MANIFEST}"))
    ]


@pytest.fixture
def asset(s3_lake: str, proxy: FaultProxy, tmp_path: Path) -> tuple[str, str]:
    folder = make_raw_asset(tmp_path)
    big = folder / "video.mp4"
    big.write_bytes(os.urandom(11 * MiB + 7))  # three 5 MiB parts: a composite CRC32
    upload_folder(folder, open_store(s3_lake, part_size=5 * MiB))
    proxy.requests.clear()
    return s3_lake, folder.name


def test_intact_asset_reads_no_data(asset: tuple[str, str], proxy: FaultProxy, cli) -> None:
    lake, name = asset
    entries = Manifest.from_bytes(open_store(lake).get(f"{name}/{MANIFEST}") or b"").objects
    video = next(e for e in entries if e.path == "video.mp4")
    assert video.part_size == 5 * MiB and video.crc32_composite.endswith("-3")  # type: ignore[union-attr]
    proxy.requests.clear()
    report = verify_asset(lake, name, fast=True)
    assert report.ok and report.complete and report.checked == len(entries)
    assert data_gets(proxy, name) == []
    heads = [r for r in proxy.requests if r.method == "HEAD"]
    assert len(heads) == len(entries)
    result = cli("verify", name, "--lake", lake, "--fast")
    assert result.code == 0 and "no data read" in result.out


def test_replaced_and_truncated_objects_are_caught_without_reading(
    asset: tuple[str, str], proxy: FaultProxy, cli
) -> None:
    lake, name = asset
    store = open_store(lake)
    chunk = store.get(f"{name}/{CHUNK}") or b""
    replaced = bytes([chunk[0] ^ 1]) + chunk[1:]  # same size, other bytes
    put_with_crc32(lake, f"{name}/{CHUNK}", replaced)  # as today's AWS tools write
    tamper(lake, f"{name}/video.mp4", (store.get(f"{name}/video.mp4") or b"")[:-1])
    proxy.requests.clear()
    report = verify_asset(lake, name, fast=True)
    assert report.changed == [
        Changed(CHUNK, "CRC32 differs from the manifest"),
        Changed("video.mp4", f"size {11 * MiB + 6}, manifest says {11 * MiB + 7}"),
    ]
    assert data_gets(proxy, name) == []
    result = cli("verify", name, "--lake", lake, "--fast")
    assert result.code == 1
    assert f"changed: {name}/{CHUNK} (CRC32 differs from the manifest)" in result.out
    assert result.err.count("\n") == 1 and "does not match its manifest" in result.err


def test_object_replaced_without_a_checksum_is_unchecked(asset: tuple[str, str]) -> None:
    lake, name = asset
    tamper(lake, f"{name}/{CHUNK}", b"y" * len(open_store(lake).get(f"{name}/{CHUNK}") or b""))
    report = verify_asset(lake, name, fast=True)
    assert report.ok and report.unchecked == [Changed(CHUNK, "the lake stores no CRC32 for it")]
    assert not verify_asset(lake, name).ok


def put_with_crc32(lake: str, key: str, data: bytes) -> None:
    store = open_store(lake)
    store.client.put_object(  # type: ignore[attr-defined]
        Bucket=store.bucket,  # type: ignore[attr-defined]
        Key=key,
        Body=data,
        ChecksumAlgorithm="CRC32",
    )


def test_old_manifest_is_not_fast_checkable(asset: tuple[str, str], proxy: FaultProxy, cli) -> None:
    """A manifest of version 1 (no CRC32s): every object is reported unchecked, with why."""
    lake, name = asset
    store = open_store(lake)
    manifest = json.loads(store.get(f"{name}/{MANIFEST}") or b"")
    manifest["schema_version"] = "1"
    for entry in manifest["objects"]:
        for key in ("crc32", "part_size", "crc32_composite"):
            entry.pop(key, None)
    old = json.dumps(manifest).encode()
    document = json.loads(store.get(f"{name}/{COMMIT}") or b"")
    document["assetlake"]["manifest_sha256"] = hashlib.sha256(old).hexdigest()
    tamper(lake, f"{name}/{MANIFEST}", old)
    tamper(lake, f"{name}/{COMMIT}", json.dumps(document).encode())
    proxy.requests.clear()
    report = verify_asset(lake, name, fast=True)
    assert report.ok and not report.complete
    assert len(report.unchecked) == report.checked
    assert {c.why for c in report.unchecked} == {
        "its manifest entry has no CRC32 (uploaded before assetlake recorded them)"
    }
    assert data_gets(proxy, name) == [] and not [r for r in proxy.requests if r.method == "HEAD"]
    result = cli("verify", name, "--lake", lake, "--fast")
    assert result.code == 1
    assert f"unchecked: {report.checked} object(s) such as {name}/" in result.out
    assert "without --fast" in result.err and result.err.count("\n") == 1
    assert verify_asset(lake, name).ok  # plain verify still checks it, by reading


def test_fast_on_a_local_lake_is_refused_with_one_line(
    local_lake: str, tmp_path: Path, cli
) -> None:
    """Chosen: a local folder stores no checksum, and size + mtime would prove little."""
    folder = make_raw_asset(tmp_path)
    upload_folder(folder, local_lake)
    result = cli("verify", folder.name, "--lake", local_lake, "--fast")
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and "without --fast" in result.err


def test_fast_heads_retry_slowdown_and_name_the_object_when_denied(
    asset: tuple[str, str], proxy: FaultProxy, cli
) -> None:
    """The HEADs of a fast verify (awscrt) back off on 503 SlowDown and 500 and end as if none
    happened; a HEAD that S3 denies ends the verify with one line naming the object."""
    lake, name = asset
    is_head = lambda request: request.method == "HEAD"  # noqa: E731
    proxy.add(is_head, "slowdown", times=2)
    proxy.add(is_head, "500", times=1)
    report = verify_asset(lake, name, fast=True)
    assert report.ok and report.complete and proxy.injected == 3
    proxy.add(lambda r: is_head(r) and r.path.endswith("/video.mp4"), "denied", times=100)
    result = cli("verify", name, "--lake", lake, "--fast")
    assert result.code != 0 and result.err.count("\n") == 1, result.err
    assert f"{lake}/{name}/video.mp4: access denied" in result.err
