"""Copying committed assets to a local folder, every byte checked against the manifest.

``DEST/<name>/`` receives the asset folder as it was uploaded (every manifest entry but the
upload's claim; the digest covers exactly these files). Each object is streamed to a temporary
file beside its target while its SHA-256 is computed, and renamed into place only when size and
hash match the manifest, so a file under its final name is always a verified copy. A repeated
download skips files already there whose SHA-256 matches (decided by hash, never by presence)
and removes temporary files a killed run left. Names read from the bucket are checked before
anything is written: none leads outside ``DEST/<name>`` (no ``..``, no absolute path, no
symbolic link on the way).
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import itertools
import os
import stat
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from assetlake.asset import (
    CLAIM,
    COMMIT,
    MANIFEST,
    TMP_PREFIX,
    Layout,
    Manifest,
    ManifestEntry,
    classify,
)
from assetlake.collector import rare_collections
from assetlake.document import read_document
from assetlake.errors import AssetNotFoundError, IntegrityError, UsageError
from assetlake.naming import parse_name
from assetlake.problems import Problem
from assetlake.progress import Progress, ProgressReport, Tracker
from assetlake.store import BLOCK, SMALL, Store, sha256_file, streams

#: The longest file name most local file systems accept, in bytes.
MAX_NAME_BYTES = 255
#: Threads writing small objects fetched whole: the file system's work on a second core.
WRITERS = 4
#: How a temporary file is created: a new file only, never through a link.
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
#: This process's part of its temporary file names, and the serial numbers of the rest.
_TOKEN = uuid.uuid4().hex
_SERIAL = itertools.count()


@dataclass
class DownloadPlan:
    """One asset to download: the manifest entries selected by --include/--exclude."""

    name: str
    url: str
    entries: list[ManifestEntry]

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self.entries)


@dataclass
class DownloadResult:
    """What a download did for one asset: files fetched and files already there and verified."""

    name: str
    folder: Path
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes_downloaded: int = 0


def plan_download(
    store: Store, name: str, include: Iterable[str] = (), exclude: Iterable[str] = ()
) -> DownloadPlan:
    """Read and check an asset's manifest and select its files (GLOBs match paths inside the
    asset; a file is taken when it matches any ``include``, or none is given, and no
    ``exclude``). Raises AssetNotFoundError (not committed), IntegrityError (foreign asset,
    damaged manifest, a hostile path), before anything is written."""
    parse_name(name)
    listing = [info.key.removeprefix(f"{name}/") for info in store.list(f"{name}/")]
    layout = classify(listing)
    where = f"{store.url}/{name}"
    if layout is Layout.FOREIGN:
        raise IntegrityError(
            f"asset {name} in {store.url} was not uploaded by assetlake and has no manifest to "
            "check a copy against; download copies only assets committed by 'assetlake upload'"
        )
    if layout is not Layout.COMMITTED:
        raise AssetNotFoundError(
            f"asset {name} is not committed in {store.url} (no {COMMIT}); check the name with "
            "'assetlake find', or wait for its upload to finish"
        )
    expected = _manifest_sha256(store, name)
    raw = store.get(f"{name}/{MANIFEST}")
    if raw is None or hashlib.sha256(raw).hexdigest() != expected:
        raise IntegrityError(
            f"{where}/{MANIFEST} is missing or differs from the one committed; the asset is "
            f"damaged: run 'assetlake verify {name}'"
        )
    try:
        entries = [e for e in Manifest.from_bytes(raw).objects if e.path != CLAIM]
    except ValueError as error:
        raise IntegrityError(f"{where}/{MANIFEST}: {error}; the asset is damaged") from None
    for entry in entries:
        _check_path(where, entry.path)
    includes, excludes = list(include), list(exclude)
    chosen = [
        entry
        for entry in entries
        if (not includes or any(fnmatch.fnmatchcase(entry.path, g) for g in includes))
        and not any(fnmatch.fnmatchcase(entry.path, g) for g in excludes)
    ]
    return DownloadPlan(name, where, sorted(chosen, key=lambda entry: entry.path))


def download_asset(
    store: Store,
    plan: DownloadPlan,
    dest: Path,
    *,
    workers: int | None = None,
    progress: ProgressReport | None = None,
) -> DownloadResult:
    """Copy the planned files to ``dest/<name>/``: small ones (up to :data:`SMALL`) read whole
    through the store's bulk path first, ``workers`` at once (None: the store's choice), then
    large ones streamed (see :func:`~assetlake.store.streams`);
    ``progress`` receives a :class:`Progress` after each block fetched and each file done (or
    found already there). Raises IntegrityError when an object disagrees with the manifest (no
    file is left under its name), UsageError when ``dest`` cannot take it.
    """
    root = Path(dest).absolute() / plan.name
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(
            f"{root}: cannot be created ({error.strerror}); choose another DEST"
        ) from None
    if root.is_symlink():
        raise UsageError(f"{root}: is a link; remove it and download again")
    _remove_leftovers(root)
    with rare_collections():
        return _download(store, plan, root, workers, progress)


def _download(
    store: Store,
    plan: DownloadPlan,
    root: Path,
    workers: int | None,
    progress: ProgressReport | None,
) -> DownloadResult:
    result = DownloadResult(plan.name, root)
    tracker = Tracker(Progress(plan.name, 0, plan.size, 0, len(plan.entries)), progress)
    folders = _Folders(root)
    small: dict[str, tuple[ManifestEntry, Path]] = {}
    for entry in plan.entries:
        if entry.size > SMALL:
            continue
        target, there = folders.target(entry.path)
        if there and _verified(target, entry):
            _done(result, tracker, entry, fetched=False)
        else:
            small[f"{plan.name}/{entry.path}"] = (entry, target)
    _write_small(store, plan.name, small, result, tracker, workers)
    pool = ThreadPoolExecutor(streams(workers), thread_name_prefix="assetlake-download")
    try:
        futures = {
            pool.submit(_fetch, store, plan, entry, tracker, folders): entry
            for entry in plan.entries
            if entry.size > SMALL
        }
        for future in as_completed(futures):
            entry = futures[future]
            if future.result():
                result.downloaded.append(entry.path)
                result.bytes_downloaded += entry.size
            else:
                result.skipped.append(entry.path)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    result.downloaded.sort()
    result.skipped.sort()
    return result


def _write_small(
    store: Store,
    asset: str,
    small: dict[str, tuple[ManifestEntry, Path]],
    result: DownloadResult,
    tracker: Tracker,
    workers: int | None,
) -> None:
    """Fetch the small objects through the bulk path; :data:`WRITERS` threads each take the next
    object as it arrives, check it and write it (creating and renaming a file costs more CPU
    than its GET, most of it in the kernel, which runs beside the fetches). Each thread takes
    its answer from the bulk path itself: a relay through this thread cost more CPU per file
    than the write. The bulk path holds at most its own answers in flight, so memory stays
    flat."""
    answers = store.get_many(small, workers)
    lock = threading.Lock()
    failed = threading.Event()

    def write() -> None:
        try:
            while not failed.is_set():
                with lock:
                    answer = next(answers, None)
                if answer is None:
                    return
                entry, target = small[answer[0]]
                write_verified(store.url, asset, entry, target, answer[1])
                with lock:
                    _done(result, tracker, entry, fetched=True)
        except BaseException:
            failed.set()
            raise

    writers = ThreadPoolExecutor(WRITERS, thread_name_prefix="assetlake-write")
    try:
        for future in [writers.submit(write) for _ in range(WRITERS)]:
            future.result()
    finally:
        failed.set()  # after an error or an interrupt, each writer stops after its file
        writers.shutdown(wait=True)
        answers.close()  # every writer has returned: stops the bulk path's requests


def _done(result: DownloadResult, tracker: Tracker, entry: ManifestEntry, *, fetched: bool) -> None:
    """Count a small file done: fetched now, or found already there."""
    tracker.bytes(entry.size)
    tracker.file()
    if fetched:
        result.downloaded.append(entry.path)
        result.bytes_downloaded += entry.size
    else:
        result.skipped.append(entry.path)


def _fetch(
    store: Store,
    plan: DownloadPlan,
    entry: ManifestEntry,
    tracker: Tracker,
    folders: _Folders,
) -> bool:
    """Make the entry's file a verified copy of it; False when it already was one."""
    target, there = folders.target(entry.path)
    if there and _verified(target, entry):
        tracker.bytes(entry.size)
        tracker.file()
        return False
    copy_verified(store, plan.name, entry, target, tracker.bytes)
    tracker.file()
    return True


def _verified(target: Path, entry: ManifestEntry) -> bool:
    """Whether ``target`` is a regular file holding exactly the entry's bytes (hashed)."""
    try:
        info = target.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISREG(info.st_mode):
        raise UsageError(
            f"{target}: is in the way (a link or not a regular file); remove it and download again"
        )
    return info.st_size == entry.size and sha256_file(target) == entry.sha256


def write_verified(
    lake: str, asset: str, entry: ManifestEntry, target: Path, data: bytes | None
) -> None:
    """Write an object of ``asset`` read whole (None: missing) to ``target`` only if its size
    and SHA-256 are the manifest's, under a temporary name renamed into place. Plain system
    calls (no file object, no fsync: a copy the machine lost before it reached the disk fails
    its hash on the next download, which fetches it again)."""
    if data is None:
        raise _missing(lake, asset, entry)
    if len(data) != entry.size or hashlib.sha256(data).hexdigest() != entry.sha256:
        raise _disagrees(lake, asset, entry, "size" if len(data) != entry.size else "sha256")
    final = os.fspath(target)
    tmp = f"{os.path.dirname(final)}/{_tmp_name()}"
    handle = os.open(tmp, _CREATE, 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(handle, view) :]
        finally:
            os.close(handle)
        os.rename(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _tmp_name() -> str:
    """A temporary file name no other download (this process or another) uses."""
    return f"{TMP_PREFIX}{_TOKEN}-{os.getpid()}-{next(_SERIAL)}"


def copy_verified(
    store: Store,
    asset: str,
    entry: ManifestEntry,
    target: Path,
    on_bytes: Callable[[int], None] | None = None,
) -> None:
    """Copy one object of ``asset`` to ``target`` only if its size and SHA-256 are the manifest's:
    it is written under a temporary name and renamed, so no unverified bytes ever carry the name."""
    tmp = target.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}")
    digest, count = hashlib.sha256(), 0
    try:
        with open(tmp, "xb") as sink, store.open(f"{asset}/{entry.path}") as source:
            while block := source.read(BLOCK):
                count += len(block)
                if count > entry.size:
                    break  # longer than the manifest says: stop reading, refuse below
                digest.update(block)
                sink.write(block)
                if on_bytes:
                    on_bytes(len(block))
        if count != entry.size or digest.hexdigest() != entry.sha256:
            raise _disagrees(store.url, asset, entry, "size" if count != entry.size else "sha256")
        os.replace(tmp, target)
    except FileNotFoundError:
        raise _missing(store.url, asset, entry) from None
    finally:
        tmp.unlink(missing_ok=True)


def _disagrees(lake: str, asset: str, entry: ManifestEntry, what: str) -> IntegrityError:
    return IntegrityError(
        f"object {lake}/{asset}/{entry.path} disagrees with its manifest ({what}); nothing was "
        f"written under its name: the lake copy is damaged, run 'assetlake verify {asset}'"
    )


def _missing(lake: str, asset: str, entry: ManifestEntry) -> IntegrityError:
    return IntegrityError(
        f"object {lake}/{asset}/{entry.path} is missing from the lake; the asset is damaged: "
        f"run 'assetlake verify {asset}'"
    )


class _Folders:
    """The folders of one download under ``root``, each created and checked once (a Zarr's
    thousands of chunks share a few), with the names that were in it when it was checked:
    a file not among them was not there before this download, and needs no look."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._checked: dict[str, tuple[Path, frozenset[str]]] = {"": (root, _names(root))}
        self._lock = threading.Lock()

    def target(self, path: str) -> tuple[Path, bool]:
        """``root/path``, its folders created, and whether a file of its name was there; every
        folder on the way must be a real folder inside ``root`` (a symbolic link placed in DEST
        would lead the file elsewhere)."""
        inside, _, name = path.rpartition("/")
        found = self._checked.get(inside)
        if found is None:
            with self._lock:
                found = self._check(inside)
        folder, names = found
        return folder / name, name in names

    def _check(self, inside: str) -> tuple[Path, frozenset[str]]:
        found = self._checked.get(inside)
        if found is not None:
            return found
        parent, _, part = inside.rpartition("/")
        folder = self._check(parent)[0] / part
        try:
            folder.mkdir(exist_ok=True)
        except OSError as error:
            raise UsageError(
                f"{folder}: cannot be created ({error.strerror}); remove what is in the way"
            ) from None
        if folder.is_symlink() or not folder.is_dir():
            raise UsageError(f"{folder}: is a link or not a folder; remove it and download again")
        found = self._checked[inside] = (folder, _names(folder))
        return found


def _names(folder: Path) -> frozenset[str]:
    return frozenset(os.listdir(folder))


def _check_path(where: str, path: str) -> None:
    """Refuse a manifest path that could leave the asset's folder or that no file system takes."""
    parts = path.split("/")
    bad = (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\0" in path
        or any(part in ("", ".", "..") for part in parts)
        or any(len(part.encode(errors="replace")) > MAX_NAME_BYTES for part in parts)
        or parts[-1].startswith(TMP_PREFIX)
        or path in (MANIFEST, COMMIT)
    )
    if bad:
        raise IntegrityError(
            f"{where}/{MANIFEST} lists the path {path!r}, which cannot be written safely inside "
            "the destination; nothing was downloaded: the manifest is not assetlake's, report it"
        )


def _remove_leftovers(root: Path) -> None:
    """Delete the temporary files a killed download left under ``root`` (only ours)."""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(TMP_PREFIX):
                Path(folder, name).unlink(missing_ok=True)


def _manifest_sha256(store: Store, name: str) -> str:
    data = store.get(f"{name}/{COMMIT}")
    document = read_document(COMMIT, data) if data is not None else None
    summary = document.get("assetlake") if isinstance(document, dict) else None
    expected = summary.get("manifest_sha256") if isinstance(summary, dict) else None
    if isinstance(document, Problem) or document is None or not isinstance(expected, str):
        raise IntegrityError(
            f"{store.url}/{name}/{COMMIT} is unreadable or names no manifest; the asset is "
            "damaged or not assetlake's: it cannot be downloaded with checks"
        )
    return expected
