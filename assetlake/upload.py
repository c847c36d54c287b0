"""The commit protocol: plan, claim, upload, manifest, commit, resume.

An upload is only visible once ``<name>/metadata.nd.json`` exists, and every write is create-only,
so an interrupted upload is invisible and resumable, and two uploaders racing for one name end with
exactly one committed asset. The steps (see docs/design.md, "Layout of a committed asset"):

1. claim: ``<name>/.assetlake-upload.json`` (:class:`~assetlake.asset.Claim`), written
   create-only, decides which upload owns the name before any data object is written. A claim
   whose process is gone (same host) or whose lease expired (another host) is taken over; a live
   one makes every other upload of the name fail at once;
2. every file not yet in the lake is uploaded; files already there with the same bytes are skipped;
   a file whose size or modification time changes before its upload ends is refused;
3. ``manifest.json`` lists every object with the size and SHA-256 of the bytes sent;
4. after checking that the claim is still this upload's and every object is stored,
   ``metadata.nd.json``, the consolidated metadata, commits the asset.

Every write is create-only; after a 412 (the key exists) the stored object is compared with what
this upload wrote, so a retry after a lost response is a success, never a conflict.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import socket
import stat
import threading
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assetlake.asset import (
    CLAIM,
    COMMIT,
    MANIFEST,
    RESERVED_FILES,
    Claim,
    Layout,
    Manifest,
    ManifestEntry,
    classify,
    consolidate,
)
from assetlake.checksums import FileChecksums, crc32_text, file_checksums
from assetlake.collector import rare_collections
from assetlake.digest import asset_digest
from assetlake.errors import (
    AssetExistsError,
    AssetNotFoundError,
    ConflictError,
    IntegrityError,
    InvalidNameError,
    LakeError,
    MetadataError,
    ObjectExistsError,
    UsageError,
)
from assetlake.naming import AssetName
from assetlake.problems import Severity
from assetlake.progress import Progress, ProgressReport, Tracker
from assetlake.store import MAX_KEY_BYTES, Store, open_store, streams


@dataclass(frozen=True)
class LocalFile:
    """A file of the asset folder: its key inside the asset, where it is, its size and
    modification time when planned (a change before its upload ends refuses the upload)."""

    path: str
    local: Path
    size: int
    mtime_ns: int = 0


@dataclass
class Plan:
    """What an upload will do: which files go up and which are already in the lake."""

    name: str
    url: str
    fingerprint: str
    files: list[LocalFile]
    upload: list[LocalFile] = field(default_factory=list)
    skip: list[LocalFile] = field(default_factory=list)
    #: The claim found in the lake (its bytes), held by no live upload: taken over on upload.
    stale_claim: bytes | None = None

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def upload_bytes(self) -> int:
        return sum(f.size for f in self.upload)


@dataclass
class UploadResult:
    """The outcome of :func:`upload_folder`; with ``dry_run`` the counts are what would happen.

    ``objects`` and ``total_bytes`` count the folder's files (not the claim, manifest and commit);
    ``took_over`` is the claim of a gone upload that this one replaced, ``cleaned`` the number of
    unfinished writes (temporary files, incomplete multipart uploads) it left and this one removed.
    """

    name: str
    url: str
    uploaded: int
    skipped: int
    bytes_uploaded: int
    total_bytes: int
    objects: int
    dry_run: bool
    plan: Plan
    took_over: Claim | None = None
    cleaned: int = 0


def committed(store: Store, name: str) -> bool:
    """Whether ``name`` is a committed asset (its consolidated metadata exists)."""
    return store.head(f"{name}/{COMMIT}") is not None


def upload_folder(
    folder: Path,
    lake: str | Store,
    *,
    dry_run: bool = False,
    progress: ProgressReport | None = None,
    workers: int | None = None,
    guard: Callable[[], None] | None = None,
    then: Callable[[], None] | None = None,
) -> UploadResult:
    """Validate the asset folder, then commit it to the lake (or, with ``dry_run``, only plan it).

    ``guard``, when given, runs in a thread beside the planning and must return before the first
    write: what it raises stops the upload with nothing written. ``then`` runs beside the clean-up
    that follows the commit; what it raises is raised once the asset is committed. (Populate's
    look for a worker that took its job over, and its done marker, cost no round trip this way.)
    ``workers`` is how many files are sent at once (None: the store's choice, see
    :meth:`Store.put_files`).

    Raises MetadataError (invalid sidecars; nothing written), AssetExistsError (already committed),
    ConflictError (another upload holds the name with other content), AssetNotFoundError (the
    source of a derived asset is not in the lake), LakeError (the lake cannot be used).
    """
    folder = Path(folder)
    if progress is not None and not callable(progress):
        raise UsageError(
            f"progress={progress!r}: give a callable that takes an UploadProgress, or None"
        )
    if not folder.is_dir():
        raise UsageError(f"asset folder {folder}: not a folder; give the path of an asset folder")
    # Scanned first: each file's size and mtime from here on are checked up to its upload, so a
    # sidecar edited after it was validated is caught as a changed file.
    files = scan_folder(folder)
    name, sidecars = _validated(folder)
    store = lake if isinstance(lake, Store) else open_store(lake)
    store.check()
    if dry_run:
        plan = _plan(store, name, sidecars, files)
        _check_indexable(store.url, plan, sidecars)
        return _result(plan, dry_run=True)
    with _one_per_process(store.url, str(name)), rare_collections(), _beside(guard) as guarded:
        plan = _plan(store, name, sidecars, files)
        _check_indexable(store.url, plan, sidecars)
        guarded()
        claim, took_over = _claim(store, plan)
        cleaned = store.clean_leftovers(f"{plan.name}/") if plan.stale_claim is not None else 0
        start = Progress(plan.name, 0, plan.upload_bytes, 0, len(plan.upload))
        hashes = _transfer(store, plan, workers, Tracker(start, progress))
        claimed = claim.to_bytes()
        entries = [_entry(f, hashes[f.path]) for f in files]
        claim_sha256, claim_crc32 = hashlib.sha256(claimed).hexdigest(), zlib.crc32(claimed)
        entries.append(ManifestEntry(CLAIM, len(claimed), claim_sha256, crc32_text(claim_crc32)))
        manifest = Manifest(plan.name, tuple(entries))
        raw_manifest = manifest.to_bytes()
        _check_stored(store, plan, claimed)
        _put_same(store, f"{plan.name}/{MANIFEST}", raw_manifest, plan)
        digest = asset_digest(manifest.objects)
        _commit(store, plan, sidecars, hashlib.sha256(raw_manifest).hexdigest(), digest)
        # Committed: nothing may still write here, so any unfinished write is a leftover (a
        # multipart upload whose creation answer was lost, say).
        with _beside(then) as finished:
            cleaned += store.clean_leftovers(f"{plan.name}/")
            finished()
    result = _result(plan, dry_run=False)
    result.took_over, result.cleaned = took_over, cleaned
    return result


@contextlib.contextmanager
def _beside(check: Callable[[], None] | None) -> Iterator[Callable[[], None]]:
    """Run ``check`` in a thread while the caller goes on; what is yielded waits for it and
    raises what it raised."""
    if check is None:
        yield lambda: None
        return
    with ThreadPoolExecutor(1, thread_name_prefix="assetlake-beside") as pool:
        yield pool.submit(check).result


def scan_folder(folder: Path) -> list[LocalFile]:
    """Every regular file under ``folder``, sorted; fail before any write on anything unreadable."""
    files = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for entry in dirs:
            if os.path.islink(os.path.join(root, entry)):
                raise UsageError(
                    f"{os.path.join(root, entry)}: is a link to a folder; copy the data into "
                    "the asset folder instead"
                )
        for entry in sorted(names):
            local = Path(root, entry)
            path = local.relative_to(folder).as_posix()
            if path in RESERVED_FILES:
                raise UsageError(
                    f"{local}: {entry} is written by assetlake itself; remove it from the folder"
                )
            info = _readable(local)
            files.append(LocalFile(path, local, info.st_size, info.st_mtime_ns))
    return files


def fingerprint(files: list[LocalFile], data_description: Any) -> str:
    """What identifies an upload's content cheaply: file paths and sizes plus data_description."""
    listing = sorted((f.path, f.size) for f in files)
    text = json.dumps({"files": listing, "data_description": data_description}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# -- steps ---------------------------------------------------------------------------------------
def _validated(folder: Path) -> tuple[AssetName, dict[str, Any]]:
    """The asset's name and sidecars, once validation passed and the name is one assetlake writes."""
    from assetlake.validate import validate_folder

    report = validate_folder(folder)
    if not report.ok or report.name is None:
        errors = [p for p in report.problems if p.severity == Severity.ERROR]
        raise MetadataError(
            f"asset folder {folder} is not valid ({len(errors)} problem(s)); fix them and run "
            f"'assetlake validate {folder}' before uploading",
            report.problems,
        )
    if report.name.legacy:
        raise InvalidNameError(
            f"asset name {report.name} is a legacy AIND name without a modality; assetlake never "
            "writes those: rename the folder and data_description.json to "
            "<modality>_<subject-id>_<YYYY-MM-DD>_<HH-MM-SS>"
        )
    return report.name, dict(report.sidecars)


def _readable(path: Path) -> os.stat_result:
    """The status of a regular file that can be opened, checked before anything is written. A link
    is refused, never followed: it could carry a file from outside the asset into the lake."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: is a broken link; fix or remove it before uploading") from None
    except OSError as error:
        raise UsageError(
            f"{path}: cannot be read ({error.strerror}); fix it before uploading"
        ) from None
    if path.is_symlink():
        raise UsageError(
            f"{path}: is a symbolic link, and uploads never follow links; copy the file it points "
            "to into the asset folder instead"
        )
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(
            f"{path}: is not a regular file (a pipe, socket or device); remove it before uploading"
        )
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        raise UsageError(
            f"{path}: cannot be read ({error.strerror}); fix its permissions"
        ) from None
    return info


def _plan(
    store: Store, parsed: AssetName, sidecars: dict[str, Any], files: list[LocalFile]
) -> Plan:
    """Compare the folder with what the lake holds under the name; refuse clashes before writing."""
    name = str(parsed)
    existing = {info.key.removeprefix(f"{name}/"): info for info in store.list(f"{name}/")}
    layout = classify(existing)
    if layout is Layout.COMMITTED:
        raise AssetExistsError(
            f"asset {name} is already committed in {store.url}; assets are immutable: to change "
            "it, upload a new derived asset (<name>_<label>_<date>_<time>) with the fix"
        )
    if existing and layout is not Layout.UPLOADING:
        raise AssetExistsError(
            f"name {name} is already used in {store.url} by data not uploaded by assetlake; "
            "assets are immutable: choose another name"
        )
    for local in files:
        if len(f"{name}/{local.path}".encode()) > MAX_KEY_BYTES:
            raise UsageError(
                f"{local.local}: its key in the lake would be longer than {MAX_KEY_BYTES} bytes; "
                "shorten the file's name or path"
            )
    if parsed.source is not None:
        _check_source(store, name, str(parsed.source))
    content = fingerprint(files, sidecars.get("data_description.json"))
    plan = Plan(name, f"{store.url}/{name}", content, files)
    if existing.pop(CLAIM, None) is not None:
        plan.stale_claim = _stale_claim(store, plan)
    for local in files:
        info = existing.get(local.path)
        if info is None:
            plan.upload.append(local)
        elif store.same_content(info, local.local):
            plan.skip.append(local)
        else:
            raise _differs(plan, local.path)
    return plan


def _check_source(store: Store, name: str, source: str) -> None:
    """A derived asset's source must be in the lake: committed, or a foreign asset."""
    # Looked at in classify's order, stopping at the first found: one request for a committed one.
    present = next(
        (f for f in (COMMIT, CLAIM, "data_description.json") if store.head(f"{source}/{f}")), None
    )
    if classify([present] if present else []) not in (Layout.COMMITTED, Layout.FOREIGN):
        raise AssetNotFoundError(
            f"source asset {source} of {name} is not committed in {store.url}; upload the source "
            "first, or fix the source in data_description.json"
        )


_ACTIVE: dict[tuple[str, str], threading.Event] = {}
_ACTIVE_LOCK = threading.Lock()


@contextlib.contextmanager
def _one_per_process(url: str, name: str) -> Iterator[None]:
    """Uploads of one name from threads of one process take turns: a claim names its process, so
    a claim with this process's id is then known to be a leftover of an earlier, failed call."""
    key = (url, name)
    while True:
        with _ACTIVE_LOCK:
            running = _ACTIVE.get(key)
            if running is None:
                _ACTIVE[key] = done = threading.Event()
                break
        running.wait()
    try:
        yield
    finally:
        with _ACTIVE_LOCK:
            del _ACTIVE[key]
        done.set()


def holder_alive(claim: Claim, now: datetime | None = None) -> bool:
    """Whether the upload that wrote ``claim`` may still run: on this host, while its process
    lives (this process's own claims are leftovers, see :func:`_one_per_process`); from another
    host, until the claim's lease expires."""
    if claim.host == socket.gethostname() and claim.pid > 0:
        if claim.pid == os.getpid():
            return False
        try:
            os.kill(claim.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return (now or datetime.now(UTC)) < claim.expires


def _stale_claim(store: Store, plan: Plan) -> bytes | None:
    """The stored claim's bytes when no live upload holds it (it will be taken over), else a
    ConflictError naming the live upload; None when it vanished meanwhile."""
    stored = store.get(f"{plan.name}/{CLAIM}")
    if stored is None:
        return None
    claim = Claim.from_bytes(stored)
    if holder_alive(claim):
        raise _held(plan, claim)
    return stored


def _held(plan: Plan, claim: Claim) -> ConflictError:
    what = "the same files" if claim.fingerprint == plan.fingerprint else "different content"
    return ConflictError(
        f"name {plan.name} is being uploaded with {what} by another upload ({claim.describe()}); "
        "wait for it to finish, or upload this folder under another name"
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid())


def _claim(store: Store, plan: Plan) -> tuple[Claim, Claim | None]:
    """Write this upload's claim create-only, or take over a stale one atomically; return it and
    the claim taken over when that was another process's. Whoever loses learns it here, before
    writing any data object."""
    key = f"{plan.name}/{CLAIM}"
    mine = Claim.new(plan.name, plan.fingerprint, _user())
    data = mine.to_bytes()
    if plan.stale_claim is None:
        if not store.put_once(key, data):
            raise _held(plan, Claim.from_bytes(store.get(key) or b""))
        return mine, None
    if not store.swap(key, plan.stale_claim, data):
        raise _held(plan, Claim.from_bytes(store.get(key) or b""))
    old = Claim.from_bytes(plan.stale_claim)
    return mine, (old if (old.host, old.pid) != (mine.host, mine.pid) else None)


def _check_stored(store: Store, plan: Plan, claimed: bytes) -> None:
    """Just before the manifest: the claim is still this upload's, and every file is stored with
    its size (another upload that took the name over, or a tool writing behind our back, stops it).
    """
    folder = f"{plan.name}/"
    expected = (f"{folder}{local.path}" for local in plan.files)
    stored = {
        info.key.removeprefix(folder): info.size for info in store.list_expected(folder, expected)
    }
    if store.get(f"{plan.name}/{CLAIM}") != claimed:
        raise ConflictError(
            f"name {plan.name} was taken over by another upload while this one ran; nothing was "
            "committed by this upload: check the lake with 'assetlake verify' once it finishes"
        )
    for local in plan.files:
        if stored.get(local.path) != local.size:
            raise IntegrityError(
                f"object {plan.url}/{local.path} is missing or has the wrong size after upload; "
                "nothing was committed: run the upload again"
            )


def _transfer(
    store: Store, plan: Plan, workers: int | None, bar: Tracker
) -> dict[str, FileChecksums]:
    """Upload the planned files concurrently and hash the skipped ones meanwhile; path →
    checksums. The checksums of a sent file come from the read that sent it; a file whose size
    or modification time changed meanwhile is refused (S3 also refuses a part whose bytes
    changed between the read that checksummed it and the one that sent it)."""

    def checksums(local: LocalFile) -> FileChecksums:
        return file_checksums(local.local, store.parts_for(local.size))

    def hash_skipped(local: LocalFile) -> FileChecksums:
        found = checksums(local)
        _unchanged(local)
        return found

    planned = {f"{plan.name}/{f.path}": f for f in plan.upload}
    found: dict[str, FileChecksums] = {}
    pool = ThreadPoolExecutor(streams(workers), thread_name_prefix="assetlake-hash")
    try:
        hashed = {pool.submit(hash_skipped, f): f.path for f in plan.skip}
        sent = store.put_files(
            ((key, f.local) for key, f in planned.items()), workers, progress=bar.bytes
        )
        with contextlib.closing(sent):
            for key, answer in sent:
                local = planned[key]
                if isinstance(answer, ObjectExistsError):
                    answer = _racer_wrote(store, plan, local, checksums)
                elif isinstance(answer, LakeError):
                    _unchanged(local)  # a file changing under a multipart upload fails a CRC32
                    raise answer
                try:
                    _unchanged(local)
                except UsageError:
                    store.discard(key)  # so that the same command, once the file settles, resumes
                    raise
                bar.file()
                found[local.path] = answer
        for future in as_completed(hashed):
            found[hashed[future]] = future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return found


def _unchanged(local: LocalFile) -> None:
    """Refuse a file that changed since it was planned: its manifest entry would not be its
    bytes."""
    try:
        info = os.stat(local.local)
    except OSError:
        info = None
    if info is None or (info.st_size, info.st_mtime_ns) != (local.size, local.mtime_ns):
        raise UsageError(
            f"{local.local}: changed while being uploaded; nothing was committed: let whatever "
            "writes it finish, then run the upload again"
        )


def _racer_wrote(
    store: Store, plan: Plan, local: LocalFile, checksums: Callable[[LocalFile], FileChecksums]
) -> FileChecksums:
    """Another uploader wrote this object meanwhile: fine if it holds the same bytes."""
    info = store.head(f"{plan.name}/{local.path}")
    if info is None or not store.same_content(info, local.local):
        raise _differs(plan, local.path)
    return checksums(local)


def _differs(plan: Plan, path: str) -> ConflictError:
    return ConflictError(
        f"object {plan.url}/{path} already exists with different content; another upload of "
        f"{plan.name} differs from this folder: upload this folder under another name"
    )


def _put_same(store: Store, key: str, data: bytes, plan: Plan) -> None:
    """Create-only write that accepts an identical object already there (resume or twin upload)."""
    if not store.put_once(key, data):
        raise ConflictError(
            f"object {store.url}/{key} already exists with different content; another upload "
            f"of {plan.name} differs from this folder: upload this folder under another name"
        )


def _check_indexable(lake_url: str, plan: Plan, sidecars: dict[str, Any]) -> None:
    """Refuse, before anything is written, an asset the catalogue would call invalid (a
    consolidated document over the size limit, a value no catalogue field holds): the crawl's
    own reader judges the document this upload would commit, so writer and reader never differ."""
    from assetlake.index import commit_problems

    unknown = "0" * 64  # the manifest's hash and the digest are not known yet; same length
    digest = f"{unknown}-{len(plan.files) + 1}--{sum(f.size for f in plan.files)}"
    data = _commit_bytes(plan, sidecars, unknown, digest)
    problems = commit_problems(lake_url, str(plan.name), data)
    if problems:
        raise MetadataError(
            f"asset {plan.name} would be catalogued invalid ({len(problems)} problem(s)); fix "
            "them and upload again (nothing was written)",
            problems,
        )


def _commit_bytes(plan: Plan, sidecars: dict[str, Any], manifest_sha256: str, digest: str) -> bytes:
    """The ``metadata.nd.json`` this upload commits, as bytes."""
    sizes = {f.path: f.size for f in plan.files}
    moment = datetime.now(UTC).isoformat(timespec="seconds")
    document = consolidate(plan.name, plan.url, moment, sidecars, manifest_sha256, sizes, digest)
    return json.dumps(document, indent=1).encode() + b"\n"


def _entry(local: LocalFile, found: FileChecksums) -> ManifestEntry:
    return ManifestEntry(
        local.path, local.size, found.sha256, found.crc32, found.part_size, found.crc32_composite
    )


def _commit(
    store: Store, plan: Plan, sidecars: dict[str, Any], manifest_sha256: str, digest: str
) -> None:
    """Write the consolidated document create-only: the one step that makes the asset visible."""
    data = _commit_bytes(plan, sidecars, manifest_sha256, digest)
    if not store.put_once(f"{plan.name}/{COMMIT}", data):
        raise AssetExistsError(
            f"asset {plan.name} was committed to {store.url} by another upload while this one ran; "
            "assets are immutable, so there is nothing more to do (check it with 'assetlake verify')"
        )


def _result(plan: Plan, *, dry_run: bool) -> UploadResult:
    return UploadResult(
        name=plan.name,
        url=plan.url,
        uploaded=len(plan.upload),
        skipped=len(plan.skip),
        bytes_uploaded=plan.upload_bytes,
        total_bytes=plan.total_bytes,
        objects=len(plan.files),
        dry_run=dry_run,
        plan=plan,
    )
