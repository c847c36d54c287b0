"""Re-reading a committed asset against its manifest: nothing is trusted that was not re-hashed.

The manifest records every object's size and SHA-256 at upload time, and the consolidated document
records the manifest's own SHA-256, so a verify detects missing, truncated, altered and stray
objects, a manifest that was swapped, and unfinished writes left inside the asset by a killed
upload (a local lake's ``.assetlake-tmp-*`` files, S3's incomplete multipart uploads).
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from assetlake.asset import COMMIT, MANIFEST, Layout, Manifest, ManifestEntry, classify
from assetlake.document import read_document
from assetlake.errors import AssetNotFoundError, IntegrityError
from assetlake.naming import parse_name
from assetlake.problems import Problem
from assetlake.store import Store, open_store


@dataclass(frozen=True)
class Changed:
    """An object whose stored bytes differ from the manifest, and how."""

    path: str
    why: str


@dataclass
class VerifyReport:
    """What a verify found; ``ok`` only when every object matched and nothing was added."""

    name: str
    checked: int = 0
    size: int = 0
    missing: list[str] = field(default_factory=list)
    changed: list[Changed] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.changed or self.unexpected or self.unfinished)

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
            "checked": self.checked,
            "size": self.size,
            "missing": self.missing,
            "changed": [{"path": c.path, "why": c.why} for c in self.changed],
            "unexpected": self.unexpected,
            "unfinished": self.unfinished,
        }


def verify_asset(lake: str | Store, name: str, *, workers: int = 16) -> VerifyReport:
    """Re-hash every object of a committed asset and compare it with the manifest.

    Raises AssetNotFoundError when the asset is not committed, IntegrityError when it has no
    assetlake manifest to check against (a foreign asset).
    """
    parse_name(name)
    store = lake if isinstance(lake, Store) else open_store(lake)
    stored = {info.key.removeprefix(f"{name}/"): info.size for info in store.list(f"{name}/")}
    document = _json(store, name, COMMIT) if classify(stored) is Layout.COMMITTED else None
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
    report = VerifyReport(name)
    report.unfinished = [key.removeprefix(f"{name}/") for key in store.leftovers(f"{name}/")]
    raw_manifest = store.get(f"{name}/{MANIFEST}")
    if raw_manifest is None:
        report.missing.append(MANIFEST)
        return report
    if hashlib.sha256(raw_manifest).hexdigest() != expected_sha256:
        report.changed.append(Changed(MANIFEST, f"sha256 differs from {COMMIT}"))
    try:
        entries = Manifest.from_bytes(raw_manifest).objects
    except ValueError:
        report.changed.append(Changed(MANIFEST, "not a readable manifest"))
        return report
    _compare(store, name, entries, stored, report, workers)
    listed = {entry.path for entry in entries} | {MANIFEST, COMMIT}
    report.unexpected = sorted(path for path in stored if path not in listed)
    return report


def _compare(
    store: Store,
    name: str,
    entries: tuple[ManifestEntry, ...],
    stored: dict[str, int],
    report: VerifyReport,
    workers: int,
) -> None:
    """Sizes from the listing first (cheap), then a concurrent re-hash of every present object."""
    to_hash = []
    for entry in entries:
        path, size = entry.path, entry.size
        report.checked += 1
        report.size += size
        if path not in stored:
            report.missing.append(path)
        elif stored[path] != size:
            report.changed.append(Changed(path, f"size {stored[path]}, manifest says {size}"))
        else:
            to_hash.append(entry)
    with ThreadPoolExecutor(max(1, workers)) as pool:
        hashes = pool.map(lambda entry: store.sha256(f"{name}/{entry.path}"), to_hash)
        for entry, digest in zip(to_hash, hashes, strict=True):
            if digest is None:
                report.missing.append(entry.path)
            elif digest != entry.sha256:
                report.changed.append(Changed(entry.path, "sha256 differs from the manifest"))
    report.missing.sort()
    report.changed.sort(key=lambda c: c.path)


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
