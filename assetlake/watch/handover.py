"""Sessions handed over to the agent, and the checks on the files a manifest names.

A session is either an asset folder moved into the drop folder, or a manifest (assetlake's JSON
:class:`~assetlake.schema.handover.HandOver`, or an aind-watchdog-service YAML) naming files that
stay where the rig wrote them. Either way it becomes a map of asset paths to local files, which
:func:`stage` turns into an asset folder of links for the one uploader.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath

from assetlake.document import read_document
from assetlake.errors import HandOverError, InvalidNameError
from assetlake.naming import parse_name
from assetlake.problems import Problem

#: Largest manifest read; a rig's manifest is a few kB.
MAX_MANIFEST_BYTES = 1 << 20
FOLDER = "folder"
ASSETLAKE = "assetlake-manifest"
AIND = "aind-manifest"
#: Manifest kind by file suffix.
MANIFEST_KINDS = {".json": ASSETLAKE, ".yml": AIND, ".yaml": AIND}


@dataclass
class Session:
    """One handed-over session: where it came from and, for manifests, every file it names."""

    source: Path
    kind: str
    name: str
    files: dict[str, Path] = field(default_factory=dict)
    not_before: datetime | None = None
    warnings: list[str] = field(default_factory=list)


def read_manifest(path: Path, roots: list[Path]) -> Session:
    """The session a manifest describes; HandOverError naming the file, field and fix otherwise."""
    kind = MANIFEST_KINDS[path.suffix.lower()]
    data = read_bytes(path)
    if kind == AIND:
        from assetlake.watch.aind import read_aind

        name, entries, not_before, warnings = read_aind(path, data)
    else:
        name, entries, not_before, warnings = _read_assetlake(path, data)
    try:
        parse_name(name)
    except InvalidNameError as error:
        raise HandOverError(f"{path}: name: {error}; fix the manifest and drop it again") from None
    session = Session(path, kind, name, not_before=not_before, warnings=warnings)
    for target, source in entries:
        for key, local in _expand(path, target, source, roots):
            if key in session.files:
                raise HandOverError(f"{path}: {target}: names {key} twice; list each file once")
            session.files[key] = local
    return session


def read_bytes(path: Path) -> bytes:
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_MANIFEST_BYTES + 1)
    except OSError as error:
        raise HandOverError(
            f"{path}: cannot be read ({error.strerror}); fix its permissions"
        ) from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise HandOverError(f"{path}: is over {MAX_MANIFEST_BYTES} bytes; a manifest lists files")
    return data


def pydantic_problem(path: Path, error: object) -> HandOverError:
    """The first problem of a pydantic ValidationError as one line naming the field."""
    first = error.errors()[0]  # type: ignore[attr-defined]
    where = ".".join(str(part) for part in first["loc"]) or "(document)"
    return HandOverError(f"{path}: {where}: {first['msg']}; fix the manifest and drop it again")


def _read_assetlake(
    path: Path, data: bytes
) -> tuple[str, list[tuple[str, str]], datetime | None, list[str]]:
    from pydantic import ValidationError

    from assetlake.schema.handover import HandOver

    document = read_document(path.name, data, max_bytes=MAX_MANIFEST_BYTES)
    if isinstance(document, Problem):
        raise HandOverError(
            f"{path}: is not JSON assetlake reads: {document.message}; a rig still writing it "
            "should write it under a temporary name and rename it when complete"
        )
    try:
        model = HandOver.model_validate(document)
    except ValidationError as error:
        raise pydantic_problem(path, error) from None
    return model.name, list(model.files.items()), model.not_before, []


def _asset_path(manifest: Path, target: str) -> PurePosixPath:
    """A path inside the asset: relative, '/'-separated, with no '..' or empty parts."""
    pure = PurePosixPath(target)
    parts = target.split("/")
    if (
        not target
        or "\\" in target
        or pure.is_absolute()
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise HandOverError(
            f"{manifest}: {target!r}: is not a path inside the asset; write it like "
            "'ecephys/probe_a.bin' (relative, '/'-separated, no '..')"
        )
    return pure


def _expand(manifest: Path, target: str, source: str, roots: list[Path]) -> list[tuple[str, Path]]:
    """Each regular file under ``source`` with its asset path; refuses anything outside ``roots``."""
    base = _asset_path(manifest, target)
    local = _source(manifest, source, roots)
    if not local.is_dir():
        return [(base.as_posix(), local)]
    found = []
    for root, dirs, names in os.walk(local):
        dirs.sort()
        for entry in (*dirs, *sorted(names)):
            full = Path(root, entry)
            _source(manifest, str(full), roots)
            if entry in names:
                found.append(((base / full.relative_to(local).as_posix()).as_posix(), full))
    return found


def _source(manifest: Path, source: str, roots: list[Path]) -> Path:
    """A named file that exists, is regular or a folder, and resolves inside a readable root."""
    if ".." in source.replace("\\", "/").split("/"):
        raise HandOverError(f"{manifest}: {source}: contains '..'; name the file by its full path")
    path = Path(source)
    if not path.is_absolute():
        raise HandOverError(f"{manifest}: {source}: is not an absolute path; give its full path")
    real = Path(os.path.realpath(path))
    if not any(real.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(root) for root in roots)
        raise HandOverError(
            f"{manifest}: {source}: is outside the folders the agent may read ({allowed}); move "
            "the data there or start the agent with --read-root"
        )
    if not path.exists():
        raise HandOverError(f"{manifest}: {source}: does not exist; fix the path or write the file")
    if not (real.is_file() or real.is_dir()):
        raise HandOverError(f"{manifest}: {source}: is not a regular file or folder")
    return real


def stage(session: Session, folder: Path) -> Path:
    """An asset folder at ``folder`` whose files are hard links (else symlinks) to the session's.

    Built afresh each time, so a half-built staging folder from a killed agent never matters.
    """
    if folder.exists():
        shutil.rmtree(folder)
    for key, local in session.files.items():
        target = folder / key
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(local, target)
        except OSError:
            os.symlink(local, target)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
