"""One search of the catalogue as a frozen, validated value: every filter, the sort, the limit and
the cursor of the next page, each declared once below.

The CLI generates ``find``'s options from these declarations, the Python API takes them as keywords
(``catalogue.find(subject="123")``) and the HTTP API as query parameters (:meth:`Query.from_params`,
the exact inverse of :meth:`Query.to_params`). Search rules:

* filters combine with AND; a list value for one filter means OR within it;
* ``subject`` is exact, with ``*`` and ``?`` wildcards (``"1234*"``);
* ``modality`` matches any of an asset's modalities;
* ``after`` / ``before`` take a date (``2024-03-01``) or an ISO time; ``after`` includes that
  moment, ``before`` excludes it; times with a timezone are compared in UTC;
* ``level`` is ``raw`` or ``derived``; ``derived_from`` matches direct and transitive descendants
  through every source of a multi-source asset;
* ``species`` is exact but case-insensitive; ``genotype`` is a case-insensitive substring;
* ``text`` matches every word anywhere in the metadata (a trailing ``*`` makes a word a prefix);
* ``invalid=True`` keeps only assets whose validation failed;
* ``sort`` is one of :data:`SORT_KEYS`, ``-`` in front for descending; ``limit`` caps the result;
* ``cursor`` (from :attr:`Page.cursor`) continues after the last asset of the previous page.

The cursor is a keyset: the sort columns' values of the last asset returned, the asset name last.
Assets never change and names are unique, so a page never repeats or skips an asset, however many
are added between pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime
from typing import Any

from assetlake.catalogue.record import Record
from assetlake.document import read_json
from assetlake.errors import QueryError
from assetlake.naming import MODALITIES, Level

#: Sort keys users may give, and the index-ordered columns each one means (the name, unique, last).
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "acquired": ("a.acquired_at", "a.name"),
    "name": ("a.name",),
    "subject": ("a.subject_id", "a.acquired_at", "a.name"),
    "size": ("a.size", "a.name"),
    "processed": ("a.processed", "a.name"),
}
#: How many assets ``find`` and the HTTP API return when no limit is given.
DEFAULT_LIMIT = 100
#: Bounds on parameters read from text (a URL), so a hostile request cannot make a search slow.
MAX_VALUE_CHARS = 200
MAX_VALUES = 20
#: The longest cursor read (its base64 text): a page's last sort values, each a catalogue value
#: of at most a few KiB, fit easily; nothing longer is decoded.
MAX_CURSOR_CHARS = 16_384


def _filter(
    help: str,
    *,
    many: bool = False,
    metavar: str | None = None,
    example: str | None = None,
    choices: Iterable[str] | None = None,
    paging: bool = False,
    cli: bool = True,
) -> dict[str, Any]:
    """A query field's ``field(metadata=...)``, from which the ``find`` options, the search form
    and the HTTP parameters are generated: ``many`` takes several values (OR, a tuple); ``example``
    is a form's placeholder; ``choices`` the values a form offers (a live collection); ``paging``
    marks the parts that are not filters (sort, limit, cursor); ``cli`` makes it a ``find`` option."""
    return {
        "help": help,
        "many": many,
        "metavar": metavar,
        "example": example,
        "choices": choices,
        "paging": paging,
        "cli": cli,
    }


@dataclass(frozen=True)
class Query:
    """Every part of a search, validated and normalised when built (see the module docstring)."""

    text: str | None = field(
        default=None,
        metadata=_filter(
            "Words anywhere in the metadata; every one must match.", example="probe drift"
        ),
    )
    subject: tuple[str, ...] = field(
        default=(),
        metadata=_filter("Subject id; '*' wildcards; repeat for OR.", many=True, example="1234*"),
    )
    modality: tuple[str, ...] = field(
        default=(),
        metadata=_filter("Modality, e.g. ecephys; repeat for OR.", many=True, choices=MODALITIES),
    )
    project: tuple[str, ...] = field(
        default=(), metadata=_filter("Project name; repeat for OR.", many=True)
    )
    after: str | None = field(
        default=None, metadata=_filter("Acquired at or after, e.g. 2024-03-01.", metavar="DATE")
    )
    before: str | None = field(
        default=None, metadata=_filter("Acquired before, e.g. 2024-04-01T12:00:00.", metavar="DATE")
    )
    level: Level | None = field(
        default=None, metadata=_filter("Raw or derived assets.", choices=Level)
    )
    derived_from: tuple[str, ...] = field(
        default=(),
        metadata=_filter(
            "Descendants of NAME (any depth).", many=True, metavar="NAME", example="asset name"
        ),
    )
    species: tuple[str, ...] = field(
        default=(), metadata=_filter("Species, any case; repeat for OR.", many=True)
    )
    genotype: str | None = field(
        default=None,
        metadata=_filter("Part of the genotype, any case, e.g. sst-ires.", example="sst"),
    )
    invalid: bool = field(default=False, metadata=_filter("Only assets that failed validation."))
    sort: str = field(
        default="acquired",
        metadata=_filter(f"{', '.join(SORT_KEYS)}; '-' in front for descending.", paging=True),
    )
    limit: int | None = field(
        default=None, metadata=_filter("At most this many assets.", paging=True)
    )
    cursor: str | None = field(
        default=None,
        metadata=_filter("Continue after the page this cursor ends.", paging=True, cli=False),
    )

    def __post_init__(self) -> None:
        for name in _MANY:
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))
        for name in ("after", "before"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, parse_moment(value, what=name))
        if self.level is not None:
            try:
                object.__setattr__(self, "level", Level(self.level))
            except ValueError:
                raise QueryError(
                    f"level {self.level!r} is not known; use {' or '.join(Level)}"
                ) from None
        if self.text is not None:
            fts_query(self.text)
        if self.genotype is not None and not self.genotype.strip():
            raise QueryError("genotype is empty; give part of one, e.g. 'Sst-IRES-Cre'")
        if self.sort_key not in SORT_KEYS:
            raise QueryError(
                f"sort key {self.sort!r} is not known; use one of {', '.join(SORT_KEYS)} "
                "(prefix '-' for descending)"
            )
        limit = self.limit
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise QueryError(f"limit {limit!r} must be a positive whole number, e.g. 100")
        if self.cursor is not None:
            self.cursor_values()

    @property
    def sort_key(self) -> str:
        return self.sort.removeprefix("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    @property
    def order(self) -> tuple[str, ...]:
        """The columns results are sorted on."""
        return SORT_KEYS[self.sort_key]

    def cursor_values(self) -> list[Any] | None:
        """The sort values the cursor continues after, or None without a cursor. A cursor is
        text from a URL or a command line, so it is read as any JSON from outside is (bounded
        by :func:`~assetlake.document.read_json`) and typed: one value per sort column, each
        null, text or a 64-bit integer, as :meth:`next_page` wrote them."""
        if self.cursor is None:
            return None
        values = self._cursor_values(self.cursor)
        if values is None:
            raise self.cursor_error()
        return values

    def cursor_error(self) -> QueryError:
        """The one-line error of a cursor that is not one of this search's."""
        return QueryError(
            f"cursor {str(self.cursor)[:40]!r} is not a cursor of this search (sort {self.sort}); "
            "pass the cursor of the previous page unchanged, with the same sort"
        )

    def _cursor_values(self, cursor: Any) -> list[Any] | None:
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR_CHARS:
            return None
        try:
            data = base64.urlsafe_b64decode(cursor.encode())
        except (ValueError, binascii.Error):  # not base64, or not ASCII
            return None
        decoded = read_json("cursor", data, max_bytes=MAX_CURSOR_CHARS)
        if not isinstance(decoded, list) or len(decoded) != 2:
            return None
        sort, values = decoded
        if sort != self.sort or not isinstance(values, list) or len(values) != len(self.order):
            return None
        if not all(_sort_value(value) for value in values):
            return None
        return values

    def next_page(self, values: Iterable[Any]) -> Query:
        """This query continuing after the asset whose sort values are ``values``."""
        token = json.dumps([self.sort, list(values)], separators=(",", ":"))
        return replace(self, cursor=base64.urlsafe_b64encode(token.encode()).decode())

    @classmethod
    def from_params(
        cls, params: Mapping[str, str | list[str]], *, max_limit: int | None = None
    ) -> Query:
        """A query from HTTP-style parameters: every value text, a repeated one as a list. Values
        are stripped and empty ones left out (an empty form field); each value is at most
        :data:`MAX_VALUE_CHARS` long and a filter repeats at most :data:`MAX_VALUES` times, and
        ``max_limit`` caps ``limit``, so untrusted text cannot ask for unbounded work."""
        specs = {spec.name: spec for spec in fields(cls)}
        values: dict[str, Any] = {}
        for name, given in params.items():
            spec = specs.get(name)
            if spec is None:
                raise QueryError(f"unknown filter {name!r}; use one of {', '.join(specs)}")
            items = given if isinstance(given, list) else [given]
            longest = MAX_CURSOR_CHARS if name == "cursor" else MAX_VALUE_CHARS
            if any(len(item) > longest for item in items):
                raise QueryError(f"{name} is longer than {longest} characters; shorten it")
            items = [item.strip() for item in items if item.strip()]
            most = MAX_VALUES if spec.metadata["many"] else 1
            if len(items) > most:
                allowed = f"at most {MAX_VALUES} times" if spec.metadata["many"] else "once"
                raise QueryError(f"{name} is given {len(items)} times; give it {allowed}")
            if not items:
                continue
            if spec.metadata["many"]:
                values[name] = items
            elif spec.type == "bool":
                values[name] = _boolean(name, items[0])
            elif spec.type == "int | None":
                values[name] = _whole(name, items[0], max_limit)
            else:
                values[name] = items[0]
        return cls(**values)

    def to_params(self) -> dict[str, str | list[str]]:
        """The parameters :meth:`from_params` reads back into this query (defaults left out)."""
        params: dict[str, str | list[str]] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value == spec.default:
                continue
            if spec.metadata["many"]:
                params[spec.name] = list(value)
            elif isinstance(value, bool):
                params[spec.name] = "true" if value else "false"
            else:
                params[spec.name] = str(value)
        return params


def _sort_value(value: Any) -> bool:
    """Whether ``value`` can be a sort column's value (the reader bounded integers to int64)."""
    return value is None or isinstance(value, str) or type(value) is int


#: The filters that take several values (looked up once: ``fields()`` is slow on every query).
_MANY = tuple(spec.name for spec in fields(Query) if spec.metadata["many"])


@dataclass(frozen=True)
class Page:
    """One page of results, and the cursor of the next (None on the last page)."""

    records: list[Record]
    cursor: str | None


def _as_tuple(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _boolean(name: str, text: str) -> bool:
    if text.lower() in ("true", "1", "yes", "on"):
        return True
    if text.lower() in ("false", "0", "no", "off"):
        return False
    raise QueryError(f"{name} {text!r} is not true or false")


def _whole(name: str, text: str, most: int | None) -> int:
    """A positive whole number from text, at most ``most``."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1 or (most is not None and number > most):
        bound = "at least 1" if most is None else f"from 1 to {most}"
        raise QueryError(f"{name} {text!r} must be a whole number {bound}, e.g. 100")
    return number


def parse_moment(value: str | date, *, what: str = "date") -> str:
    """A date or ISO time as the sortable text the catalogue stores (UTC when zone-aware)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise QueryError(
                f"{what} {value!r} is not a date; use YYYY-MM-DD or an ISO time like "
                "2024-03-01T14:05:09",
                named=what,
            ) from None
    if moment.tzinfo is not None:
        try:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            raise QueryError(
                f"{what} {value!r} falls outside the years 1 to 9999 in UTC; "
                "give a time inside them, e.g. 0001-01-02",
                named=what,
            ) from None
    return moment.isoformat(timespec="seconds")


def fts_query(text: str) -> str:
    """User words as FTS5 phrases: any input is safe, and every word must match (AND)."""
    terms = []
    for word in text.split():
        prefix = word.endswith("*")
        core = word.rstrip("*")
        if not any(ch.isalnum() for ch in core):
            continue
        quoted = '"' + core.replace('"', '""') + '"'
        terms.append(quoted + "*" if prefix else quoted)
    if not terms:
        raise QueryError(
            f"text {text!r} has no searchable words; give letters or digits, e.g. 'ripple'"
        )
    return " ".join(terms)
