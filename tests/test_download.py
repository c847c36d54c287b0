"""``assetlake download``: verified copies, resume by hash (also after SIGKILL), include/exclude,
hostile names from the bucket, corrupted objects, and refusals of what is not a committed asset."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from factories import make_raw_asset
from faults import FaultProxy, Request
from test_verify import tamper

from assetlake.asset import CLAIM, COMMIT, MANIFEST, TMP_PREFIX, Manifest, ManifestEntry
from assetlake.digest import asset_digest
from assetlake.download import WRITERS
from assetlake.store import SMALL, open_store
from assetlake.units import format_size
from assetlake.upload import upload_folder

CHUNK = "ecephys.zarr/0.0"


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path → bytes); links are not followed."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(f"{TMP_PREFIX}*")]


@pytest.fixture
def asset(lake: str, tmp_path: Path) -> tuple[str, str, Path]:
    folder = make_raw_asset(tmp_path / "src")
    upload_folder(folder, lake)
    return lake, folder.name, folder


def test_download_copies_verified_files_and_resumes_by_hash(
    asset: tuple[str, str, Path], tmp_path: Path, cli
) -> None:
    lake, name, folder = asset
    dest = tmp_path / "dest"
    result = cli("download", name, dest, "--lake", lake, "--workers", "3")
    assert result.code == 0, result.err
    files = tree(folder)
    assert tree(dest / name) == files  # the folder as uploaded: no claim, manifest or commit
    assert result.out == (
        f"downloaded: {name} -> {dest / name} ({len(files)} files, "
        f"{format_size(sum(map(len, files.values())))}; 0 already there and verified)\n"
    )
    copy = [ManifestEntry(p, len(b), hashlib.sha256(b).hexdigest()) for p, b in files.items()]
    document = json.loads(open_store(lake).get(f"{name}/{COMMIT}") or b"")
    assert asset_digest(copy) == document["assetlake"]["digest"]

    again = cli("download", name, dest, "--lake", lake)
    assert again.code == 0 and f"(0 files, 0 B; {len(files)} already there" in again.out
    # Presence is not proof: a local file with the right size but other bytes is fetched again.
    damaged = dest / name / CHUNK
    damaged.write_bytes(b"\0" * damaged.stat().st_size)
    third = cli("download", name, dest, "--lake", lake)
    assert third.code == 0 and "(1 files, " in third.out
    assert tree(dest / name) == files and leftovers(dest) == []


def test_include_and_exclude(asset: tuple[str, str, Path], tmp_path: Path, cli) -> None:
    lake, name, folder = asset
    files = tree(folder)
    dest = tmp_path / "dest"
    result = cli("download", name, dest, "--lake", lake, "--include", "*.json")
    assert result.code == 0, result.err
    assert set(tree(dest / name)) == {p for p in files if p.endswith(".json")}
    other = tmp_path / "other"
    args = ["--include", "ecephys.zarr/*", "--include", "subject.json", "--exclude", "*/.z*"]
    result = cli("download", name, other, "--lake", lake, *args)
    assert result.code == 0, result.err
    expected = {
        p
        for p in files
        if (p.startswith("ecephys.zarr/") and "/.z" not in p) or p == "subject.json"
    }
    assert set(tree(other / name)) == expected and CHUNK in expected


def test_what_is_not_a_committed_assetlake_asset_is_refused(lake: str, tmp_path: Path, cli) -> None:
    store = open_store(lake)
    folder = make_raw_asset(tmp_path / "src")
    name = folder.name
    store.put(f"{name}/{CLAIM}", b"{}")
    store.put(f"{name}/{CHUNK}", b"x")
    foreign = "ecephys_654321_2024-03-01_14-05-09"
    store.put(f"{foreign}/data_description.json", b"{}")
    for asked, words in ((name, "is not committed"), (foreign, "not uploaded by assetlake")):
        result = cli("download", asked, tmp_path / "dest", "--lake", lake)
        assert result.code != 0 and result.out == ""
        assert result.err.count("\n") == 1 and words in result.err
    result = cli("download", "not-a-name", tmp_path / "dest", "--lake", lake)
    assert result.code != 0 and result.err.count("\n") == 1
    assert not (tmp_path / "dest").exists()


def commit_manifest(lake: str, name: str, entries: list[ManifestEntry]) -> None:
    """Replace the asset's manifest (behind assetlake's back) and re-point its commit at it."""
    store = open_store(lake)
    raw = Manifest(name, tuple(entries)).to_bytes()
    document = json.loads(store.get(f"{name}/{COMMIT}") or b"")
    document["assetlake"]["manifest_sha256"] = hashlib.sha256(raw).hexdigest()
    tamper(lake, f"{name}/{MANIFEST}", raw)
    tamper(lake, f"{name}/{COMMIT}", json.dumps(document).encode())


@pytest.mark.parametrize(
    "hostile",
    ["../escaped", "ecephys.zarr/../../escaped", "/tmp/escaped", "a//b", "./x", "a\\..\\b"],
)
def test_hostile_manifest_paths_are_refused_before_writing(
    asset: tuple[str, str, Path], tmp_path: Path, cli, hostile: str
) -> None:
    lake, name, _folder = asset
    entries = list(Manifest.from_bytes(open_store(lake).get(f"{name}/{MANIFEST}") or b"").objects)
    data = b"escaped\n"
    commit_manifest(
        lake, name, [*entries, ManifestEntry(hostile, len(data), hashlib.sha256(data).hexdigest())]
    )
    dest = tmp_path / "deep" / "dest"
    result = cli("download", name, dest, "--lake", lake)
    assert result.code == 1 and result.out == ""
    assert result.err.count("\n") == 1 and repr(hostile) in result.err
    assert not dest.exists() and not (tmp_path / "deep" / "escaped").exists()
    assert not Path("/tmp/escaped").exists()


def test_a_link_in_dest_is_not_followed(asset: tuple[str, str, Path], tmp_path: Path, cli) -> None:
    lake, name, _folder = asset
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "dest" / name).mkdir(parents=True)
    (tmp_path / "dest" / name / "ecephys.zarr").symlink_to(outside)
    result = cli("download", name, tmp_path / "dest", "--lake", lake, "--workers", "1")
    assert result.code == 2 and result.err.count("\n") == 1 and "is a link" in result.err
    assert list(outside.iterdir()) == []
    (tmp_path / "dest" / name / "ecephys.zarr").unlink()
    (tmp_path / "dest" / name / "subject.json").unlink(missing_ok=True)  # fetched before the stop
    (tmp_path / "dest" / name / "subject.json").symlink_to(outside / "target")
    result = cli("download", name, tmp_path / "dest", "--lake", lake, "--workers", "1")
    assert result.code == 2 and "subject.json: is in the way" in result.err
    assert list(outside.iterdir()) == []


def test_corrupted_object_is_refused_and_never_under_its_name(
    asset: tuple[str, str, Path], tmp_path: Path, cli
) -> None:
    lake, name, folder = asset
    good = (folder / CHUNK).read_bytes()
    for stored in (bytes([good[0] ^ 1]) + good[1:], good + b"tail", good[:-1]):
        tamper(lake, f"{name}/{CHUNK}", stored)
        dest = tmp_path / f"dest{len(stored)}"
        result = cli("download", name, dest, "--lake", lake, "--workers", "1")
        assert result.code == 1 and result.err.count("\n") == 1
        assert (
            f"object {open_store(lake).url}/{name}/{CHUNK} disagrees with its manifest"
            in result.err
        )
        assert not (dest / name / CHUNK).exists() and leftovers(dest) == []


def nth_data_get(name: str, n: int):
    """GETs of the asset's data objects (not the commit or manifest): the n-th one."""
    seen = 0

    def match(request: Request) -> bool:
        nonlocal seen
        if request.method != "GET" or f"/{name}/" not in request.path:
            return False
        if request.path.endswith((f"/{COMMIT}", f"/{MANIFEST}")):
            return False
        seen += 1
        return seen == n

    return match


def nth_big_get(name: str, n: int):
    """GETs of the asset's large objects (streamed, not read whole): the n-th one."""
    seen = 0

    def match(request: Request) -> bool:
        nonlocal seen
        if request.method != "GET" or f"/{name}/big/" not in request.path:
            return False
        seen += 1
        return seen == n

    return match


def killed_while_held(proxy: FaultProxy, match, dest: Path, lake: str, name: str) -> None:
    """Run ``download`` in a child process, SIGKILL it once the proxy holds the matching GET."""
    held = proxy.add(match, "hold")
    command = [sys.executable, "-c", "from assetlake.cli import main; main()", "download"]
    args = [name, str(dest), "--lake", lake, "--workers", "1", "--no-progress"]
    proc = subprocess.Popen([*command, *args], env=dict(os.environ), stderr=subprocess.PIPE)
    try:
        assert held.arrived.wait(120), "the download never reached the held object"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=120)
    finally:
        held.release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_download_killed_at_a_random_point_resumes_identical(
    s3_lake: str, proxy: FaultProxy, tmp_path: Path, cli, seed: int
) -> None:
    """Small objects are read whole, many at once: the proxy holds the k-th object's GET (k
    random), then the process gets SIGKILL; whatever was written is a full copy under its final
    name (at most the ones being written are under a temporary name), and the next run ends
    identical."""
    folder = make_raw_asset(tmp_path / "src")
    upload_folder(folder, s3_lake)
    files = tree(folder)
    point = random.Random(seed).randrange(1, len(files) + 1)
    dest = tmp_path / "dest"
    killed_while_held(proxy, nth_data_get(folder.name, point), dest, s3_lake, folder.name)
    partial = tree(dest / folder.name)
    assert len(leftovers(dest)) <= WRITERS
    finished = {p: b for p, b in partial.items() if not Path(p).name.startswith(TMP_PREFIX)}
    assert len(finished) < len(files)  # the held object is not among them
    assert all(files[p] == b for p, b in finished.items())  # every final name is a full copy
    result = cli("download", folder.name, dest, "--lake", s3_lake)
    assert result.code == 0, result.err
    assert f"; {len(finished)} already there and verified)" in result.out
    assert tree(dest / folder.name) == files and leftovers(dest) == []


@pytest.mark.parametrize("seed", [1, 2])
def test_download_killed_while_streaming_a_large_object_resumes_identical(
    s3_lake: str, proxy: FaultProxy, tmp_path: Path, cli, seed: int
) -> None:
    """Large objects are streamed, ``--workers 1`` one at a time after the small ones: the
    proxy holds the k-th large object's GET, then SIGKILL; the file being written is under a
    temporary name only, every earlier one is complete, and the next run ends identical."""
    folder = make_raw_asset(tmp_path / "src")
    (folder / "big").mkdir()
    generator = random.Random(seed)
    for index in range(4):
        (folder / "big" / f"{index}.bin").write_bytes(generator.randbytes(SMALL + 1 + index))
    upload_folder(folder, s3_lake)
    files = tree(folder)
    small = sum(not p.startswith("big/") for p in files)
    point = generator.randrange(1, 5)
    dest = tmp_path / "dest"
    killed_while_held(proxy, nth_big_get(folder.name, point), dest, s3_lake, folder.name)
    partial = tree(dest / folder.name)
    assert len(leftovers(dest)) == 1  # the file it was writing, under a temporary name
    finished = {p: b for p, b in partial.items() if not Path(p).name.startswith(TMP_PREFIX)}
    assert len(finished) == small + point - 1
    assert all(files[p] == b for p, b in finished.items())  # every final name is a full copy
    result = cli("download", folder.name, dest, "--lake", s3_lake)
    assert result.code == 0, result.err
    assert f"; {small + point - 1} already there and verified)" in result.out
    assert tree(dest / folder.name) == files and leftovers(dest) == []


def test_workers_means_the_same_on_upload_download_and_verify(cli) -> None:
    helps = []
    for command in ("upload", "download", "verify"):
        result = cli(command, "--help")
        assert result.code == 0
        text = " ".join(result.out.split())
        helps.append(text[text.index("--workers") :].split("]", 1)[0])
    assert helps[0] == helps[1] == helps[2] and "at once" in helps[0] and "16" in helps[0]
    result = cli("download", "NAME", "dest", "--workers", "0")
    assert result.code == 2 and "--workers" in result.err
