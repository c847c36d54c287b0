"""The commit protocol: plan, claim, upload, manifest, commit, resume.

An upload is only visible once ``<name>/metadata.nd.json`` exists, and every write is create-only,
so an interrupted upload is invisible and resumable, and two uploaders racing for one name end with
exactly one committed asset. The steps (see docs/design.md, "Layout of a committed asset"):

1. claim: ``<name>/.assetlake-upload.json`` holds a fingerprint of the content; a second upload
   with the same fingerprint is a resume, one with another fingerprint a conflict;
2. every file not yet in the lake is uploaded; files already there with the same bytes are skipped;
3. ``manifest.json`` lists every object with its size and SHA-256;
4. ``metadata.nd.json``, the consolidated metadata, commits the asset.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from assetlake import __version__
from assetlake.asset import CLAIM, COMMIT, MANIFEST, consolidate
from assetlake.errors import (
    AssetExistsError,
    AssetNotFoundError,
    ConflictError,
    InvalidNameError,
    MetadataError,
    ObjectExistsError,
    UsageError,
)
from assetlake.naming import AssetName
from assetlake.problems import Severity
from assetlake.store import Store, open_store, sha256_file

RESERVED = frozenset({CLAIM, MANIFEST, COMMIT})
MANIFEST_VERSION = "1"
CLAIM_VERSION = "1"

T = TypeVar("T")


@dataclass(frozen=True)
class UploadProgress:
    """How far an upload is: given to ``upload_folder``'s ``progress`` callback after each block
    and each file sent (the library reports; the CLI draws)."""

    name: str
    bytes_done: int
    bytes_total: int
    files_done: int
    files_total: int


ProgressReport = Callable[[UploadProgress], None]


@dataclass(frozen=True)
class LocalFile:
    """A file of the asset folder: its key inside the asset, where it is, and its size."""

    path: str
    local: Path
    size: int


@dataclass
class Plan:
    """What an upload will do: which files go up and which are already in the lake."""

    name: str
    url: str
    fingerprint: str
    files: list[LocalFile]
    upload: list[LocalFile] = field(default_factory=list)
    skip: list[LocalFile] = field(default_factory=list)
    claim: bytes | None = None

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def upload_bytes(self) -> int:
        return sum(f.size for f in self.upload)


@dataclass
class UploadResult:
    """The outcome of :func:`upload_folder`; with ``dry_run`` the counts are what would happen.

    ``objects`` and ``total_bytes`` count the folder's files (not the claim, manifest and commit).
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


def committed(store: Store, name: str) -> bool:
    """Whether ``name`` is a committed asset (its consolidated metadata exists)."""
    return store.head(f"{name}/{COMMIT}") is not None


def upload_folder(
    folder: Path,
    lake: str | Store,
    *,
    dry_run: bool = False,
    progress: ProgressReport | None = None,
    workers: int = 16,
) -> UploadResult:
    """Validate the asset folder, then commit it to the lake (or, with ``dry_run``, only plan it).

    Raises MetadataError (invalid sidecars; nothing written), AssetExistsError (already committed),
    ConflictError (another upload holds the name with other content), AssetNotFoundError (the
    source of a derived asset is not in the lake), LakeError (the lake cannot be used).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"asset folder {folder}: not a folder; give the path of an asset folder")
    name, sidecars = _validated(folder)
    files = scan_folder(folder)
    store = lake if isinstance(lake, Store) else open_store(lake)
    store.check()
    plan = _plan(store, name, sidecars, files)
    if dry_run:
        return _result(plan, dry_run=True)
    claim = _claim(store, plan)
    hashes = _transfer(store, plan, workers, _Progress(plan, progress))
    entries = [{"path": f.path, "size": f.size, "sha256": hashes[f.path]} for f in files]
    entries.append({"path": CLAIM, "size": len(claim), "sha256": hashlib.sha256(claim).hexdigest()})
    manifest = manifest_bytes(plan.name, entries)
    _put_same(store, f"{plan.name}/{MANIFEST}", manifest, plan)
    _commit(store, plan, sidecars, hashlib.sha256(manifest).hexdigest())
    return _result(plan, dry_run=False)


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
            if path in RESERVED:
                raise UsageError(
                    f"{local}: {entry} is written by assetlake itself; remove it from the folder"
                )
            files.append(LocalFile(path, local, _readable_size(local)))
    return files


def manifest_bytes(name: str, entries: list[dict[str, Any]]) -> bytes:
    """The manifest document, deterministic so that identical uploads write identical bytes."""
    document = {
        "schema_version": MANIFEST_VERSION,
        "name": name,
        "algorithm": "sha256",
        "objects": sorted(entries, key=lambda entry: entry["path"]),
    }
    return json.dumps(document, indent=1, sort_keys=True).encode() + b"\n"


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


def _readable_size(path: Path) -> int:
    """The size of a regular file that can be opened, checked before anything is written. A link
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
    return info.st_size


def _plan(
    store: Store, parsed: AssetName, sidecars: dict[str, Any], files: list[LocalFile]
) -> Plan:
    """Compare the folder with what the lake holds under the name; refuse clashes before writing."""
    name = str(parsed)
    if committed(store, name):
        raise AssetExistsError(
            f"asset {name} is already committed in {store.url}; assets are immutable: to change "
            "it, upload a new derived asset (<name>_<label>_<date>_<time>) with the fix"
        )
    if parsed.source is not None:
        _check_source(store, name, str(parsed.source))
    content = fingerprint(files, sidecars.get("data_description.json"))
    plan = Plan(name, f"{store.url}/{name}", content, files)
    existing = {info.key.removeprefix(f"{name}/"): info for info in store.list(f"{name}/")}
    claim = existing.pop(CLAIM, None)
    if claim is None and existing:
        raise AssetExistsError(
            f"name {name} is already used in {store.url} by data not uploaded by assetlake; "
            "assets are immutable: choose another name"
        )
    if claim is not None:
        plan.claim = _check_claim(store, plan)
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
    foreign = store.head(f"{source}/data_description.json") is not None and (
        store.head(f"{source}/{CLAIM}") is None
    )
    if not (foreign or committed(store, source)):
        raise AssetNotFoundError(
            f"source asset {source} of {name} is not committed in {store.url}; upload the source "
            "first, or fix the source in data_description.json"
        )


def _claim_document(plan: Plan) -> bytes:
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = str(os.getuid())
    document = {
        "schema_version": CLAIM_VERSION,
        "name": plan.name,
        "fingerprint": plan.fingerprint,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "user": user,
        "pid": os.getpid(),
        "assetlake": __version__,
    }
    return json.dumps(document, indent=1, sort_keys=True).encode() + b"\n"


def _claim(store: Store, plan: Plan) -> bytes:
    """Write the claim create-only, or accept an existing one with the same fingerprint."""
    if plan.claim is not None:
        return plan.claim
    document = _claim_document(plan)
    try:
        store.put(f"{plan.name}/{CLAIM}", document)
    except ObjectExistsError:
        return _check_claim(store, plan)
    return document


def _check_claim(store: Store, plan: Plan) -> bytes:
    """The stored claim's bytes when its fingerprint is this upload's, else a ConflictError."""
    stored = store.get(f"{plan.name}/{CLAIM}") or b"{}"
    try:
        claim = json.loads(stored)
    except ValueError:
        claim = {}
    if claim.get("fingerprint") != plan.fingerprint:
        raise ConflictError(
            f"name {plan.name} is being uploaded with different content by another upload "
            f"(started {claim.get('started', '?')} on host {claim.get('host', '?')}); wait for it "
            "to finish, or upload this folder under another name"
        )
    return stored


def _transfer(store: Store, plan: Plan, workers: int, bar: _Progress) -> dict[str, str]:
    """Upload the planned files concurrently and hash the skipped ones; path → SHA-256."""

    def send(local: LocalFile) -> str:
        try:
            digest = store.put_file(f"{plan.name}/{local.path}", local.local, progress=bar.bytes)
        except ObjectExistsError:
            digest = _racer_wrote(store, plan, local)
        bar.file()
        return digest

    def hash_skipped(local: LocalFile) -> str:
        return sha256_file(local.local)

    jobs: list[tuple[Callable[[LocalFile], str], LocalFile]] = [
        *((send, f) for f in plan.upload),
        *((hash_skipped, f) for f in plan.skip),
    ]
    return dict(_run(jobs, workers))


def _run(
    jobs: list[tuple[Callable[[LocalFile], T], LocalFile]], workers: int
) -> Iterator[tuple[str, T]]:
    """Run jobs on a pool; on any failure (or Ctrl-C) cancel what has not started and re-raise."""
    pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="assetlake-upload")
    try:
        futures: dict[Future[T], str] = {pool.submit(job, f): f.path for job, f in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _racer_wrote(store: Store, plan: Plan, local: LocalFile) -> str:
    """Another uploader wrote this object meanwhile: fine if it holds the same bytes."""
    info = store.head(f"{plan.name}/{local.path}")
    if info is None or not store.same_content(info, local.local):
        raise _differs(plan, local.path)
    return sha256_file(local.local)


def _differs(plan: Plan, path: str) -> ConflictError:
    return ConflictError(
        f"object {plan.url}/{path} already exists with different content; another upload of "
        f"{plan.name} differs from this folder: upload this folder under another name"
    )


def _put_same(store: Store, key: str, data: bytes, plan: Plan) -> None:
    """Create-only write that accepts an identical object already there (resume or twin upload)."""
    try:
        store.put(key, data)
    except ObjectExistsError:
        if store.get(key) != data:
            raise ConflictError(
                f"object {store.url}/{key} already exists with different content; another upload "
                f"of {plan.name} differs from this folder: upload this folder under another name"
            ) from None


def _commit(store: Store, plan: Plan, sidecars: dict[str, Any], manifest_sha256: str) -> None:
    """Write the consolidated document create-only: the one step that makes the asset visible."""
    sizes = {f.path: f.size for f in plan.files}
    moment = datetime.now(UTC).isoformat(timespec="seconds")
    document = consolidate(plan.name, plan.url, moment, sidecars, manifest_sha256, sizes)
    try:
        store.put(f"{plan.name}/{COMMIT}", json.dumps(document, indent=1).encode() + b"\n")
    except ObjectExistsError:
        raise AssetExistsError(
            f"asset {plan.name} was committed to {store.url} by another upload while this one ran; "
            "assets are immutable, so there is nothing more to do (check it with 'assetlake verify')"
        ) from None


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


class _Progress:
    """Counts what the upload threads have sent and reports it, one report at a time."""

    def __init__(self, plan: Plan, report: ProgressReport | None) -> None:
        self._report = report
        self._state = UploadProgress(plan.name, 0, plan.upload_bytes, 0, len(plan.upload))
        self._lock = threading.Lock()

    def bytes(self, count: int) -> None:
        self._advance(count, 0)

    def file(self) -> None:
        self._advance(0, 1)

    def _advance(self, count: int, files: int) -> None:
        if self._report is not None:
            with self._lock:
                state = self._state
                self._state = UploadProgress(
                    state.name,
                    state.bytes_done + count,
                    state.bytes_total,
                    state.files_done + files,
                    state.files_total,
                )
                self._report(self._state)
