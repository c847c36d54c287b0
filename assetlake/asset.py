"""The layout of a committed asset: its reserved file names and the consolidated metadata document.

An assetlake asset is committed exactly when ``<name>/metadata.nd.json`` exists; it is written last,
create-only. ``.assetlake-upload.json`` (written first) marks an assetlake upload, so a folder that
has it but no consolidated document is an upload in progress, invisible to readers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from assetlake import __version__

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
) -> dict[str, Any]:
    """The ``metadata.nd.json`` document: every sidecar's JSON plus a summary of the manifest."""
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
