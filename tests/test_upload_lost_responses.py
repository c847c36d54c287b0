"""Every kind of write of an upload survives a lost response, a reset and S3's 500/503/SlowDown,
injected by the proxy in front of moto (tests/faults.py): the upload commits one intact asset and
leaves nothing unfinished behind."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from factories import make_raw_asset
from faults import FaultProxy, Match, Request, key_endswith

from assetlake.asset import CLAIM, COMMIT, MANIFEST, Manifest
from assetlake.errors import UsageError
from assetlake.store import open_store, sha256_file
from assetlake.store._s3 import MIN_PART
from assetlake.upload import committed, upload_folder
from assetlake.verify import verify_asset

BIG = "raw.bin"  # above the part size: a multipart upload of two parts


def query_has(method: str, word: str) -> Match:
    def match(request: Request) -> bool:
        return (
            request.method == method
            and request.path.endswith(f"/{BIG}")
            and any(item.split("=", 1)[0] == word for item in request.query.split("&"))
        )

    return match


WRITES: dict[str, Match] = {
    "claim": key_endswith(f"/{CLAIM}"),
    "data object": key_endswith("/ecephys.zarr/0.0"),
    "manifest": key_endswith(f"/{MANIFEST}"),
    "commit marker": key_endswith(f"/{COMMIT}"),
    "multipart create": query_has("POST", "uploads"),
    "multipart part": query_has("PUT", "partNumber"),
    "multipart complete": query_has("POST", "uploadId"),
}
CASES = [("drop", write) for write in WRITES] + [
    ("reset", "claim"),
    ("500", "multipart part"),
    ("503", "commit marker"),
    ("slowdown", "data object"),
    ("delay", "manifest"),
]


def asset_with_a_big_file(parent: Path) -> Path:
    folder = make_raw_asset(parent)
    (folder / BIG).write_bytes(bytes(range(256)) * (MIN_PART // 256 + 4))
    return folder


@pytest.mark.parametrize(("fault", "write"), CASES)
def test_a_fault_on_any_write_still_commits_one_intact_asset(
    s3_lake: str, proxy: FaultProxy, tmp_path: Path, fault: str, write: str
) -> None:
    folder = asset_with_a_big_file(tmp_path)
    rule = proxy.add(WRITES[write], fault, seconds=0.5)
    store = open_store(s3_lake, part_size=MIN_PART)
    result = upload_folder(folder, store, workers=2)
    assert rule.hits == 1, f"the {write} was never {fault}ed"
    assert result.took_over is None
    report = verify_asset(store, folder.name)
    assert report.ok, report.problems()
    assert store.leftovers(f"{folder.name}/") == []
    files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    stored = {i.key.removeprefix(f"{folder.name}/") for i in store.list(f"{folder.name}/")}
    assert stored == {*files, CLAIM, MANIFEST, COMMIT}


def test_reads_survive_faults_too(s3_lake: str, proxy: FaultProxy, tmp_path: Path) -> None:
    folder = asset_with_a_big_file(tmp_path)
    store = open_store(s3_lake, part_size=MIN_PART)
    upload_folder(folder, store, workers=2)
    rules = [
        proxy.add(lambda r: r.method == "GET" and "list-type=2" in r.query, "503"),
        proxy.add(lambda r: r.method == "GET" and r.path.endswith(f"/{MANIFEST}"), "reset"),
        proxy.add(lambda r: r.method == "GET" and r.path.endswith("/0.0"), "slowdown"),
        proxy.add(lambda r: r.method == "GET" and r.path.endswith(f"/{BIG}"), "drop"),
    ]
    assert verify_asset(store, folder.name).ok
    assert [rule.hits for rule in rules] == [1, 1, 1, 1]


@pytest.mark.parametrize("write", ["data object", "multipart part"])
def test_a_file_that_changes_while_uploaded_is_refused_and_resumes(
    s3_lake: str, proxy: FaultProxy, tmp_path: Path, write: str
) -> None:
    """The proxy holds the file's PUT (a whole object, or its first part) while the test appends
    to the file; the upload refuses it, commits nothing, and once the file is settled the same
    command commits what the file now holds."""
    folder = asset_with_a_big_file(tmp_path)
    path = folder / ("ecephys.zarr/0.0" if write == "data object" else BIG)
    rule = proxy.add(WRITES[write], "hold")
    store = open_store(s3_lake, part_size=MIN_PART)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            upload_folder(folder, store, workers=2)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        assert rule.arrived.wait(120)
        with open(path, "ab") as stream:
            stream.write(b"grown")
    finally:
        rule.release.set()
        thread.join()
    assert len(outcome) == 1 and isinstance(outcome[0], UsageError), outcome
    # Caught after the send (size and mtime) or, when the checksumming read saw the appended
    # bytes first, by the composite CRC32 S3 stored: one line either way, naming the file.
    assert re.fullmatch(
        re.escape(f"{path}: ")
        + r"(changed while being uploaded; nothing was committed:|grew while being uploaded;)"
        + re.escape(" let whatever writes it finish, then run the upload again"),
        str(outcome[0]),
    ), outcome[0]
    assert not committed(store, folder.name)
    assert store.head(f"{folder.name}/{path.relative_to(folder).as_posix()}") is None
    assert upload_folder(folder, store).took_over is None  # the claim was this process's
    assert verify_asset(store, folder.name).ok
    manifest = Manifest.from_bytes(store.get(f"{folder.name}/{MANIFEST}") or b"")
    entry = next(e for e in manifest.objects if e.path == path.relative_to(folder).as_posix())
    assert (entry.size, entry.sha256) == (path.stat().st_size, sha256_file(path))


def test_leaving_a_bulk_upload_early_waits_for_no_held_request(
    s3_lake: str, proxy: FaultProxy, tmp_path: Path
) -> None:
    """The proxy holds one small file's PUT; the caller takes every other answer and leaves.
    Leaving cancels the held request instead of waiting for it: it returns while the request is
    still held, and the held file was never reported sent."""
    files = []
    for n in range(20):
        path = tmp_path / f"f{n:02}"
        path.write_bytes(n.to_bytes(2, "big") * 100)
        files.append((f"a_b/f{n:02}", path))
    rule = proxy.add(key_endswith("/a_b/f07"), "hold")
    store = open_store(s3_lake)
    sent = store.put_files(files)
    answers = [next(sent) for _ in range(19)]
    assert rule.arrived.wait(120) and "a_b/f07" not in {key for key, _ in answers}
    closing = threading.Thread(target=sent.close)
    try:
        closing.start()
        closing.join(120)  # a guard: the close needs no release to return
        assert not closing.is_alive() and not rule.release.is_set()
    finally:
        rule.release.set()
        closing.join()
