"""The asset digest: one string that names an asset's content wherever it lives (docs/digest.md).

It is computed from the manifest alone (every data object's path, size and SHA-256; the claim,
manifest and commit are bookkeeping of one upload and left out), so two copies of an asset in two
lakes have the same digest, and a changed byte, name or file gives another. Like DANDI's Zarr
checksum it carries the object count and total size, readable without a lookup.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from assetlake.asset import RESERVED_FILES, ManifestEntry

#: ``<sha256 of the listing>-<objects>--<bytes>``, all lowercase ASCII.
DIGEST_PATTERN = re.compile(r"[0-9a-f]{64}-[0-9]+--[0-9]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def asset_digest(entries: Iterable[ManifestEntry]) -> str:
    """The digest of the data objects among ``entries``; ValueError on an entry that cannot be
    encoded unambiguously (a path with NUL, a SHA-256 that is not 64 lowercase hex digits)."""
    data = sorted(
        (entry for entry in entries if entry.path not in RESERVED_FILES),
        key=lambda entry: entry.path.encode(),
    )
    listing = hashlib.sha256()
    seen: set[str] = set()
    for entry in data:
        if "\0" in entry.path or not entry.path or entry.path in seen:
            raise ValueError(f"manifest entry {entry.path!r}: not a path a digest can encode")
        if not _SHA256.fullmatch(entry.sha256) or entry.size < 0:
            raise ValueError(f"manifest entry {entry.path!r}: not a size and a SHA-256")
        seen.add(entry.path)
        listing.update(b"%s\0%d\0%s\n" % (entry.path.encode(), entry.size, entry.sha256.encode()))
    total = sum(entry.size for entry in data)
    return f"{listing.hexdigest()}-{len(data)}--{total}"


def is_digest(value: object) -> bool:
    """Whether a value read from a bucket is a well-formed digest (anything else is dropped)."""
    return isinstance(value, str) and DIGEST_PATTERN.fullmatch(value) is not None
