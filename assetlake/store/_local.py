"""A lake in a local folder: the embedded backend, with the same create-only rules as S3."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from assetlake.asset import TMP_PREFIX as _TMP
from assetlake.errors import LakeError, ObjectExistsError
from assetlake.store import BLOCK, ObjectInfo, ProgressCallback, Store, sha256_file


class LocalStore(Store):
    """Objects are files under ``root``; a write goes to a temporary file, then is hard-linked
    into place, which fails if the target exists: an atomic create-only write."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def check(self) -> None:
        if not self.root.is_dir():
            raise LakeError(
                f"lake {self.root}: folder does not exist; create it first (mkdir -p {self.root})"
            )
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise LakeError(f"lake {self.root}: permission denied; check the folder's permissions")

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        return ObjectInfo(key, path.stat().st_size) if path.is_file() else None

    def put(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        self._check_writable(key, overwrite)
        tmp = self._tmp(key)
        tmp.write_bytes(data)
        self._publish(tmp, key, overwrite)

    def put_file(self, key: str, path: Path, *, progress: ProgressCallback | None = None) -> str:
        digest = hashlib.sha256()
        tmp = self._tmp(key)
        try:
            with open(path, "rb") as src, open(tmp, "wb") as dst:
                while block := src.read(BLOCK):
                    digest.update(block)
                    dst.write(block)
                    if progress:
                        progress(len(block))
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._publish(tmp, key, overwrite=False)
        return digest.hexdigest()

    def _tmp(self, key: str) -> Path:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # Never longer than the target's name allows: the name itself may use all 255 bytes.
        return target.with_name(f"{_TMP}{uuid.uuid4().hex}")

    def _publish(self, tmp: Path, key: str, overwrite: bool) -> None:
        target = self._path(key)
        try:
            if overwrite:
                os.replace(tmp, target)
                return
            os.link(tmp, target)
        except FileExistsError:
            raise ObjectExistsError(f"object {key!r} already exists in {self.url}") from None
        finally:
            tmp.unlink(missing_ok=True)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = self._path(prefix.rsplit("/", 1)[0]) if "/" in prefix else self.root
        for folder, dirs, files in os.walk(base):
            dirs.sort()
            rel = Path(folder).relative_to(self.root).as_posix()
            for name in sorted(files):
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix) and not name.startswith(_TMP):
                    try:
                        yield ObjectInfo(key, os.stat(os.path.join(folder, name)).st_size)
                    except FileNotFoundError:
                        continue

    def swap(self, key: str, old: bytes, new: bytes) -> bool:
        target = self._path(key)
        aside = self._tmp(key)
        try:
            os.rename(target, aside)  # only one of several racers moves it
        except FileNotFoundError:
            return False
        try:
            if aside.read_bytes() != old:
                with contextlib.suppress(FileExistsError):
                    os.link(aside, target)
                return False
            self.put(key, new)
            return True
        finally:
            aside.unlink(missing_ok=True)

    def discard(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def leftovers(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/"))
        found = []
        for folder, _dirs, files in os.walk(base):
            rel = Path(folder).relative_to(self.root).as_posix()
            found += [f"{rel}/{name}" for name in files if name.startswith(_TMP)]
        return sorted(found)

    def clean_leftovers(self, prefix: str) -> int:
        found = self.leftovers(prefix)
        for key in found:
            self._path(key).unlink(missing_ok=True)
        return len(found)

    def list_dirs(self, prefix: str = "") -> list[str]:
        try:
            with os.scandir(self._path(prefix) if prefix else self.root) as entries:
                return sorted(e.name for e in entries if e.is_dir())
        except FileNotFoundError:
            return []

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def same_content(self, info: ObjectInfo, path: Path) -> bool:
        stored = self._path(info.key)
        if stored.stat().st_size != path.stat().st_size:
            return False
        return sha256_file(stored) == sha256_file(path)

    @property
    def storage_options(self) -> dict[str, Any]:
        return {}

    def fsspec_url(self, key: str = "") -> str:
        return str(self._path(key)) if key else str(self.root)
