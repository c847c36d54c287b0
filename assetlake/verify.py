"""Checking a committed asset against its manifest.

The manifest records every object's size, SHA-256 and CRC32 at upload time, and the consolidated
document records the manifest's own SHA-256 and the asset's digest, so a verify detects missing,
truncated, altered and stray objects, a manifest that was swapped, a digest that disagrees with
it, and unfinished writes left inside the asset by a killed upload (a local lake's
``.assetlake-tmp-*`` files, S3's incomplete multipart uploads).

A plain verify re-hashes every byte: nothing is trusted that was not re-read. ``fast`` reads no
data: it compares each object's size and the CRC32 S3 stores for it (checked by S3 when the bytes
arrived) with the manifest, which catches replaced, truncated and missing objects, but trusts
S3's record of what it stores rather than the bytes themselves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from assetlake.asset import COMMIT, MANIFEST, Manifest, ManifestEntry
from assetlake.checksums import same_composite
from assetlake.collector import rare_collections
from assetlake.digest import asset_digest
from assetlake.document import read_document
from assetlake.errors import AssetNotFoundError, IntegrityError, UsageError
from assetlake.naming import parse_name
from assetlake.problems import Problem
from assetlake.store import SMALL, Store, open_store, streams


@dataclass(frozen=True)
class Changed:
    """An object whose stored bytes differ from the manifest, and how."""

    path: str
    why: str


@dataclass
class VerifyReport:
    """What a verify found; ``ok`` only when every object matched and nothing was added.

    ``digest`` is the asset's digest computed from the verified manifest (also for older assets,
    whose commit did not record one); ``unchecked`` lists the objects a fast verify could not
    check without reading them, with why (``complete`` is False then)."""

    name: str
    fast: bool = False
    checked: int = 0
    size: int = 0
    digest: str | None = None
    missing: list[str] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    unchecked: list[Changed] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.unexpected or self.unfinished)

    @property
    def complete(self) -> bool:
        return not self.unchecked

    def problems(self) -> list[str]:
        """One line per problem, for people."""
        return [
            *(f"missing: {self.name}/{path}" for path in self.missing),
            *(f"changed: {self.name}/{c.path} ({c.why})" for c in self.changed),
            *(f"unexpected: {self.name}/{path} (not in the manifest)" for path in self.unexpected),
            *(
                f"unfinished: {self.name}/{path} (left by an interrupted upload; safe to delete)"
                for path in self.unfinished
            ),
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "fast": self.fast,
            "complete": self.complete,
            "checked": self.checked,
            "size": self.size,
            "digest": self.digest,
            "missing": self.missing,
            "changed": [{"path": c.path, "why": c.why} for c in self.changed],
            "unexpected": self.unexpected,
            "unfinished": self.unfinished,
            "unchecked": [{"path": c.path, "why": c.why} for c in self.unchecked],
        }


def verify_asset(
    lake: str | Store, name: str, *, workers: int | None = None, fast: bool = False
) -> VerifyReport:
    """Re-hash every object of a committed asset (``fast``: compare S3's stored CRC32s, reading
    no data) and compare it with the manifest, ``workers`` objects at once (None: the store's
    choice).

    Raises AssetNotFoundError when the asset is not committed, IntegrityError when it has no
    assetlake manifest to check against (a foreign asset), UsageError for ``fast`` on a lake
    that stores no checksums (a local folder).
    """
    parse_name(name)
    store = lake if isinstance(lake, Store) else open_store(lake)
    if fast and not store.stores_checksums:
        raise UsageError(
            f"verify --fast compares the checksums S3 stores, and lake {store.url} is a local "
            "folder that stores none: run 'assetlake verify' without --fast"
        )
    # The listing (only sizes and strays) and the unfinished uploads are read meanwhile: at
    # 30 ms a page they are most of a fast verify's critical path otherwise.
    with rare_collections(), ThreadPoolExecutor(2, thread_name_prefix="assetlake-list") as pool:
        listing = pool.submit(_sizes, store, name)
        unfinished = pool.submit(store.leftovers, f"{name}/")
        report = _check(store, name, fast, listing, workers)
        report.unfinished = [key.removeprefix(f"{name}/") for key in unfinished.result()]
    return report


def _check(
    store: Store, name: str, fast: bool, listing: Future[dict[str, int]], workers: int | None
) -> VerifyReport:
    """The commit document, the manifest and every object, against each other; ``listing``
    arrives while the objects are checked."""
    document = _json(store, name, COMMIT)
    if document is None:
        raise AssetNotFoundError(
            f"asset {name} is not committed in {store.url} (no {COMMIT}); check the name with "
            "'assetlake find', or finish its upload by running 'assetlake upload' again"
        )
    summary = document.get("assetlake")
    expected_sha256 = summary.get("manifest_sha256") if isinstance(summary, dict) else None
    if not expected_sha256:
        raise IntegrityError(
            f"asset {name} in {store.url} was not uploaded by assetlake and has no manifest; "
            "verify checks only assets committed by 'assetlake upload'"
        )
    report = VerifyReport(name, fast=fast)
    raw_manifest = store.get(f"{name}/{MANIFEST}")
    if raw_manifest is None:
        report.missing.append(MANIFEST)
        return report
    swapped = hashlib.sha256(raw_manifest).hexdigest() != expected_sha256
    if swapped:
        report.changed.append(Changed(MANIFEST, f"sha256 differs from {COMMIT}"))
    try:
        entries = Manifest.from_bytes(raw_manifest).objects
    except ValueError:
        report.changed.append(Changed(MANIFEST, "not a readable manifest"))
        return report
    if not swapped:  # a digest of a swapped manifest would name nothing
        _check_digest(summary, entries, report)
    report.checked, report.size = len(entries), sum(entry.size for entry in entries)
    if fast:
        _compare_stored(store, name, entries, listing, report, workers)
    else:
        _compare(store, name, entries, listing.result(), report, workers)
    listed = {entry.path for entry in entries} | {MANIFEST, COMMIT}
    report.unexpected = sorted(path for path in listing.result() if path not in listed)
    report.missing.sort()
    report.changed.sort(key=lambda c: c.path)
    report.unchecked.sort(key=lambda c: c.path)
    return report


def _sizes(store: Store, name: str) -> dict[str, int]:
    """Every object under the asset's folder (relative to it) and its size."""
    return {info.key.removeprefix(f"{name}/"): info.size for info in store.list(f"{name}/")}


def _listed(
    entries: Iterable[ManifestEntry], stored: dict[str, int], report: VerifyReport
) -> list[ManifestEntry]:
    """The entries the listing shows at their size (the others reported missing or changed)."""
    present = []
    for entry in entries:
        size = stored.get(entry.path)
        if size is None:
            report.missing.append(entry.path)
        elif size != entry.size:
            report.changed.append(Changed(entry.path, f"size {size}, manifest says {entry.size}"))
        else:
            present.append(entry)
    return present


def _compare(
    store: Store,
    name: str,
    entries: tuple[ManifestEntry, ...],
    stored: dict[str, int],
    report: VerifyReport,
    workers: int | None,
) -> None:
    """Sizes from the listing first (cheap), then a concurrent re-hash of every present object."""
    for entry, digest in _hashes(store, name, _listed(entries, stored, report), workers):
        if digest is None:
            report.missing.append(entry.path)
        elif digest != entry.sha256:
            report.changed.append(Changed(entry.path, "sha256 differs from the manifest"))


def _hashes(
    store: Store, name: str, entries: list[ManifestEntry], workers: int | None
) -> Iterator[tuple[ManifestEntry, str | None]]:
    """``(entry, SHA-256 of the stored object or None when missing)`` for every entry: small
    objects read whole through the bulk path, ``workers`` at once, hashed as they arrive; large
    ones streamed meanwhile (see :func:`~assetlake.store.streams`)."""
    small = {f"{name}/{e.path}": e for e in entries if e.size <= SMALL}
    large = [entry for entry in entries if entry.size > SMALL]
    with ThreadPoolExecutor(streams(workers)) as pool:
        streamed = pool.map(lambda entry: store.sha256(f"{name}/{entry.path}"), large)
        for key, data in store.get_many(small, workers):
            yield small[key], None if data is None else hashlib.sha256(data).hexdigest()
        yield from zip(large, streamed, strict=True)


def _compare_stored(
    store: Store,
    name: str,
    entries: tuple[ManifestEntry, ...],
    listing: Future[dict[str, int]],
    report: VerifyReport,
    workers: int | None,
) -> None:
    """One HEAD per object that the manifest gives a CRC32 for (its presence, size and stored
    CRC32), while the listing is read; the others are checked by the listing's sizes only and
    reported unchecked."""
    by_key = {f"{name}/{entry.path}": entry for entry in entries if entry.crc32 is not None}
    for key, stored in store.stored_checksums(by_key, workers):
        entry = by_key[key]
        if stored is None:
            report.missing.append(entry.path)
            continue
        size, crc = stored
        if size != entry.size:
            report.changed.append(Changed(entry.path, f"size {size}, manifest says {entry.size}"))
        elif crc is None:
            report.unchecked.append(Changed(entry.path, "the lake stores no CRC32 for it"))
        elif _same_crc32(crc, entry):
            continue
        elif _parts(crc) != _parts(entry.crc32_composite):
            uploaded = _parts(entry.crc32_composite)
            report.unchecked.append(
                Changed(
                    entry.path,
                    f"stored in {_parts(crc)} part(s), the manifest records {uploaded}: "
                    "its CRC32s cannot be compared (rewritten by another tool?)",
                )
            )
        else:
            report.changed.append(Changed(entry.path, "CRC32 differs from the manifest"))
    old = [entry for entry in entries if entry.crc32 is None]
    report.unchecked += [
        Changed(
            entry.path, "its manifest entry has no CRC32 (uploaded before assetlake recorded them)"
        )
        for entry in _listed(old, listing.result(), report)
    ]


def _same_crc32(crc: str, entry: ManifestEntry) -> bool:
    """Whether a stored CRC32 is the one recorded: the whole object's, or the composite of its
    parts."""
    composite = entry.crc32_composite
    return crc == entry.crc32 or (composite is not None and same_composite(crc, composite))


def _parts(crc: str | None) -> int:
    """How many parts a stored CRC32 covers: ``<crc>-<n>`` is a composite of n parts."""
    count = (crc or "").rpartition("-")[2]
    return int(count) if "-" in (crc or "") and count.isdigit() else 1


def _check_digest(
    summary: dict[str, Any], entries: tuple[ManifestEntry, ...], report: VerifyReport
) -> None:
    """The digest of the manifest being checked, compared with the one recorded at commit."""
    try:
        report.digest = asset_digest(entries)
    except ValueError as error:
        report.changed.append(Changed(MANIFEST, f"no digest can be computed: {error}"))
        return
    recorded = summary.get("digest")
    if recorded is not None and recorded != report.digest:
        report.changed.append(Changed(COMMIT, "its digest differs from the manifest's"))


def _json(store: Store, name: str, filename: str) -> dict[str, Any] | None:
    data = store.get(f"{name}/{filename}")
    if data is None:
        return None
    document = read_document(filename, data)
    if isinstance(document, Problem):
        raise IntegrityError(
            f"{store.url}/{name}/{filename} {document.message.split(';')[0]}; the asset is "
            "damaged: restore it from its source folder as a new asset"
        )
    return document
