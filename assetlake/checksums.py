"""The checksums ``verify --fast`` compares with what S3 stores, computed from a local file.

S3 keeps the CRC32 an object was sent with: for a single PUT the CRC32 of its bytes, for a
multipart upload the composite ``base64(CRC32(CRC32(part 1) ‖ … ‖ CRC32(part n)))-n``, which
depends on the part size. The uploader records both (with the part size) in the manifest, from
the same read that computes the SHA-256, so a later HEAD checks an object without reading it.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path

from assetlake.store import BLOCK


@dataclass(frozen=True)
class FileChecksums:
    """A file's SHA-256, its whole-object CRC32 and, when sent in parts, the composite CRC32."""

    sha256: str
    crc32: str
    part_size: int | None = None
    crc32_composite: str | None = None


def crc32_text(value: int) -> str:
    """A CRC32 as S3 writes it (``x-amz-checksum-crc32``): base64 of its 4 big-endian bytes."""
    return base64.b64encode(value.to_bytes(4, "big")).decode()


def file_checksums(path: Path, part_size: int | None) -> FileChecksums:
    """Read ``path`` once; ``part_size`` is the size of the parts it is sent in (None: one PUT)."""
    digest, whole, parts = hashlib.sha256(), 0, []
    step = part_size or BLOCK
    with open(path, "rb") as stream:
        while True:
            part, left = 0, step
            while left and (block := stream.read(min(BLOCK, left))):
                digest.update(block)
                whole = zlib.crc32(block, whole)
                part = zlib.crc32(block, part)
                left -= len(block)
            if left == step:
                break
            parts.append(part.to_bytes(4, "big"))
            if left:
                break
    if part_size is None:
        return FileChecksums(digest.hexdigest(), crc32_text(whole))
    composite = f"{crc32_text(zlib.crc32(b''.join(parts)))}-{len(parts)}"
    return FileChecksums(digest.hexdigest(), crc32_text(whole), part_size, composite)
