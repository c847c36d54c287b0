"""The storage layer, once for both backends: create-only writes, listing, streaming, errors."""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assetlake.asset import CLAIM, COMMIT
from assetlake.catalogue import Catalogue
from assetlake.catalogue.publish import publish_catalogue
from assetlake.checksums import file_checksums
from assetlake.errors import LakeError, ObjectExistsError, TooDeepError, UsageError
from assetlake.index import index_lake
from assetlake.store import (
    MAX_KEY_BYTES,
    RESERVED_PREFIX,
    normalise_lake_url,
    open_store,
    sha256_file,
)
from tests.factories import make_raw_asset
from tests.test_index import commit, sample_sidecars

ASSET = "ecephys_654321_2023-05-04_10-11-12"
SECRET = "SECRET-TOKEN-0123456789"
UNSAFE = re.escape("an empty, '.' or '..' part")


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
    found = store.put_file("x/blob.bin", src, progress=seen.append)
    # The checksums of the bytes sent, from the read that sent them: those a second read gives.
    assert found == file_checksums(src, store.parts_for(size))
    assert found.sha256 == sha256_file(src) == store.sha256("x/blob.bin")
    assert (found.part_size is not None) == (lake.startswith("s3") and size > 1 << 20)
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
    s3_lake: str, tmp_path: Path
) -> None:
    """The writer cuts the file short once the first part is sent: whichever read sees the cut
    (awscrt's of a later part, or the one that checksums the file), the upload is refused and
    leaves no object and no unfinished upload; if neither did, what was returned is what S3
    stored."""
    store = open_store(s3_lake, part_size=5 << 20)
    src = tmp_path / "shrinking.bin"
    src.write_bytes(b"x" * (31 << 20))

    def cut(sent: int) -> None:
        with open(src, "r+b") as stream:
            stream.truncate(17)

    try:
        found = store.put_file("x/shrinking.bin", src, progress=cut)
    except UsageError as error:
        assert "shrank while being uploaded" in str(error)
        assert store.head("x/shrinking.bin") is None
    else:
        stored = store.get("x/shrinking.bin")
        assert stored is not None and hashlib.sha256(stored).hexdigest() == found.sha256
    client = store.client  # type: ignore[attr-defined]
    assert "Uploads" not in client.list_multipart_uploads(Bucket=store.bucket)  # aborted


# -- a lake is never inside an asset, and no key leaves the lake ---------------------------------
@pytest.mark.parametrize("marker", [COMMIT, CLAIM, "data_description.json"])
def test_a_lake_inside_an_asset_is_refused(lake: str, marker: str) -> None:
    store = open_store(lake)
    store.put(f"{ASSET}/{marker}", b"{}")
    store.put(f"foreign/{marker}", b"{}")  # not an asset name: found by its marker
    for inside in (f"{lake}/{ASSET}", f"{lake}/{ASSET}/sub"):
        with pytest.raises(UsageError, match=f"{ASSET} is an asset name, and a lake cannot be"):
            open_store(inside)
    for inside in (f"{lake}/foreign", f"{lake}/foreign/deeper/still"):
        with pytest.raises(
            LakeError,
            match=rf"foreign is an asset \(it holds {re.escape(marker)}\), so this is not a lake root",
        ):
            inside_store = open_store(inside)
            inside_store.create()
            inside_store.check()
    store.check()  # the lake's own root is fine


def test_upload_to_a_lake_inside_an_asset_writes_nothing(
    s3_lake: str, tmp_path: Path, cli: Any
) -> None:
    folder = make_raw_asset(tmp_path / "a")
    assert cli("upload", folder, "--lake", s3_lake).code == 0
    before = sorted(info.key for info in open_store(s3_lake).list(""))
    other = make_raw_asset(tmp_path / "b", subject_id="654321")
    result = cli("upload", other, "--lake", f"{s3_lake}/{folder.name}")
    assert result.code == 2 and result.out == "" and result.err.count("\n") == 1
    assert f"{folder.name} is an asset name" in result.err
    assert sorted(info.key for info in open_store(s3_lake).list("")) == before


@pytest.mark.parametrize(
    "url", ["file://", "s3://bucket/../up", "s3://bucket/a/./b", "s3://b/a//b"]
)
def test_lake_urls_that_name_no_folder_or_climb_out_are_refused(url: str, cli: Any) -> None:
    with pytest.raises(UsageError, match=f"no folder path|{UNSAFE}"):
        open_store(url)
    result = cli("index", "--lake", url)
    assert result.code == 2 and result.err.count("\n") == 1 and "Traceback" not in result.err


@pytest.mark.parametrize("key", ["../x", "a/../../x", "a//b", "/abs", "a/./b", ""])
def test_keys_that_could_leave_the_lake_are_refused(lake: str, key: str) -> None:
    store = open_store(lake)
    with pytest.raises(UsageError, match=UNSAFE):
        store.put(key, b"x")
    with pytest.raises(UsageError, match=UNSAFE):
        store.get(key)
    with pytest.raises(UsageError, match=UNSAFE):
        list(store.list("../"))


def test_an_invalid_bucket_name_is_one_line_that_does_not_blame_the_network(
    cli: Any, moto_server: str
) -> None:
    result = cli("index", "--lake", "s3://Bad_Bucket!")
    assert result.code == 2 and result.out == ""
    assert result.err == (
        "assetlake: error: lake 's3://Bad_Bucket!': 'Bad_Bucket!' is not a valid bucket name "
        "(letters, digits, '.' and '-', starting and ending with a letter or digit); fix --lake\n"
    )


@pytest.mark.parametrize(
    ("code", "says"),
    [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "the file system is read-only")],
)
def test_a_full_or_read_only_local_lake_is_one_clear_line(
    local_lake: str,
    tmp_path: Path,
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    says: str,
) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "link", fail)  # the step that makes every local object visible
    store = open_store(local_lake)
    with pytest.raises(LakeError, match=f"cannot write: {says}"):
        store.put("a_b/x", b"1")
    result = cli("upload", make_raw_asset(tmp_path / "a"), "--lake", local_lake)
    assert result.code == 1 and result.err.count("\n") == 1, result.err
    assert f"cannot write: {says}" in result.err and "unexpected" not in result.err


# -- a local lake: links and special files are not objects -----------------------------------------
def foreign_asset(lake: Path) -> Path:
    """A foreign AIND-style asset folder (no commit), as other tools leave them."""
    folder = lake / ASSET
    folder.mkdir(parents=True)
    description = {"name": ASSET, "modality": ["ecephys"], "subject_id": "654321"}
    (folder / "data_description.json").write_text(json.dumps(description))
    return folder


def test_a_local_lake_never_follows_links_out_of_it(local_lake: str, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "credentials.json"
    secret.write_text(json.dumps({"session_start_time": "2023-05-04T10:11:12", "token": SECRET}))
    folder = foreign_asset(Path(local_lake))
    (folder / "session.json").symlink_to(secret)  # a sidecar that is a link to a secret
    (folder / "ecephys").symlink_to(outside, target_is_directory=True)  # a linked data folder
    (Path(local_lake) / "ecephys_654321_2023-05-05_10-11-12").symlink_to(outside)  # linked asset

    store = open_store(local_lake)
    assert [info.key for info in store.list(f"{ASSET}/")] == [f"{ASSET}/data_description.json"]
    assert store.list_dirs() == [ASSET]
    assert store.get(f"{ASSET}/session.json") is None
    assert store.head(f"{ASSET}/session.json") is None
    assert store.get(f"{ASSET}/ecephys/credentials.json") is None
    assert list(store.list(f"{ASSET}/ecephys/")) == []
    with pytest.raises(FileNotFoundError):
        store.open(f"{ASSET}/session.json")
    with pytest.raises(LakeError, match="symbolic link; the lake never writes through links"):
        store.put(f"{ASSET}/ecephys/planted.txt", b"x")
    assert not (outside / "planted.txt").exists()

    catalogue_file = tmp_path / "c.sqlite"
    with Catalogue(catalogue_file) as catalogue:
        index_lake(store, catalogue)
        record = catalogue.get(ASSET)
        assert record is not None and "session" not in record.metadata
        publish_catalogue(catalogue, store)
    assert SECRET.encode() not in catalogue_file.read_bytes()
    published = list(store.list(RESERVED_PREFIX))
    assert any(info.key.endswith(".parquet") for info in published)
    assert not any(SECRET.encode() in (store.get(info.key) or b"") for info in published)


def test_index_of_a_local_lake_with_a_fifo_finishes(local_lake: str, tmp_path: Path) -> None:
    """A FIFO would block an open() forever (and Ctrl-C with it): the store never opens one."""
    folder = foreign_asset(Path(local_lake))
    os.mkfifo(folder / "subject.json")
    os.mkfifo(Path(local_lake) / "stray-fifo")
    assert [info.key for info in open_store(local_lake).list("")] == [
        f"{ASSET}/data_description.json"
    ]
    command = [sys.executable, "-c", "from assetlake.cli import main; main()", "index"]
    index = subprocess.Popen(
        [*command, "--lake", local_lake, "--catalogue", str(tmp_path / "c.sqlite")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = index.communicate(timeout=300)  # a guard against a hang, not a speed limit
        assert index.returncode == 0, err
        assert out.startswith("indexed 1 new, removed 0, 1 total (")
    finally:
        if index.poll() is None:
            os.killpg(index.pid, signal.SIGKILL)
            index.wait()


@pytest.fixture
def nest() -> Iterator[Callable[[Path, int], Path]]:
    """Make ``depth`` folders nested one in another under a folder, a file at the bottom; each
    is removed after the test bottom-up, one level at a time (shutil.rmtree, and so pytest's own
    clean-up of old temporary folders, recurses once per level and would fail on them)."""
    made: list[Path] = []

    def make(folder: Path, depth: int) -> Path:
        deepest = folder
        deepest.mkdir(exist_ok=True)
        for _ in range(depth):  # not mkdir(parents=True), which recurses once per level
            deepest = deepest / "a"
            deepest.mkdir()
            made.append(deepest)
        (deepest / "x").write_bytes(b"x")
        return deepest / "x"

    yield make
    for folder in reversed(made):
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


def test_a_local_lake_lists_as_deep_as_a_key_reaches_and_refuses_deeper(
    local_lake: str, nest: Callable[[Path, int], Path]
) -> None:
    """The walk keeps its own stack: no depth of folders overflows Python's, and a folder deeper
    than any S3 key (1,024 bytes) is one clear error, never a RecursionError."""
    store = open_store(local_lake)
    reachable = (MAX_KEY_BYTES - len(ASSET) - 2) // 2  # "<ASSET>/" + "a/" * depth + "x"
    deepest = nest(Path(local_lake) / ASSET, reachable)
    key = deepest.relative_to(local_lake).as_posix()
    assert len(key.encode()) == MAX_KEY_BYTES
    assert [info.key for info in store.list(f"{ASSET}/")] == [key]
    assert store.leftovers(f"{ASSET}/") == []
    nest(deepest.parent, 1)  # one level more: "a/x" under the deepest folder
    with pytest.raises(TooDeepError, match=r"deeper than an object's key can reach \(1024"):
        list(store.list(f"{ASSET}/"))
    other = "ecephys_654321_2023-05-05_10-11-12"
    nest(Path(local_lake) / other, 1200)
    for prefix in (f"{other}/", ""):
        with pytest.raises(TooDeepError) as refused:
            list(store.list(prefix))
        assert "\n" not in str(refused.value) and str(refused.value).endswith(
            "flatten or shorten its path"
        )
    with pytest.raises(TooDeepError):
        store.leftovers(f"{other}/")


def test_index_makes_a_foreign_asset_nested_too_deep_invalid_and_finds_the_rest(
    local_lake: str, tmp_path: Path, cli: Any, nest: Callable[[Path, int], Path]
) -> None:
    """1,200 nested folders in a foreign asset raised RecursionError out of every index run."""
    folder = foreign_asset(Path(local_lake))
    nest(folder, 1200)
    good = "ecephys_654321_2023-05-05_10-11-12"
    commit(open_store(local_lake), good, sample_sidecars(good))
    path = tmp_path / "c.sqlite"
    result = cli("index", "--lake", local_lake, "--catalogue", path)
    assert result.code == 0, result.err
    assert result.out.startswith("indexed 2 new, removed 0, 2 total (1 invalid, 0 unverified)")
    with Catalogue(path) as catalogue:
        assert catalogue.get(good).status == "valid"
        deep = catalogue.get(ASSET)
    assert deep.status == "invalid"
    [problem] = [p for p in deep.problems if "deeper than an object's key" in p["message"]]
    assert problem["severity"] == "error"
    assert cli("show", ASSET, "--catalogue", path).code == 0


def test_an_upload_refuses_a_file_link_and_writes_nothing(
    lake: str, tmp_path: Path, cli: Any
) -> None:
    """Refused with one line, not stored as a link: a link to /etc/passwd or a credentials file
    must never put that file in the bucket."""
    secret = tmp_path / "credentials"
    secret.write_text(SECRET)
    folder = make_raw_asset(tmp_path / "a")
    link = folder / "ecephys.zarr" / "leak.txt"
    link.symlink_to(secret)
    result = cli("upload", folder, "--lake", lake)
    assert result.code == 2 and result.out == ""
    assert result.err == (
        f"assetlake: error: {link}: is a symbolic link, and uploads never follow links; copy the "
        "file it points to into the asset folder instead\n"
    )
    assert list(open_store(lake).list("")) == []


@pytest.mark.parametrize("page", [3, 1000])
def test_a_listing_from_expected_keys_is_the_plain_listing(
    lake: str, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    """Ranges between expected keys (three to a page, so that every range boundary, a range
    holding more than expected and one holding less are crossed) list what a plain listing does:
    extra objects, missing ones, objects before the first and after the last expected key, and
    nothing outside the prefix."""
    import assetlake.store._s3 as s3

    monkeypatch.setattr(s3, "PAGE", page)
    store = open_store(lake)
    stored = [f"{ASSET}/d/{n:02}" for n in range(0, 40, 2)]
    for key in [*stored, f"{ASSET}/a", f"{ASSET}/z", f"{ASSET}x/out", "other/y"]:
        store.put(key, key.encode())
    expected = [*stored[3:15], f"{ASSET}/d/05", f"{ASSET}/d/07", f"{ASSET}/d/99"]
    plain = list(store.list(f"{ASSET}/"))
    assert len(plain) == len(stored) + 2
    assert list(store.list_expected(f"{ASSET}/", reversed(expected))) == plain
    assert list(store.list_expected(f"{ASSET}/", [])) == plain
