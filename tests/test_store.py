"""The storage layer, once for both backends: create-only writes, listing, streaming, errors."""

from __future__ import annotations

import base64
import os
import zlib
from pathlib import Path

import pytest

from assetlake.errors import LakeError, ObjectExistsError, UsageError
from assetlake.store import RESERVED_PREFIX, normalise_lake_url, open_store, sha256_file


def test_put_is_create_only(lake: str) -> None:
    store = open_store(lake)
    store.put("a_b/x.json", b"one")
    with pytest.raises(ObjectExistsError):
        store.put("a_b/x.json", b"two")
    assert store.get("a_b/x.json") == b"one"
    assert store.get("a_b/missing") is None


def test_overwrite_only_under_reserved_prefix(lake: str) -> None:
    store = open_store(lake)
    store.put(RESERVED_PREFIX + "c.parquet", b"1")
    store.put(RESERVED_PREFIX + "c.parquet", b"2", overwrite=True)
    assert store.get(RESERVED_PREFIX + "c.parquet") == b"2"
    store.put("asset/x", b"1")
    with pytest.raises(UsageError, match="immutable"):
        store.put("asset/x", b"2", overwrite=True)


@pytest.mark.parametrize("size", [0, 1000, 5 * (1 << 20) + 17])
def test_put_file_streams_and_hashes(lake: str, tmp_path: Path, size: int) -> None:
    store = open_store(lake, **({"part_size": 1 << 20} if lake.startswith("s3") else {}))
    src = tmp_path / "blob.bin"
    src.write_bytes(bytes(range(256)) * (size // 256) + b"z" * (size % 256))
    seen: list[int] = []
    digest = store.put_file("x/blob.bin", src, progress=seen.append)
    assert digest == sha256_file(src) == store.sha256("x/blob.bin")
    assert sum(seen) == size
    info = store.head("x/blob.bin")
    assert info is not None and info.size == size
    assert store.same_content(next(store.list("x/")), src)
    other = tmp_path / "other.bin"
    other.write_bytes(b"q" * size)
    assert size == 0 or not store.same_content(next(store.list("x/")), other)
    with pytest.raises(ObjectExistsError):
        store.put_file("x/blob.bin", src)


def test_listing(lake: str) -> None:
    store = open_store(lake)
    for key in ["a_1/x", "a_1/sub/y", "b_2/z", "stray.txt"]:
        store.put(key, b"data")
    assert store.list_dirs() == ["a_1", "b_2"]
    assert sorted(i.key for i in store.list("a_1/")) == ["a_1/sub/y", "a_1/x"]
    assert dict(store.get_many(["a_1/x", "nope"])) == {"a_1/x": b"data", "nope": None}


def test_missing_lake_is_one_clear_error(tmp_path: Path, moto_server: str) -> None:
    with pytest.raises(LakeError, match="does not exist"):
        open_store(str(tmp_path / "nowhere")).check()
    with pytest.raises(LakeError, match="bucket 'no-such-bucket' does not exist"):
        open_store("s3://no-such-bucket").check()
    with pytest.raises(UsageError, match="not supported"):
        open_store("gs://bucket")


def test_every_spelling_of_a_lake_normalises_to_its_store_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_server: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    local = (tmp_path / "lake").as_uri()
    spellings = ["lake", "./lake", "lake/", "~/lake", str(tmp_path / "lake"), local, local + "/"]
    for spelling in spellings:
        assert (normalise_lake_url(spelling), open_store(spelling).url) == (local, local), spelling
    spaced = (tmp_path / "a b").as_uri()
    assert spaced.endswith("/a%20b")
    assert normalise_lake_url("a b") == normalise_lake_url(spaced) == spaced
    assert open_store("a b").url == spaced
    for spelling, url in [
        ("s3://b", "s3://b"),
        ("s3://b/", "s3://b"),
        ("s3://b/p/", "s3://b/p"),
        ("s3://b//p/q//", "s3://b/p/q"),
    ]:
        assert (normalise_lake_url(spelling), open_store(spelling).url) == (url, url), spelling
    assert normalise_lake_url("gs://b/") == "gs://b/"


def test_a_local_lake_url_round_trips_through_its_store(tmp_path: Path) -> None:
    folder = tmp_path / "lab lake #1"
    store = open_store(str(folder))
    store.create()
    store.put("a_b/x", b"1")
    assert open_store(store.url).get("a_b/x") == b"1"
    assert "%20" in store.url and open_store(store.url).url == store.url


def test_s3_checks_every_object_and_part_against_our_crc32(s3_lake: str, tmp_path: Path) -> None:
    """Each body carries the CRC32 of the bytes that were hashed for the manifest; a multipart
    upload declares CRC32, so S3 keeps a composite of the part CRCs (not a full-object re-read)."""
    store = open_store(s3_lake, part_size=5 << 20)
    src = tmp_path / "big.bin"
    src.write_bytes(bytes(range(256)) * (11 << 12))  # 11 MiB: parts of 5, 5 and 1 MiB
    store.put_file("x/big.bin", src)
    store.put("x/small.json", b"{}")
    client = store.client  # type: ignore[attr-defined]
    data = src.read_bytes()
    parts = [
        zlib.crc32(data[i : i + (5 << 20)]).to_bytes(4, "big") for i in range(0, len(data), 5 << 20)
    ]
    composite = base64.b64encode(zlib.crc32(b"".join(parts)).to_bytes(4, "big")).decode()
    big = client.head_object(Bucket=store.bucket, Key="x/big.bin", ChecksumMode="ENABLED")  # type: ignore[attr-defined]
    assert big["ChecksumCRC32"] in (composite, f"{composite}-3")  # moto leaves off the "-3"
    small = client.head_object(Bucket=store.bucket, Key="x/small.json", ChecksumMode="ENABLED")  # type: ignore[attr-defined]
    assert small["ChecksumCRC32"] == base64.b64encode(zlib.crc32(b"{}").to_bytes(4, "big")).decode()


def test_a_file_that_shrinks_while_uploading_is_refused_and_leaves_nothing(
    s3_lake: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(s3_lake, part_size=5 << 20)
    src = tmp_path / "shrinking.bin"
    src.write_bytes(b"x" * (11 << 20))
    real = os.preadv
    # The first part reads in full; by the second the writer has cut the file short.
    monkeypatch.setattr(os, "preadv", lambda fd, bufs, at: real(fd, bufs, at) if at == 0 else 17)
    with pytest.raises(UsageError, match="shrank while being uploaded"):
        store.put_file("x/shrinking.bin", src)
    monkeypatch.undo()
    assert store.head("x/shrinking.bin") is None
    client = store.client  # type: ignore[attr-defined]
    assert "Uploads" not in client.list_multipart_uploads(Bucket=store.bucket)  # aborted
