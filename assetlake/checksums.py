"""The checksums ``verify --fast`` compares with what S3 stores, computed from a local file.

S3 keeps the CRC32 an object was sent with: for a single PUT the CRC32 of its bytes, for a
multipart upload the composite ``base64(CRC32(CRC32(part 1) ‖ … ‖ CRC32(part n)))-n``, which
depends on the part size. The stores compute both (with the SHA-256) in the read that sends a
file, the uploader records them in the manifest, and a later HEAD checks an object without
reading it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

#: Bytes read at once to checksum a file.
READ = 1 << 20


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


def same_composite(stored: str | None, composite: str) -> bool:
    """Whether the CRC32 S3 stored for a multipart object is ``composite``: with its
    ``-<parts>`` suffix, as S3 answers, or without, as some S3 servers (moto) do."""
    return stored in (composite, composite.rpartition("-")[0])


class Checksummer:
    """The checksums of bytes fed in order, so the read that sends a file also checksums it."""

    def __init__(self, part_size: int | None) -> None:
        self.part_size = part_size
        self._digest = hashlib.sha256()
        self._whole = 0
        self._part = 0  # CRC32 of the part being fed
        self._fed = 0  # bytes fed into that part
        self._parts: list[bytes] = []

    def update(self, block: bytes | memoryview) -> None:
        self._digest.update(block)
        self._whole = zlib.crc32(block, self._whole)
        if self.part_size is None:
            return
        view = memoryview(block)
        while view:
            piece = view[: self.part_size - self._fed]
            self._part = zlib.crc32(piece, self._part)
            self._fed += len(piece)
            view = view[len(piece) :]
            if self._fed == self.part_size:
                self._end_part()

    def add_part(self, part: bytes | memoryview) -> str:
        """Feed one whole part (only the last may be shorter); its CRC32 for the part's header."""
        self._digest.update(part)
        self._whole = zlib.crc32(part, self._whole)
        crc = zlib.crc32(part)
        self._parts.append(crc.to_bytes(4, "big"))
        return crc32_text(crc)

    def _end_part(self) -> None:
        self._parts.append(self._part.to_bytes(4, "big"))
        self._part = self._fed = 0

    def result(self) -> FileChecksums:
        if self.part_size is None:
            return FileChecksums(self._digest.hexdigest(), crc32_text(self._whole))
        if self._fed:  # a last, shorter part
            self._end_part()
        composite = f"{crc32_text(zlib.crc32(b''.join(self._parts)))}-{len(self._parts)}"
        return FileChecksums(
            self._digest.hexdigest(), crc32_text(self._whole), self.part_size, composite
        )


def file_checksums(path: Path, part_size: int | None) -> FileChecksums:
    """Read ``path`` once; ``part_size`` is the size of the parts it is sent in (None: one PUT).
    One buffer of at most :data:`READ` bytes is reused: a fresh 8 MiB block per read kept two
    of them in each uploading thread's malloc arena, 16 MiB of a 1 GiB upload's peak."""
    summer = Checksummer(part_size)
    with open(path, "rb", buffering=0) as stream:
        view = memoryview(bytearray(min(os.fstat(stream.fileno()).st_size, READ)))
        while count := stream.readinto(view):
            summer.update(view[:count])
    return summer.result()
