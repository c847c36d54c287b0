"""HTTP query parameters → ``Catalogue.find`` keywords: the filters of ``assetlake find``, declared once.

Swap :func:`find_keywords` for ``Query.from_params`` once the catalogue has a ``Query`` object; the
rest of the site only sees its result. Repeating a list filter means OR within it, as repeating the
CLI option does; empty values (an empty form field) are ignored.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from assetlake.catalogue import parse_moment
from assetlake.errors import QueryError


@dataclass(frozen=True)
class Filter:
    """One HTTP parameter: its ``find`` keyword, whether it repeats, and what it means."""

    name: str
    repeatable: bool
    description: str
    kind: str = "string"


#: Every parameter the search accepts; OpenAPI, the form and the parser are built from this.
FILTERS: tuple[Filter, ...] = (
    Filter("text", False, "Words that must all appear anywhere in the metadata (FTS5)."),
    Filter("subject", True, "Subject id, '*' and '?' wildcards; repeat for OR."),
    Filter("modality", True, "Modality, e.g. ecephys; repeat for OR."),
    Filter("project", True, "Project name; repeat for OR."),
    Filter("after", False, "Acquired at or after this date or ISO time."),
    Filter("before", False, "Acquired before this date or ISO time."),
    Filter("level", False, "raw or derived."),
    Filter("derived_from", True, "Descendants of this asset, any depth; repeat for OR."),
    Filter("species", True, "Species, any case; repeat for OR."),
    Filter("genotype", False, "Part of the genotype, any case."),
    Filter("invalid", False, "true: only assets that failed validation.", "boolean"),
    Filter("sort", False, "name, acquired, subject, size or processed; '-' for descending."),
    Filter("limit", False, "At most this many assets per page (1 to 1000).", "integer"),
    Filter("cursor", False, "Where the page starts: the cursor of the previous page's next link."),
)
BY_NAME = {f.name: f for f in FILTERS}
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: Bounds on what one request may ask, so a hostile URL cannot make the site work for minutes.
MAX_VALUE_CHARS = 200
MAX_VALUES = 20
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class Page:
    """A search as the site runs it: ``find`` keywords without the paging, and the page wanted."""

    keywords: dict[str, Any]
    limit: int
    offset: int


def find_keywords(params: Sequence[tuple[str, str]], *, default_limit: int = DEFAULT_LIMIT) -> Page:
    """Parse ``(name, value)`` pairs; raise :class:`QueryError` with a one-line reason."""
    values: dict[str, list[str]] = {}
    for name, value in params:
        spec = BY_NAME.get(name)
        if spec is None:
            known = ", ".join(f.name for f in FILTERS)
            raise QueryError(f"unknown filter {name!r}; use one of {known}")
        if len(value) > MAX_VALUE_CHARS:
            raise QueryError(f"{name} is longer than {MAX_VALUE_CHARS} characters; shorten it")
        value = value.strip()
        if value:
            values.setdefault(name, []).append(value)
    keywords: dict[str, Any] = {}
    for name, given in values.items():
        spec = BY_NAME[name]
        if len(given) > (MAX_VALUES if spec.repeatable else 1):
            limit = f"at most {MAX_VALUES} times" if spec.repeatable else "once"
            raise QueryError(f"{name} is given {len(given)} times; give it {limit}")
        keywords[name] = given if spec.repeatable else given[0]
    level = keywords.get("level")
    if level is not None and level not in ("raw", "derived"):
        raise QueryError(f"level {level!r} is not known; use raw or derived")
    for name in ("after", "before"):
        if name in keywords:
            parse_moment(keywords[name], what=name)  # the catalogue's check, named as in the URL
    if "invalid" in keywords:
        keywords["invalid"] = _boolean("invalid", keywords["invalid"])
    limit = _limit(keywords.pop("limit", None), default_limit)
    offset = decode_cursor(keywords.pop("cursor", None))
    return Page(keywords, limit, offset)


def to_params(keywords: Mapping[str, Any], **extra: Any) -> list[tuple[str, str]]:
    """The inverse of :func:`find_keywords` (for links: sort headers, next page, facets)."""
    pairs: list[tuple[str, str]] = []
    for name, value in {**keywords, **extra}.items():
        if value is None or value is False or value == [] or value == "":
            continue
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, "true" if item is True else str(item)))
    return pairs


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The offset a cursor stands for (opaque to clients, so the site may change it)."""
    if cursor is None:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        offset = int(text.removeprefix("o")) if text.startswith("o") else -1
    except ValueError:
        offset = -1
    if not 0 <= offset <= 10_000_000:
        raise QueryError(f"cursor {cursor!r} is not one this site made; follow the next link")
    return offset


def _boolean(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise QueryError(f"{name} {value!r} is not true or false")


def _limit(value: str | None, default: int) -> int:
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit {value!r} must be a whole number from 1 to {MAX_LIMIT}")
    return limit
