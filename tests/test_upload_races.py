"""Two real processes upload the same name at the same moment, with the same file sizes but
different bytes, over many trials on both backends: every trial ends with exactly one committed,
intact asset holding the winner's bytes, and the loser wrote no data object.

Both racers start each upload on one event (a single write to a pipe they both wait on), and at
least one trial on each backend must end with the loser's ConflictError: the two uploads really
overlapped (an AssetExistsError only says the loser started after the winner committed)."""

from __future__ import annotations

import hashlib
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from factories import make_raw_asset

from assetlake.asset import CLAIM, COMMIT, MANIFEST, Manifest
from assetlake.store import open_store
from assetlake.verify import verify_asset

TRIALS = 20
RACER = Path(__file__).with_name("race_uploader.py")


@dataclass
class Racers:
    """Two uploader processes, each taking one folder per line, and the pipe that starts them."""

    procs: list[subprocess.Popen[str]]
    release: int

    def start(self) -> None:
        """Release both at once, once both are waiting (each takes one byte of one write)."""
        assert [answer(proc) for proc in self.procs] == ["ready", "ready"]
        os.write(self.release, b"g" * len(self.procs))


@pytest.fixture
def racers() -> Iterator[Racers]:
    """The racers, ended whatever happens."""
    read, write = os.pipe()
    procs = [
        subprocess.Popen(
            [sys.executable, str(RACER), str(read)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
            pass_fds=(read,),
        )
        for _ in range(2)
    ]
    os.close(read)
    try:
        yield Racers(procs, write)
    finally:
        os.close(write)
        for proc in procs:
            proc.kill()
            proc.wait()


def answer(proc: subprocess.Popen[str]) -> str:
    """The racer's line for its upload (a generous guard against a hung racer, not a timing)."""
    ready, _, _ = select.select([proc.stdout], [], [], 300)
    assert ready, "a racer gave no answer"
    return proc.stdout.readline().strip()  # type: ignore[union-attr]


def twins(parent: Path, trial: int) -> tuple[Path, Path]:
    """Two folders of one name, same paths and sizes, different bytes in every data chunk."""
    first = make_raw_asset(parent / "a", subject_id=str(200000 + trial))
    second = shutil.copytree(first, parent / "b" / first.name)
    for chunk in (second / "ecephys.zarr").glob("[0-9]*"):
        chunk.write_bytes(bytes(b ^ 0x5A for b in chunk.read_bytes()))
    return first, second


def sha256s(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_racing_uploads_of_one_name_commit_exactly_one_intact_asset(
    lake: str, tmp_path: Path, racers: Racers
) -> None:
    store = open_store(lake)
    outcomes = []
    for trial in range(TRIALS):
        folders = twins(tmp_path / str(trial), trial)
        if trial % 2:
            folders = folders[::-1]
        for proc, folder in zip(racers.procs, folders, strict=True):
            proc.stdin.write(f"{lake}\t{folder}\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
        racers.start()
        lines = [answer(proc) for proc in racers.procs]
        winners = [i for i, line in enumerate(lines) if line == "committed"]
        assert len(winners) == 1, (trial, lines)
        loser = lines[1 - winners[0]]
        assert loser.startswith(("ConflictError: ", "AssetExistsError: ")), loser
        winner = folders[winners[0]]
        name = winner.name
        assert verify_asset(store, name).ok, (trial, lines)
        manifest = Manifest.from_bytes(store.get(f"{name}/{MANIFEST}") or b"")
        expected = sha256s(winner)
        assert {e.path: e.sha256 for e in manifest.objects if e.path != CLAIM} == expected
        stored = {i.key.removeprefix(f"{name}/") for i in store.list(f"{name}/")}
        assert stored == {*expected, CLAIM, MANIFEST, COMMIT}
        assert store.leftovers(f"{name}/") == []
        outcomes.append(loser.split(":", 1)[0])
    assert len(outcomes) == TRIALS
    assert "ConflictError" in outcomes, f"no two uploads overlapped in {TRIALS} trials: {outcomes}"
