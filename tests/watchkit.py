"""Rig sessions for the watch tests: asset folders moved into a drop folder, and both manifests."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

from factories import ACQUIRED, make_raw_asset

from assetlake.asset import SIDECAR_FILES
from assetlake.store import open_store
from assetlake.verify import verify_asset


def acquired(minutes: int) -> datetime:
    """A distinct acquisition time per session, so each has its own asset name."""
    return ACQUIRED + timedelta(minutes=minutes)


def drop_folder(drop: Path, staging: Path, minutes: int = 0, *, big: int = 0) -> str:
    """Write a session in ``staging`` and ``mv`` it into ``drop``, as a rig does; its name.

    ``big`` adds a file of that many random bytes, for uploads that take a while.
    """
    folder = make_raw_asset(staging, acquired=acquired(minutes))
    if big:
        with open(folder / "ecephys.zarr" / "big.bin", "wb") as stream:
            stream.write(os.urandom(big))
    folder.rename(drop / folder.name)
    return folder.name


def aind_manifest(drop: Path, data: Path, minutes: int = 1, **extra: str) -> str:
    """An aind-watchdog-service manifest YAML naming files that stay in ``data``; its name.

    Written under a temporary name and renamed, as rig authors are told to.
    """
    folder = make_raw_asset(data, modality="behavior", acquired=acquired(minutes))
    fields = {
        "name": folder.name,
        "processor_full_name": "Jane Doe",
        "subject_id": "123456",
        "acquisition_datetime": "2024-03-01 14:06:09",
        "platform": "behavior",
        "project_name": "Visual Behavior",
        "capsule_id": "null",
        "mount": "null",
        **extra,
    }
    lines = [f"{key}: {value}" for key, value in fields.items()]
    lines += ["modalities:", "  behavior:", f"  - {folder / 'behavior.zarr'}", "schemas:"]
    lines += [
        f"- {folder / filename}" for filename in SIDECAR_FILES if (folder / filename).exists()
    ]
    write_atomically(drop / f"{folder.name}.yml", "\n".join(lines) + "\n")
    return folder.name


def handover_manifest(drop: Path, data: Path, minutes: int = 2) -> str:
    """An assetlake hand-over JSON naming files that stay in ``data``; the asset's name."""
    folder = make_raw_asset(data, modality="pophys", acquired=acquired(minutes))
    files = {
        path.relative_to(folder).as_posix(): str(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    document = {"schema_version": "1", "name": folder.name, "files": files}
    write_atomically(drop / f"{folder.name}.json", json.dumps(document))
    return folder.name


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.rename(path)


def assert_committed_once(lake: str, names: list[str]) -> None:
    """Exactly these assets are in the lake, each committed and intact."""
    store = open_store(lake)
    assert sorted(store.list_dirs()) == sorted(names)
    for name in names:
        report = verify_asset(store, name)
        assert report.ok, report.problems()
