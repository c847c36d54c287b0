"""The catalogue schema, generated from :class:`Record`'s field declarations.

A :class:`Schema` gives the searchable ``assets`` columns, the row encoding (a JSON array of the
values in field order: a third smaller and twice as fast to parse as an object keyed by name, which
every page of results feels), the Parquet columns of ``assets.parquet``, and a digest of the field
list, in order, that a catalogue file keeps in its ``meta`` table: a file built with other fields
or another order is refused rather than misread. It also bounds every value before it reaches SQLite or
Parquet, because records come from files that careless or hostile tools wrote: a crawled asset, or
a published ``assets.parquet``, whose JSON columns are read by the same bounded reader as the
crawl's documents (:func:`~assetlake.document.read_json`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import reprlib
from dataclasses import dataclass
from typing import Any

from assetlake.catalogue.record import Items, Record, Status
from assetlake.document import INT64_MAX, INT64_MIN, MAX_DEPTH, nests_too_deep, read_json
from assetlake.problems import Problem

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True)
class Field:
    """One declared record field: its Python type, SQLite column type (None: not a column),
    Parquet type, and whether it lives in the ``documents`` table."""

    name: str
    python: str
    sql: str | None
    parquet: str
    document: bool


def safe_text(text: str) -> str:
    """``text`` with lone surrogates (which JSON allows and UTF-8 does not) replaced."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode()
    return text


def problem(path: str, message: str, value: Any) -> dict[str, Any]:
    """A bounds problem as the ``problems`` field holds it; the value is shown cut short (and
    only a few levels deep: a value out of bounds may nest deeper than ``repr`` goes)."""
    shown = _SHORT.repr(value)
    return Problem("", path, message, shown[:60] + ("..." if len(shown) > 60 else "")).to_dict()


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 60, 60


class Schema:
    """Everything the catalogue stores about a record, derived from ``record_type``'s fields."""

    def __init__(self, record_type: type[Record] = Record) -> None:
        self.record_type = record_type
        self.fields = tuple(
            Field(
                f.name,
                str(f.type),
                f.metadata["sql"],
                f.metadata["parquet"],
                f.metadata["document"],
            )
            for f in dataclasses.fields(record_type)
        )
        #: Searchable columns of ``assets``: field name -> SQLite type.
        self.columns = {f.name: f.sql for f in self.fields if f.sql}
        #: Fields encoded in each row's ``record`` column (all but the document).
        self.encoded = tuple(f.name for f in self.fields if not f.document)
        (self.document,) = (f.name for f in self.fields if f.document)
        #: The empty value of each container field (what an out-of-bounds value becomes).
        self.empty = {
            f.name: f.default_factory
            for f in dataclasses.fields(record_type)
            if f.default_factory is not dataclasses.MISSING
        }
        #: What each typed JSON field holds (not in the digest: it changes no stored layout).
        self.items: dict[str, Items] = {
            f.name: f.metadata["items"]
            for f in dataclasses.fields(record_type)
            if f.metadata.get("items") is not None
        }
        listed = [dataclasses.astuple(f) for f in self.fields]
        self.digest = hashlib.sha256(json.dumps(listed).encode()).hexdigest()[:16]

    def encode(self, record: Record) -> str:
        """The row's ``record`` column: every field but the document, in field order."""
        return safe_text(_dumps([getattr(record, name) for name in self.encoded]))

    def decode(
        self, encoded: list[list[Any]], documents: list[dict[str, Any] | None] | None = None
    ) -> list[Record]:
        """Records from their encoded rows and their documents (none: empty documents)."""
        texts = documents if documents is not None else [None] * len(encoded)
        return self.record_type.from_rows(self.encoded, encoded, (self.document, texts))

    def parquet_columns(self) -> tuple[tuple[str, str], ...]:
        """``assets.parquet``'s columns; ``json`` fields are strings holding JSON."""
        return tuple((f.name, "string" if f.parquet == "json" else f.parquet) for f in self.fields)

    def to_parquet(self, record: Record) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies the document, recursing once per level.
        row = {f.name: getattr(record, f.name) for f in self.fields}
        for f in self.fields:
            if f.parquet == "json":
                row[f.name] = json.dumps(row[f.name], default=str)
        return row

    def from_parquet(self, row: dict[str, Any]) -> Record:
        """A bounded record (:meth:`bounded`) from an ``assets.parquet`` row (missing columns take
        their empty value). Its JSON columns are read by the one bounded reader: a value it
        refuses (nested too deep, not JSON) is stored empty, with its problem, which makes the
        record invalid. A row without a name is refused (ValueError), as no record has none."""
        values: dict[str, Any] = {}
        refused: list[dict[str, Any]] = []
        for f in self.fields:
            value = row.get(f.name)
            if f.parquet == "json" and value is not None:
                text, value = value, _json(value)
                if isinstance(value, Problem):
                    refused.append(problem(f.name, f"{value.message}; stored empty", text))
                    continue
            if value is None and f.parquet != "string":
                continue  # the field's default
            values[f.name] = value
        if not isinstance(values.get("name"), str) or not values["name"]:
            raise ValueError(f"a row has the name {values.get('name')!r}; every asset has one")
        record = self.bounded(self.record_type(**values))
        if not refused:
            return record
        problems = [*record.problems, *refused]
        return dataclasses.replace(record, problems=problems, status=Status.INVALID)

    def bounded(self, record: Record) -> Record:
        """``record`` with every value typed and bounded (an int64, UTF-8 text, a list of text);
        a value out of bounds is replaced by its empty value and recorded as a problem, which
        makes the record ``invalid`` but keeps it in the catalogue."""
        changes: dict[str, Any] = {}
        problems: list[dict[str, Any]] = []
        for f in self.fields:
            value = getattr(record, f.name)
            if f.parquet == "int64":
                if isinstance(value, bool) or not isinstance(value, int):
                    changes[f.name] = 0
                    problems.append(problem(f.name, "is not a whole number; stored as 0", value))
                elif not INT64_MIN <= value <= INT64_MAX:
                    changes[f.name] = 0
                    problems.append(problem(f.name, "is beyond 64 bits; stored as 0", value))
            elif f.parquet == "string" and isinstance(value, str):
                if (text := safe_text(value)) is not value:
                    changes[f.name] = text
            elif f.parquet == "string" and value is not None:
                changes[f.name] = safe_text(str(value))
            elif f.parquet == "list<string>":
                items = value if isinstance(value, list) else []
                texts = [safe_text(v) for v in items if isinstance(v, str)]
                if texts != value:
                    changes[f.name] = texts
            elif f.name in self.empty and not isinstance(
                value, type(empty := self.empty[f.name]())
            ):
                changes[f.name] = empty
                problems.append(
                    problem(f.name, f"is not a {type(empty).__name__}; stored empty", value)
                )
            elif f.name in self.empty and nests_too_deep(value):
                changes[f.name] = self.empty[f.name]()
                problems.append(
                    problem(f.name, f"nests more than {MAX_DEPTH} deep; stored empty", "…")
                )
            elif f.name in self.items:
                typed = _typed_items(f.name, value, self.items[f.name], problems)
                if typed is not value:
                    changes[f.name] = typed
        if problems:
            changes["problems"] = [*changes.get("problems", record.problems), *problems]
            changes["status"] = Status.INVALID
        return dataclasses.replace(record, **changes) if changes else record


def _json(value: Any) -> Any:
    """A JSON column's value, read as the crawl reads documents, or the Problem saying why not."""
    if not isinstance(value, str | bytes):
        return Problem("", "", f"is a {type(value).__name__}, not JSON text")
    return read_json("", value)


def _typed_items(name: str, value: Any, items: Items, problems: list[dict[str, Any]]) -> Any:
    """``value`` (a list of entries, or an object) holding only what ``items`` declares, the same
    object when it does: a value of an object that is not of its type is dropped, an entry that
    is not an object is dropped, and an entry's value of another type is stored empty, each with
    a problem; an unknown key of an entry is left out."""
    if isinstance(items, type):
        if all(_is(v, items) for v in value.values()):
            return value
        kept = {key: v for key, v in value.items() if _is(v, items)}
        for key in value.keys() - kept.keys():
            problems.append(
                problem(f"{name}.{key}", f"is not {_NAMES[items]}; dropped", value[key])
            )
        return kept
    if all(_typed(entry, items) for entry in value):
        return value
    typed = (_entry(f"{name}[{i}]", entry, items, problems) for i, entry in enumerate(value))
    return [entry for entry in typed if entry is not None]


def _typed(entry: Any, items: dict[str, type]) -> bool:
    """Whether ``entry`` is an object of only the keys and types ``items`` declares (a key may
    be missing: readers take its default)."""
    if type(entry) is not dict:
        return False
    for key, value in entry.items():
        kind = items.get(key)
        if kind is None or not _is(value, kind):
            return False
    return True


def _entry(
    where: str, entry: Any, items: dict[str, type], problems: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """``entry`` typed as ``items`` declares, or None when it is no object."""
    if _typed(entry, items):
        return entry
    if not isinstance(entry, dict):
        problems.append(problem(where, "is not an object; dropped", entry))
        return None
    typed = {}
    for key, value in entry.items():
        if key not in items:
            continue
        kind = items[key]
        if not _is(value, kind):
            problems.append(
                problem(f"{where}.{key}", f"is not {_NAMES[kind]}; stored empty", value)
            )
            value = _EMPTY[kind]
        typed[key] = value
    return typed


def _is(value: Any, kind: type) -> bool:
    if kind is str:
        return isinstance(value, str)
    if kind is int:
        return type(value) is int and INT64_MIN <= value <= INT64_MAX
    return kind is object or isinstance(value, kind)


_EMPTY: dict[type, Any] = {str: "", int: 0, object: None}
_NAMES = {str: "text", int: "a 64-bit whole number", object: "a value"}

#: The schema of this assetlake's records (a test may swap in one with another field).
SCHEMA = Schema()
