"""The catalogue schema, generated from :class:`Record`'s field declarations.

A :class:`Schema` gives the searchable ``assets`` columns, the row encoding (a JSON array of the
values in field order: a third smaller and twice as fast to parse as an object keyed by name, which
every page of results feels), the Parquet columns of ``assets.parquet``, and a digest of the field
list, in order, that a catalogue file keeps in its ``meta`` table: a file built with other fields
or another order is refused rather than misread. It also bounds every value before it reaches SQLite or
Parquet, because records come from files that careless or hostile tools wrote.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from assetlake.catalogue.record import Record, Status
from assetlake.document import INT64_MAX, INT64_MIN, MAX_DEPTH, nests_too_deep
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
    """A bounds problem as the ``problems`` field holds it; the value is shown cut short."""
    shown = repr(value)
    return Problem("", path, message, shown[:60] + ("..." if len(shown) > 60 else "")).to_dict()


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
        row = dataclasses.asdict(record)
        for f in self.fields:
            if f.parquet == "json":
                row[f.name] = json.dumps(row[f.name], default=str)
        return row

    def from_parquet(self, row: dict[str, Any]) -> Record:
        """A record from an ``assets.parquet`` row (missing columns take their empty value)."""
        values: dict[str, Any] = {}
        for f in self.fields:
            value = row.get(f.name)
            if f.parquet == "json":
                value = json.loads(value) if value is not None else None
            if value is None and f.parquet != "string":
                continue  # the field's default
            values[f.name] = value
        return self.record_type(**values)

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
        if problems:
            changes["problems"] = [*changes.get("problems", record.problems), *problems]
            changes["status"] = Status.INVALID
        return dataclasses.replace(record, **changes) if changes else record


#: The schema of this assetlake's records (a test may swap in one with another field).
SCHEMA = Schema()
