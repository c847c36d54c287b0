"""A lake in a local folder: the embedded backend, with the same create-only rules as S3.

Only regular files are objects. A symbolic link, a FIFO, a socket or a device inside the lake is
not an object: it is never listed, read or followed (a link in a foreign asset must not carry a
credentials file into the catalogue, and opening a FIFO would block the crawl forever), exactly
as if it were absent. Files are opened without following links and without blocking. Nor is a
file whose key would be longer than S3 allows: a folder nested that deep is refused (a
:class:`~assetlake.errors.TooDeepError`), found by a walk that keeps its own stack, so no depth
of folders can overflow Python's.
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
from assetlake.errors import LakeError, ObjectExistsError, TooDeepError
from assetlake.store import (
    ASSET_MARKERS,
    BLOCK,
    MAX_KEY_BYTES,
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
        for key, entry in self._walk(base):
            if key.startswith(prefix) and not entry.name.startswith(_TMP):
                try:
                    size = entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:
                    continue
                yield ObjectInfo(key, size)

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
        return sorted(key for key, entry in self._walk(base) if entry.name.startswith(_TMP))

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

    def _walk(self, folder: Path) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """The key and entry of every regular file under ``folder``, a folder's files before its
        sub-folders', each in name order, never entering linked folders; a key longer than S3
        allows, or a folder too deep to hold any, raises :class:`TooDeepError`."""
        stack = [folder]
        while stack:
            here = stack.pop()
            rel = here.relative_to(self.root).as_posix()
            prefix = "" if rel == "." else rel + "/"
            try:
                with os.scandir(here) as scan:
                    entries = sorted(scan, key=lambda e: e.name)
            except OSError:  # gone or unreadable meanwhile, as os.walk treats it
                continue
            folders = []
            for entry in entries:
                try:
                    is_folder = entry.is_dir(follow_symlinks=False)
                    is_file = not is_folder and entry.is_file(follow_symlinks=False)
                except OSError:
                    continue
                key = prefix + entry.name
                # The shortest key under a folder is its own and two more bytes ("/x").
                shortest = len(key.encode()) + (2 if is_folder else 0)
                if (is_folder or is_file) and shortest > MAX_KEY_BYTES:
                    raise TooDeepError(
                        f"{'file' if is_file else 'folder'} {self.url}/{key[:80]}... is deeper "
                        f"than an object's key can reach ({MAX_KEY_BYTES} bytes, S3's limit); "
                        "not listed: flatten or shorten its path"
                    )
                if is_folder:
                    folders.append(Path(entry.path))
                elif is_file:
                    yield key, entry
            stack += reversed(folders)

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
