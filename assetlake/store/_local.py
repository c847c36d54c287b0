"""A lake in a local folder: the embedded backend, with the same create-only rules as S3.

Only regular files are objects. A symbolic link, a FIFO, a socket or a device inside the lake is
not an object: it is never listed, read or followed (a link in a foreign asset must not carry a
credentials file into the catalogue, and opening a FIFO would block the crawl forever), exactly
as if it were absent. Files are opened without following links and without blocking.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from assetlake.asset import TMP_PREFIX as _TMP
from assetlake.checksums import Checksummer, FileChecksums
from assetlake.errors import LakeError, ObjectExistsError
from assetlake.store import (
    ASSET_MARKERS,
    BLOCK,
    ObjectInfo,
    ProgressCallback,
    Store,
    safe_key,
    safe_prefix,
    sha256_file,
)

_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
#: What to do next for the write failures a lake folder can give.
_WRITE_FAILURES = {
    errno.ENOSPC: "the disk is full; free space (or move the lake) and run the same command again",
    errno.EDQUOT: "the disk quota is exceeded; free space and run the same command again",
    errno.EROFS: "the file system is read-only; use a writable lake folder",
    errno.EACCES: "permission denied; check the folder's permissions",
    errno.EPERM: "permission denied; check the folder's permissions",
    errno.ENAMETOOLONG: "a file name is too long for this file system; shorten it",
}


class LocalStore(Store):
    """Objects are files under ``root``; a write goes to a temporary file, then is hard-linked
    into place, which fails if the target exists: an atomic create-only write."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = self.root.as_uri()

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*safe_key(key).split("/"))

    def _inside(self, folder: Path) -> bool:
        """Whether ``folder`` (the root or under it) is reached with no link on the way, so that
        nothing read or written through it can be outside the lake."""
        parts = folder.relative_to(self.root).parts
        return os.path.realpath(folder) == os.path.join(os.path.realpath(self.root), *parts)

    def check(self) -> None:
        if not self.root.is_dir():
            raise LakeError(
                f"lake {self.root}: folder does not exist; create it first (mkdir -p {self.root})"
            )
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise LakeError(f"lake {self.root}: permission denied; check the folder's permissions")
        for folder in (self.root, *self.root.parents):
            for marker in ASSET_MARKERS:
                if _regular(folder / marker):
                    raise self._inside_asset(str(folder), marker)

    def create(self) -> None:
        with self._writing(""):
            self.root.mkdir(parents=True, exist_ok=True)

    def _fd(self, key: str) -> int | None:
        """A descriptor of the object's regular file, or None when there is none (missing, a
        link, a FIFO or other special file, or under a linked folder)."""
        path = self._path(key)
        try:
            if not self._inside(path.parent):
                return None
            fd = os.open(path, _OPEN)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as error:
            if error.errno == errno.ELOOP:  # the last part is a link
                return None
            raise LakeError(f"object {self.url}/{key}: cannot be read ({error.strerror})") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        os.set_blocking(fd, True)
        return fd

    def get(self, key: str) -> bytes | None:
        fd = self._fd(key)
        if fd is None:
            return None
        with open(fd, "rb") as stream:
            return stream.read()

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        if not self._inside(path.parent) or not _regular(path):
            return None
        return ObjectInfo(key, path.lstat().st_size)

    def put(self, key: str, data: bytes, *, overwrite: bool = False) -> None:
        self._check_writable(key, overwrite)
        with self._writing(key):
            tmp = self._tmp(key)
            try:
                tmp.write_bytes(data)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self._publish(tmp, key, overwrite)

    def put_file(
        self, key: str, path: Path, *, progress: ProgressCallback | None = None
    ) -> FileChecksums:
        summer = Checksummer(None)
        with self._writing(key):
            tmp = self._tmp(key)
            try:
                with open(path, "rb") as src, open(tmp, "wb") as dst:
                    while block := src.read(BLOCK):
                        summer.update(block)
                        dst.write(block)
                        if progress:
                            progress(len(block))
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            self._publish(tmp, key, overwrite=False)
        return summer.result()

    @contextlib.contextmanager
    def _writing(self, key: str) -> Iterator[None]:
        """Turn a full disk, a read-only or forbidden folder into one line that says what to do."""
        try:
            yield
        except OSError as error:
            if isinstance(error, LakeError) or error.errno not in _WRITE_FAILURES:
                raise
            where = f"{self.url}/{key}" if key else self.url
            raise LakeError(f"lake {where}: cannot write: {_WRITE_FAILURES[error.errno]}") from None

    def _tmp(self, key: str) -> Path:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not self._inside(target.parent):
            raise LakeError(
                f"object {self.url}/{key}: a folder on its path is a symbolic link; the lake never "
                "writes through links: remove the link"
            )
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
        base = self._path(safe_prefix(prefix).rsplit("/", 1)[0]) if "/" in prefix else self.root
        if base != self.root and not self._inside(base):
            return
        yield from (info for info in _walk(base, self.root) if info.key.startswith(prefix))

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
        base = self._path(safe_prefix(prefix).rstrip("/"))
        if not self._inside(base):
            return []
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
        folder = self._path(safe_prefix(prefix).removesuffix("/")) if prefix else self.root
        try:
            if not self._inside(folder):
                return []
            with os.scandir(folder) as entries:
                return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def open(self, key: str) -> BinaryIO:
        fd = self._fd(key)
        if fd is None:
            raise FileNotFoundError(f"{self.url}/{key}")
        return open(fd, "rb")

    def same_content(self, info: ObjectInfo, path: Path) -> bool:
        stored = self.head(info.key)
        if stored is None or stored.size != path.stat().st_size:
            return False
        return self.sha256(info.key) == sha256_file(path)

    @property
    def storage_options(self) -> dict[str, Any]:
        return {}

    def fsspec_url(self, key: str = "") -> str:
        return str(self._path(safe_prefix(key).removesuffix("/"))) if key else str(self.root)


def _regular(path: Path) -> bool:
    """Whether ``path`` itself (not what a link points to) is a regular file."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _walk(folder: Path, root: Path) -> Iterator[ObjectInfo]:
    """Regular files under ``folder`` in key order, never entering linked folders."""
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError:  # gone or unreadable meanwhile, as os.walk treats it
        return
    rel = folder.relative_to(root).as_posix()
    files, dirs = [], []
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                dirs.append(entry)
            elif entry.is_file(follow_symlinks=False) and not entry.name.startswith(_TMP):
                files.append(entry)
        except OSError:
            continue
    for entry in files:
        try:
            size = entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            continue
        yield ObjectInfo(entry.name if rel == "." else f"{rel}/{entry.name}", size)
    for entry in dirs:
        yield from _walk(Path(entry.path), root)
