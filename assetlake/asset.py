"""The layout of a committed asset: its reserved file names and the consolidated metadata document.

An assetlake asset is committed exactly when ``<name>/metadata.nd.json`` exists; it is written last,
create-only. ``.assetlake-upload.json`` (written first) marks an assetlake upload, so a folder that
has it but no consolidated document is an upload in progress, invisible to readers.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from assetlake import __version__
from assetlake.document import read_document
from assetlake.problems import Problem

SIDECAR_FILES = (
    "data_description.json",
    "subject.json",
    "procedures.json",
    "rig.json",
    "processing.json",
    "acquisition.json",
)
#: Sidecars written by other tools (aind-data-schema v1 ``session.json``, v2 ``instrument.json``).
FOREIGN_SIDECAR_FILES = ("session.json", "instrument.json", "quality_control.json")
#: Every metadata file the indexer reads from an asset folder.
READABLE_FILES = (*SIDECAR_FILES, *FOREIGN_SIDECAR_FILES)
CLAIM = ".assetlake-upload.json"
MANIFEST = "manifest.json"
COMMIT = "metadata.nd.json"
DOCUMENT_VERSION = "1"
MANIFEST_VERSION = "2"  # 2: CRC32 per object (verify --fast)
CLAIM_VERSION = "2"
#: How long a claim from another host holds its name; a claim on this host holds it while its
#: process lives. An older claim is taken over by the next upload of the name.
LEASE = timedelta(hours=24)
#: Every file name assetlake writes into an asset; a folder to upload may hold none of them.
RESERVED_FILES = frozenset({CLAIM, MANIFEST, COMMIT})
#: Prefix of a local lake's files being written (an interrupted write leaves one behind).
TMP_PREFIX = ".assetlake-tmp-"


class Layout(StrEnum):
    """What a folder of the lake is, from its listing alone (see :func:`classify`)."""

    COMMITTED = "committed"  # metadata.nd.json exists: visible, immutable
    UPLOADING = "uploading"  # a claim without a commit: an upload in progress or interrupted
    FOREIGN = "foreign"  # data_description.json without claim or commit: written by another tool
    STRAY = "stray"  # anything else (or nothing): not an asset


def classify(listing: Iterable[str]) -> Layout:
    """What the keys of one folder (relative to it) make it; one rule for upload, index, verify."""
    keys = set(listing)
    if COMMIT in keys:
        return Layout.COMMITTED
    if CLAIM in keys:
        return Layout.UPLOADING
    if "data_description.json" in keys:
        return Layout.FOREIGN
    return Layout.STRAY


@dataclass(frozen=True)
class ManifestEntry:
    """One object of an asset as uploaded: its path inside the asset, size and SHA-256, and what
    ``verify --fast`` compares with the checksum S3 stores, without reading data: the CRC32 of the
    whole object and, for an object sent in parts, the part size and S3's composite CRC32
    (``<base64 CRC32 of the parts' CRC32s>-<parts>``). Manifests before version 2 have neither."""

    path: str
    size: int
    sha256: str
    crc32: str | None = None
    part_size: int | None = None
    crc32_composite: str | None = None

    def to_dict(self) -> dict[str, Any]:
        fields = {"path": self.path, "size": self.size, "sha256": self.sha256}
        optional = {
            "crc32": self.crc32,
            "part_size": self.part_size,
            "crc32_composite": self.crc32_composite,
        }
        return fields | {key: value for key, value in optional.items() if value is not None}


@dataclass(frozen=True)
class Manifest:
    """``manifest.json``: every object of the asset with the size and hash of the bytes sent."""

    name: str
    objects: tuple[ManifestEntry, ...]

    def to_bytes(self) -> bytes:
        """Deterministic, so that identical uploads write identical bytes."""
        document = {
            "schema_version": MANIFEST_VERSION,
            "name": self.name,
            "algorithm": "sha256",
            "objects": [e.to_dict() for e in sorted(self.objects, key=lambda entry: entry.path)],
        }
        return json.dumps(document, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Raise ValueError unless ``data`` is a manifest with well-typed entries."""
        document = read_document(MANIFEST, data)
        if isinstance(document, Problem):
            raise ValueError(f"not a manifest: {document.message}")
        if not isinstance(document.get("objects"), list):
            raise ValueError("not a manifest: no list of objects")
        entries = []
        for item in document["objects"]:
            if not isinstance(item, dict):
                raise ValueError("not a manifest: an object entry is not a mapping")
            path, size, sha256 = item.get("path"), item.get("size"), item.get("sha256")
            if not (isinstance(path, str) and isinstance(sha256, str)):
                raise ValueError(f"manifest entry {path!r}: path and sha256 must be text")
            if type(size) is not int or size < 0:
                raise ValueError(f"manifest entry {path!r}: size must be a whole number")
            entries.append(ManifestEntry(path, size, sha256, *_fast_fields(path, item)))
        return cls(str(document.get("name", "")), tuple(entries))


def _fast_fields(path: str, item: dict[str, Any]) -> tuple[str | None, int | None, str | None]:
    """The optional checksums of a manifest entry; absent or mistyped ones read as None (the
    object is then not fast-checkable, which ``verify --fast`` says)."""
    crc32, part_size, composite = (item.get(k) for k in ("crc32", "part_size", "crc32_composite"))
    return (
        crc32 if isinstance(crc32, str) and len(crc32) <= 16 else None,
        part_size if type(part_size) is int and part_size > 0 else None,
        composite if isinstance(composite, str) and len(composite) <= 32 else None,
    )


@dataclass(frozen=True)
class Claim:
    """``.assetlake-upload.json``: who uploads a name, with what content, until when.

    ``token`` makes every upload's claim unique, so its owner recognises its own claim after a lost
    response; ``host``/``pid`` let an upload on the same host see that the owner is gone, and
    ``expires`` bounds a claim from another host (see :data:`LEASE`)."""

    name: str
    fingerprint: str
    token: str
    host: str
    user: str
    pid: int
    started: datetime
    expires: datetime

    @classmethod
    def new(cls, name: str, fingerprint: str, user: str, lease: timedelta = LEASE) -> Claim:
        now = datetime.now(UTC).replace(microsecond=0)
        host, pid, token = socket.gethostname(), os.getpid(), secrets.token_hex(16)
        return cls(name, fingerprint, token, host, user, pid, now, now + lease)

    def to_bytes(self) -> bytes:
        document = {
            "schema_version": CLAIM_VERSION,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "token": self.token,
            "host": self.host,
            "user": self.user,
            "pid": self.pid,
            "started": self.started.isoformat(),
            "expires": self.expires.isoformat(),
            "assetlake": __version__,
        }
        return json.dumps(document, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> Claim:
        """Read a claim tolerantly: unreadable fields become values that no upload matches, and a
        claim without an expiry (older assetlake) holds its name for :data:`LEASE` from its start.
        """
        read = read_document(CLAIM, data)
        document = {} if isinstance(read, Problem) else read

        def text(key: str) -> str:
            value = document.get(key)
            return value if isinstance(value, str) else "?"

        started = moment(document.get("started")) or datetime.fromtimestamp(0, UTC)
        expires = moment(document.get("expires")) or started + LEASE
        pid = document.get("pid")
        return cls(
            text("name"),
            text("fingerprint"),
            text("token"),
            text("host"),
            text("user"),
            pid if type(pid) is int and pid > 0 else 0,
            started,
            expires,
        )

    def describe(self) -> str:
        """Who holds the claim, for messages: 'started …, on host …, process …'."""
        return f"started {self.started.isoformat()} on host {self.host}, process {self.pid}"


def moment(value: object, *, naive: tzinfo | None = UTC) -> datetime | None:
    """An ISO 8601 time read from the lake, or None for anything else; a time without an offset
    is taken in ``naive`` (None: not a time at all)."""
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value)
    except ValueError:
        return None
    if found.tzinfo is not None:
        return found
    return found.replace(tzinfo=naive) if naive is not None else None


_FORMATS = (
    (".nwb.zarr", "nwb-zarr"),
    (".ome.zarr", "ome-zarr"),
    (".zarr", "zarr"),
    (".nwb", "nwb"),
    (".json", "json"),
    (".mp4", "video"),
    (".avi", "video"),
    (".mkv", "video"),
)


def data_format(path: str) -> str:
    """The format of a top-level entry of an asset, from its name (``ecephys.nwb.zarr`` → nwb-zarr)."""
    lowered = path.lower().rstrip("/")
    return next((fmt for suffix, fmt in _FORMATS if lowered.endswith(suffix)), "file")


def sidecar_key(filename: str) -> str:
    """The key of a sidecar inside the consolidated document (``subject.json`` → ``subject``)."""
    return filename.removesuffix(".json")


def summarise_contents(objects: Mapping[str, int]) -> list[dict[str, Any]]:
    """Group an asset's objects (relative path → size) by top-level entry, with format and totals."""
    groups: dict[str, dict[str, Any]] = {}
    for path, size in objects.items():
        top = path.split("/", 1)[0]
        entry = groups.setdefault(
            top, {"path": top, "format": data_format(top), "size": 0, "objects": 0}
        )
        entry["size"] += size
        entry["objects"] += 1
    return sorted(groups.values(), key=lambda entry: entry["path"])


def consolidate(
    name: str,
    location: str,
    committed: str,
    sidecars: Mapping[str, Any],
    manifest_sha256: str,
    objects: Mapping[str, int],
    digest: str,
) -> dict[str, Any]:
    """The ``metadata.nd.json`` document: every sidecar's JSON plus a summary of the manifest,
    with the asset's digest (:mod:`assetlake.digest`)."""
    document: dict[str, Any] = {
        "schema_version": DOCUMENT_VERSION,
        "name": name,
        "location": location,
        "committed": committed,
    }
    for filename in SIDECAR_FILES:
        if filename in sidecars:
            document[sidecar_key(filename)] = sidecars[filename]
    document["assetlake"] = {
        "version": __version__,
        "manifest_sha256": manifest_sha256,
        "digest": digest,
        "size": sum(objects.values()),
        "objects": len(objects),
        "contents": summarise_contents(objects),
    }
    return document


def sidecars_of(document: Mapping[str, Any]) -> dict[str, Any]:
    """The sidecar documents inside a consolidated file, keyed by file name."""
    return {
        filename: document[sidecar_key(filename)]
        for filename in READABLE_FILES
        if isinstance(document.get(sidecar_key(filename)), dict)
    }
