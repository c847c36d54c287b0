"""The one reader of metadata documents (sidecars, claims, manifests, ``metadata.nd.json``).

Everything assetlake reads as JSON from a folder or a lake comes through :func:`read_document`,
which bounds it before anyone else sees it: at most 16 MiB, UTF-8, one JSON object, no duplicate
keys, no ``NaN``/``Infinity``, nesting at most :data:`MAX_DEPTH` deep, every integer within
int64. Code downstream (pydantic, SQLite, Parquet, recursion of any kind) can then trust the
shape. The same limits are what the writer enforces (``assetlake validate`` and ``upload`` read
sidecars through this reader), so the lake never accepts what the catalogue would refuse.
:func:`read_json` is the same reader for JSON that need not be an object (a published
catalogue's JSON columns, a search cursor).
:func:`control_characters` is the extra rule of strict (upload-time) validation: it refuses the
:data:`UNSAFE` characters, the same set every human-readable output escapes.
:func:`detect_shape` says which schema family wrote a sidecar.
"""

from __future__ import annotations

import json
import math
import re
from enum import StrEnum
from typing import Any

from assetlake.problems import Problem

#: Metadata files larger than this are not read (a sidecar is kilobytes; this is a broken upload).
MAX_BYTES = 16 << 20
#: Deepest nesting of arrays and objects accepted (AIND v2 documents reach about 10).
MAX_DEPTH = 64
#: The whole numbers a 64-bit column (SQLite INTEGER, Parquet int64) holds.
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
#: The characters no metadata text may hold and no output shows as they are: C0 controls (except
#: tab and newline; ``\r`` can forge lines), DEL and C1 controls (the raw material of terminal
#: escape sequences), and the invisible ones that reorder or break lines (bidi marks, embeddings,
#: overrides and isolates; line and paragraph separators).
UNSAFE_CHARACTERS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069"
UNSAFE = re.compile(f"[{UNSAFE_CHARACTERS}]")


class Shape(StrEnum):
    """Which schema family wrote a sidecar; each is read into the same assetlake fields."""

    ASSETLAKE = "assetlake"
    AIND_V1 = "aind-v1"
    AIND_V2 = "aind-v2"


class _Refused(ValueError):
    """Raised by the parser hooks; its message is the problem's message."""


def read_document(
    filename: str, data: bytes | str, *, max_bytes: int = MAX_BYTES
) -> dict[str, Any] | Problem:
    """The JSON object in ``data``, bounded and typed, or the one error Problem saying why not."""
    document = read_json(filename, data, max_bytes=max_bytes)
    if isinstance(document, Problem | dict):
        return document
    return Problem(
        filename,
        "",
        f"must hold a JSON object, not {type(document).__name__}; wrap the fields in {{...}}",
        document if not isinstance(document, list) else None,
    )


def read_json(filename: str, data: bytes | str, *, max_bytes: int = MAX_BYTES) -> Any:
    """The JSON value in ``data``, bounded and typed as :func:`read_document` bounds an object,
    or the one error Problem saying why not."""
    if len(data) > max_bytes:
        return too_big(filename, len(data), max_bytes)
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as error:
            return Problem(
                filename,
                "",
                f"is not UTF-8 text (byte {error.start}); save it as UTF-8",
            )
    try:
        document = _DECODER.decode(data)
    except _Refused as error:
        return Problem(filename, "", str(error))
    except json.JSONDecodeError as error:
        return Problem(
            filename,
            "",
            f"is not valid JSON ({error.msg} at line {error.lineno} column {error.colno}); "
            "fix the syntax",
        )
    except RecursionError:
        return _too_deep(filename)
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        return Problem(filename, "", f"is not readable JSON ({error}); fix the file")
    return _too_deep(filename) if nests_too_deep(document) else document


def too_big(filename: str, size: int, max_bytes: int = MAX_BYTES) -> Problem:
    """The problem of a metadata file over the limit (also found from a listing, before a GET)."""
    return Problem(
        filename,
        "",
        f"{size} bytes is over the {max_bytes}-byte limit for metadata; not read",
        size,
    )


def control_characters(filename: str, document: Any) -> list[Problem]:
    """An error for each key or string holding an :data:`UNSAFE` character (strict validation
    only: the reader keeps them, and every output escapes them)."""
    problems = []
    for path, value in _walk(document):
        if isinstance(value, str) and (found := UNSAFE.search(value)):
            problems.append(
                Problem(
                    filename,
                    path,
                    f"holds the control or invisible character U+{ord(found.group()):04X} "
                    "(of those, only tab and newline are allowed in text); remove it",
                    value[:80],
                )
            )
        elif isinstance(value, dict):
            for key in value:
                if found := UNSAFE.search(key):
                    problems.append(
                        Problem(
                            filename,
                            path,
                            f"has a key holding the control or invisible character "
                            f"U+{ord(found.group()):04X}; rename the key",
                            key[:80],
                        )
                    )
    return problems


def detect_shape(sidecar: Any) -> Shape:
    """AIND v2 writes ``object_type`` and schema 2.x; AIND v1 ``describedBy``; else assetlake.

    assetlake's own files and AIND v1's share schema major 1 and most field names, so only
    ``describedBy`` (written by every aind-data-schema 1.x model) tells them apart."""
    if not isinstance(sidecar, dict):
        return Shape.ASSETLAKE
    version = sidecar.get("schema_version")
    major = version.split(".", 1)[0] if isinstance(version, str) else ""
    if "object_type" in sidecar or (major.isdigit() and int(major) >= 2):
        return Shape.AIND_V2
    if "describedBy" in sidecar:
        return Shape.AIND_V1
    return Shape.ASSETLAKE


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        key = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise _Refused(f"has the key {key!r} twice in one object; keep one")
    return document


def _constant(name: str) -> Any:
    raise _Refused(f"holds {name}, which is not JSON; write null or a finite number")


def _int(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise _Refused("holds an integer beyond 64 bits; write it as a string")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("holds a number too large for a float; write it as a string")
    return value


#: One decoder for every read (``json.loads`` with hooks builds a new one per call, which cost
#: more than reading a small catalogue column).
_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_constant=_constant, parse_int=_int, parse_float=_float
)


def nests_too_deep(value: Any) -> bool:
    """Whether containers nest beyond MAX_DEPTH; one level at a time, so no recursion."""
    level: list[Any] = [value] if type(value) is dict or type(value) is list else []
    for _ in range(MAX_DEPTH):
        level = [
            child
            for node in level
            for child in (node.values() if type(node) is dict else node)
            if type(child) is dict or type(child) is list
        ]
        if not level:
            return False
    return True


def _too_deep(filename: str) -> Problem:
    return Problem(
        filename, "", f"nests arrays or objects more than {MAX_DEPTH} deep; flatten the document"
    )


def _walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    """Every (JSON path, value) of a bounded document; iterative so no depth can overflow."""
    found: list[tuple[str, Any]] = []
    stack: list[tuple[str, Any]] = [(path, node)]
    while stack:
        where, value = stack.pop()
        found.append((where, value))
        if isinstance(value, dict):
            stack.extend((f"{where}.{key}" if where else str(key), v) for key, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
    return found
