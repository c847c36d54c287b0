"""Every way an upload can go wrong gives one clear line and a non-zero exit, and writes nothing
that a reader could see; a killed upload resumes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from factories import make_raw_asset
from faults import FaultProxy, nth_data_put
from moto.core.authorization import enable_iam_authentication

from assetlake.store import Store, open_store
from assetlake.units import format_size
from assetlake.upload import committed
from assetlake.verify import verify_asset

EXTRA_FILES = 200


def keys(store: Store) -> list[str]:
    return sorted(info.key for info in store.list(""))


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


def big_asset(parent: Path) -> Path:
    folder = make_raw_asset(parent)
    extra = folder / "ecephys.zarr" / "extra"
    extra.mkdir()
    for i in range(EXTRA_FILES):
        (extra / f"{i:04d}").write_bytes(i.to_bytes(2, "big") * 512)
    return folder


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_upload_is_invisible_and_resumes(
    s3_lake: str, proxy: FaultProxy, tmp_path: Path, cli, sig: signal.Signals
) -> None:
    """The proxy holds the 12th data object's PUT, so the signal always arrives mid-upload,
    however busy the machine; the hold is released once the upload has reacted to it."""
    folder = big_asset(tmp_path)
    total = sum(1 for p in folder.rglob("*") if p.is_file())
    store = open_store(s3_lake)
    held = proxy.add(nth_data_put(folder.name, 12), "hold")
    command = [sys.executable, "-c", "from assetlake.cli import main; main()", "upload"]
    args = [str(folder), "--lake", s3_lake, "--workers", "1", "--no-progress"]
    proc = subprocess.Popen(
        [*command, *args], env=dict(os.environ), stderr=subprocess.PIPE, text=True
    )
    try:
        assert held.arrived.wait(120), "the upload never reached its 12th object"
        proc.send_signal(sig)
        lines = []
        if sig == signal.SIGINT:  # released once the interruption is handled: a line on stderr
            for line in proc.stderr:  # type: ignore[union-attr]
                lines.append(line)
                if line.startswith("assetlake: interrupted"):
                    break
        held.release.set()
        _, rest = proc.communicate(timeout=120)
    finally:
        held.release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = "".join(lines) + rest
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert err.strip().splitlines()[-1] == (
            "assetlake: interrupted; the unfinished upload stays invisible, and the same command "
            "again resumes it"
        )
    else:
        assert proc.returncode == -signal.SIGKILL
    assert not committed(store, folder.name)
    present = len(keys(store)) - 1
    assert 11 <= present < total
    assert cli("verify", folder.name, "--lake", s3_lake).code == 1
    result = cli("upload", folder, "--lake", s3_lake, "--workers", "4")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == f"resumed: skipped {present} objects already in the lake"
    assert f"({total - present} files uploaded" in result.out
    assert "took over the name from an upload that is gone (started " in result.err
    assert f"process {proc.pid})" in result.err
    assert verify_asset(s3_lake, folder.name).ok


def test_missing_bucket(moto_server: str, tmp_path: Path, cli) -> None:
    result = cli("upload", make_raw_asset(tmp_path), "--lake", "s3://no-such-bucket")
    assert result.code == 1
    assert "bucket 'no-such-bucket' does not exist" in one_line(result.err)


def test_denied_access(s3_lake: str, tmp_path: Path, cli) -> None:
    folder = make_raw_asset(tmp_path)
    with enable_iam_authentication():
        result = cli("upload", folder, "--lake", s3_lake)
    assert result.code == 1
    assert "access denied" in one_line(result.err)
    assert keys(open_store(s3_lake)) == []


@pytest.mark.parametrize("kind", ["broken-link", "fifo", "folder-link"])
def test_unreadable_local_file_writes_nothing(lake: str, tmp_path: Path, cli, kind: str) -> None:
    folder = make_raw_asset(tmp_path)
    bad = folder / "ecephys.zarr" / "bad"
    if kind == "fifo":
        os.mkfifo(bad)
    elif kind == "folder-link":
        bad.symlink_to(tmp_path, target_is_directory=True)
    else:
        bad.symlink_to(tmp_path / "gone")
    result = cli("upload", folder, "--lake", lake)
    assert result.code == 2
    why = {
        "fifo": "is not a regular file (a pipe, socket or device); remove it before uploading",
        "broken-link": "is a broken link; fix or remove it before uploading",
        "folder-link": "is a link to a folder; copy the data into the asset folder instead",
    }[kind]
    assert one_line(result.err) == f"assetlake: error: {bad}: {why}"
    assert keys(open_store(lake)) == []


def test_reserved_file_in_folder_writes_nothing(lake: str, tmp_path: Path, cli) -> None:
    folder = make_raw_asset(tmp_path)
    (folder / "manifest.json").write_text("{}")
    result = cli("upload", folder, "--lake", lake)
    assert result.code == 2 and "written by assetlake itself" in one_line(result.err)
    assert keys(open_store(lake)) == []


def test_name_clash(lake: str, tmp_path: Path, cli) -> None:
    folder = make_raw_asset(tmp_path)
    first = cli("upload", folder, "--lake", lake)
    assert first.code == 0 and first.err == ""
    assert first.out.startswith(f"committed: {folder.name} -> ")
    before = keys(open_store(lake))
    again = cli("upload", folder, "--lake", lake)
    assert again.code == 1 and again.out == ""
    assert "is already committed" in one_line(again.err) and "immutable" in again.err
    assert keys(open_store(lake)) == before


def test_invalid_folder_prints_problems(lake: str, tmp_path: Path, cli) -> None:
    folder = make_raw_asset(tmp_path)
    (folder / "subject.json").unlink()
    result = cli("upload", folder, "--lake", lake)
    assert result.code == 1
    lines = result.err.splitlines()
    assert any("subject.json" in line for line in lines[:-1])
    assert lines[-1].startswith(f"assetlake: error: asset folder {folder} is not valid")
    assert keys(open_store(lake)) == []


def test_legacy_name_is_refused(lake: str, tmp_path: Path, cli) -> None:
    folder = shutil.copytree(
        make_raw_asset(tmp_path / "a"), tmp_path / "123456_2024-03-01_14-05-09"
    )
    description = json.loads((folder / "data_description.json").read_text())
    description["name"] = folder.name
    (folder / "data_description.json").write_text(json.dumps(description))
    result = cli("upload", folder, "--lake", lake)
    assert result.code == 1 and "legacy AIND name" in one_line(result.err)
    assert keys(open_store(lake)) == []


def test_dry_run_prints_the_plan(lake: str, tmp_path: Path, cli) -> None:
    folder = make_raw_asset(tmp_path)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    result = cli("upload", folder, "--lake", lake, "--dry-run")
    assert result.code == 0 and result.err == ""
    lines = result.out.splitlines()
    size = sum(p.stat().st_size for p in files)
    assert lines[:5] == [
        "dry run: nothing written",
        f"name:   {folder.name}",
        f"lake:   {open_store(lake).url}",
        f"upload: {len(files)} files ({format_size(size)})",
        "skip:   0 files already in the lake",
    ]
    assert (
        f"  upload {files[0].relative_to(folder).as_posix()} ({files[0].stat().st_size} bytes)"
        in lines
    )
    assert keys(open_store(lake)) == []


def test_bad_invocations(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_raw_asset(tmp_path)
    missing = cli("upload", folder)
    assert missing.code == 2 and "no lake given" in one_line(missing.err)
    monkeypatch.setenv("ASSETLAKE_LAKE", str(tmp_path / "nowhere"))
    absent = cli("upload", folder)
    assert absent.code == 1 and "folder does not exist" in one_line(absent.err)
    nofolder = cli("upload", tmp_path / "nope")
    assert nofolder.code == 2 and "nope: not a folder" in one_line(nofolder.err)


def test_a_killed_multipart_upload_is_aborted_by_the_resume(
    s3_lake: str, proxy: FaultProxy, tmp_path: Path, cli
) -> None:
    """SIGKILL while a part is on its way leaves an incomplete multipart upload (storage that
    S3 bills and no listing shows); the upload that takes the name over aborts it."""
    folder = make_raw_asset(tmp_path)
    (folder / "raw.bin").write_bytes(b"\x01" * (9 << 20))  # over the 8 MiB part size
    held = proxy.add(
        lambda r: r.method == "PUT" and r.path.endswith("/raw.bin") and "partNumber=" in r.query,
        "hold",
    )
    command = [sys.executable, "-c", "from assetlake.cli import main; main()", "upload"]
    args = [str(folder), "--lake", s3_lake, "--no-progress"]
    proc = subprocess.Popen([*command, *args], env=dict(os.environ), stderr=subprocess.DEVNULL)
    try:
        assert held.arrived.wait(120), "the multipart upload never sent a part"
        proc.kill()
        proc.wait()
    finally:
        held.release.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    store = open_store(s3_lake)
    assert store.leftovers(f"{folder.name}/") == [f"{folder.name}/raw.bin"]
    result = cli("upload", folder, "--lake", s3_lake)
    assert result.code == 0, result.err
    assert "removed 1 unfinished writes left by an interrupted upload" in result.err
    assert store.leftovers(f"{folder.name}/") == []
    assert verify_asset(s3_lake, folder.name).ok
