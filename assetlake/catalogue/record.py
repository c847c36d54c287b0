"""One asset as the catalogue knows it: :class:`Record`, whose fields ARE the catalogue schema.

Each field is declared once, here, with :func:`column`: its Python type (the annotation), where it
is stored in SQLite (``sql``: a column type on ``assets``, so searches can filter and sort on it;
``None``: only inside the row's encoded record), its Parquet type in ``assets.parquet``, and for
a JSON field what it holds (``items``: :data:`CONTENTS_ENTRY`, :data:`PROBLEM_ENTRY`).
:mod:`assetlake.catalogue.schema` generates the tables, the record encoding and the Parquet schema
from these declarations, so adding a field is adding one line below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from functools import cache
from typing import Any

from assetlake.naming import Level


class Status(StrEnum):
    """What the indexer could check: passed validation, failed it, or a foreign asset unchecked."""

    VALID = "valid"
    INVALID = "invalid"
    UNVERIFIED = "unverified"


#: Parquet types a field may have; ``json`` is a string column holding the value as JSON.
PARQUET_TYPES = ("string", "int64", "list<string>", "json")


#: One entry of ``contents``, as :func:`assetlake.asset.summarise_contents` writes it: each key
#: and the type of its value.
CONTENTS_ENTRY: dict[str, type] = {"path": str, "format": str, "size": int, "objects": int}
#: One entry of ``problems``, as :meth:`assetlake.problems.Problem.to_dict` writes it (``value``:
#: any JSON value).
PROBLEM_ENTRY: dict[str, type] = {
    "file": str,
    "path": str,
    "message": str,
    "value": object,
    "severity": str,
}
#: The types a JSON field's items may have: the entries of a list (keys and their value types),
#: or the values of an object (one type).
Items = dict[str, type] | type


def column(
    parquet: str, *, sql: str | None = None, document: bool = False, items: Items | None = None
) -> dict[str, Any]:
    """A record field's storage, as its ``field(metadata=...)``: ``sql`` makes it a searchable
    ``assets`` column; ``document`` keeps it in the ``documents`` table (read only when asked
    for); otherwise it is encoded in the row. ``items`` types what a ``json`` field holds (its
    values come from files that careless or hostile tools wrote, and ``show`` reads them)."""
    assert parquet in PARQUET_TYPES, parquet
    assert items is None or parquet == "json", items
    return {"parquet": parquet, "sql": sql, "document": document, "items": items}


@dataclass
class Record:
    """One asset; ``url`` is where its folder lives in the lake. ``sources`` lists every asset a
    derived asset was computed from, the one its name carries (``source``) first."""

    name: str = field(metadata=column("string", sql="TEXT NOT NULL UNIQUE"))
    url: str = field(metadata=column("string"))
    level: Level = field(metadata=column("string", sql="TEXT NOT NULL"))
    modalities: list[str] = field(default_factory=list, metadata=column("list<string>"))
    subject_id: str | None = field(default=None, metadata=column("string", sql="TEXT"))
    acquired: str | None = field(default=None, metadata=column("string"))
    project: str | None = field(default=None, metadata=column("string", sql="TEXT"))
    species: str | None = field(default=None, metadata=column("string", sql="TEXT COLLATE NOCASE"))
    sex: str | None = field(default=None, metadata=column("string"))
    genotype: str | None = field(default=None, metadata=column("string", sql="TEXT"))
    institution: str | None = field(default=None, metadata=column("string"))
    investigators: list[str] = field(default_factory=list, metadata=column("list<string>"))
    source: str | None = field(default=None, metadata=column("string", sql="TEXT"))
    sources: list[str] = field(default_factory=list, metadata=column("list<string>"))
    label: str | None = field(default=None, metadata=column("string", sql="TEXT"))
    processed: str | None = field(default=None, metadata=column("string", sql="TEXT"))
    size: int = field(default=0, metadata=column("int64", sql="INTEGER"))
    objects: int = field(default=0, metadata=column("int64"))
    #: The content digest recorded at commit (docs/digest.md); None for foreign and older assets.
    digest: str | None = field(default=None, metadata=column("string", sql="TEXT"))
    schema_versions: dict[str, str] = field(
        default_factory=dict, metadata=column("json", items=str)
    )
    status: Status = field(
        default=Status.UNVERIFIED, metadata=column("string", sql="TEXT NOT NULL")
    )
    problems: list[dict[str, Any]] = field(
        default_factory=list, metadata=column("json", items=PROBLEM_ENTRY)
    )
    metadata: dict[str, Any] = field(default_factory=dict, metadata=column("json", document=True))
    contents: list[dict[str, Any]] = field(
        default_factory=list, metadata=column("json", items=CONTENTS_ENTRY)
    )

    def __post_init__(self) -> None:
        # A dict lookup first: calling the enum costs more than the rest of decoding a record,
        # and every search decodes a page of them.
        self.level = _member(_LEVELS, self.level) or Level(self.level)
        self.status = _member(_STATUSES, self.status) or Status(self.status)
        if self.source and self.source not in self.sources:
            self.sources = [self.source, *self.sources]

    @classmethod
    def from_rows(
        cls, names: tuple[str, ...], rows: list[list[Any]], documents: tuple[str, list[Any]]
    ) -> list[Record]:
        """The records whose fields are each row's values in ``names`` order, with the document
        field ``documents[0]`` taken from ``documents[1]`` (row for row; ``{}`` for a missing
        one), as catalogue rows hold them: each row was encoded from a record that had passed
        ``__post_init__``, so only its enums come back, without calling ``__init__`` (3x faster),
        in one loop with its lookups hoisted (every page of results decodes a hundred)."""
        level, status = names.index("level"), names.index("status")
        document, texts = documents
        new = cls.__new__
        found = []
        for values, text in zip(rows, texts, strict=True):
            values[level] = _member(_LEVELS, values[level]) or Level(values[level])
            values[status] = _member(_STATUSES, values[status]) or Status(values[status])
            fields = dict(zip(names, values, strict=True))
            fields[document] = text or {}
            record = new(cls)
            record.__dict__ = fields
            found.append(record)
        return found

    @property
    def lake_url(self) -> str:
        """The lake this asset belongs to (its URL without the trailing name)."""
        return self.url.removesuffix("/" + self.name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def without_metadata(self) -> dict[str, Any]:
        """The record without the consolidated metadata document (what ``find --format json``
        prints): every field a search returns, in declaration order. Its values are the
        record's own, not copies (``asdict`` deep-copied the whole document only to drop it:
        most of the time of an API search), so a caller serialises them and never mutates."""
        return {name: getattr(self, name) for name in _listed(type(self))}

    def _entry(self, path: str | None, formats: tuple[str, ...]) -> str:
        from assetlake.errors import CatalogueError

        if path is not None:
            return path.strip("/")
        for entry in self.contents:
            if entry.get("format") in formats:
                return entry["path"]
        raise CatalogueError(
            f"asset {self.name} has no {' or '.join(formats)} entry; "
            "pass the path of one of its files (see assetlake show)"
        )

    def open(self, path: str | None = None) -> Any:
        """Open the asset's Zarr (or the entry ``path``) read-only, in place in the lake."""
        import zarr

        from assetlake.store import open_store

        store = open_store(self.lake_url)
        key = f"{self.name}/{self._entry(path, ('zarr', 'ome-zarr', 'nwb-zarr'))}"
        options = store.storage_options
        extra = {"storage_options": options} if options else {}
        return zarr.open(store.fsspec_url(key), mode="r", **extra)

    def open_nwb(self, path: str | None = None) -> Any:
        """Open the asset's NWB-Zarr file with hdmf-zarr; the caller reads it and closes the IO."""
        from hdmf_zarr.nwb import NWBZarrIO

        from assetlake.store import open_store

        store = open_store(self.lake_url)
        key = f"{self.name}/{self._entry(path, ('nwb-zarr',))}"
        options = store.storage_options
        extra = {"storage_options": options} if options else {}
        return NWBZarrIO(store.fsspec_url(key), mode="r", **extra)


_LEVELS: dict[Any, Level] = {level.value: level for level in Level}
_STATUSES: dict[Any, Status] = {status.value: status for status in Status}


@cache
def _listed(cls: type[Record]) -> tuple[str, ...]:
    """The fields a search lists (all but the metadata document), in declaration order, per
    record class (a schema may extend :class:`Record`)."""
    return tuple(f.name for f in fields(cls) if f.name != "metadata")


def _member(members: dict[Any, Any], value: Any) -> Any:
    return members.get(value) if isinstance(value, str) else None


@dataclass
class LineageNode:
    """One asset in a derivation tree; ``known`` is False for a source missing from the catalogue."""

    name: str
    label: str | None = None
    processed: str | None = None
    status: str | None = None
    known: bool = True
    children: list[LineageNode] = field(default_factory=list)

    def find(self, name: str) -> LineageNode | None:
        if self.name == name:
            return self
        return next((hit for c in self.children if (hit := c.find(name)) is not None), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Lineage:
    """Where an asset comes from (``ancestors``, through every source, the raw root of its first
    source first) and the whole tree of that root, following every source of every asset."""

    name: str
    ancestors: list[str]
    root: LineageNode

    @property
    def descendants(self) -> LineageNode:
        node = self.root.find(self.name)
        assert node is not None
        return node

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ancestors": self.ancestors, "tree": self.root.to_dict()}
