"""The local catalogue: one SQLite file, one row per asset, searchable in milliseconds.

Only the standard library is imported here, so ``assetlake find`` starts and answers fast. The
searchable asset columns are declared once in :data:`COLUMNS` (IBL ONE style); the whole record
(but its metadata document) is kept pre-encoded in one ``summary`` column, a JSON array in
:class:`Record` field order, so a result row is ``(name, summary)`` and a page of results becomes
records through one ``json.loads``. The consolidated metadata document lives in its own table so
hot scans never read it, and its values are searchable through a contentless FTS5 index.

Search rules (:meth:`Catalogue.find`):

* filters combine with AND; a list value for one filter means OR within it;
* ``subject`` is exact, with ``*`` and ``?`` wildcards (``"1234*"``);
* ``modality`` matches any of an asset's modalities;
* ``after`` / ``before`` take a date (``2024-03-01``) or an ISO time; ``after`` includes that
  moment, ``before`` excludes it; times with a timezone are compared in UTC;
* ``level`` is ``raw`` or ``derived``; ``derived_from`` matches direct and transitive descendants;
* ``species`` is exact but case-insensitive; ``genotype`` is a case-insensitive substring;
* ``text`` matches every word anywhere in the metadata (a trailing ``*`` makes a word a prefix);
* ``invalid=True`` keeps only assets whose validation failed;
* ``sort`` is one of :data:`SORT_KEYS`, ``-`` in front for descending; ``limit`` caps the result.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from assetlake.errors import AssetNotFoundError, CatalogueError, QueryError, UsageError

#: Bumped whenever the tables change; an older or newer file must be deleted and re-indexed.
VERSION = 4

#: The record fields searches filter, sort and build lineage on, declared once: field -> SQLite
#: type. (Modalities live in ``asset_modalities``; ``acquired_at`` is ``acquired`` in UTC.)
COLUMNS: dict[str, str] = {
    "name": "TEXT NOT NULL UNIQUE",
    "level": "TEXT NOT NULL",
    "subject_id": "TEXT",
    "project": "TEXT",
    "species": "TEXT COLLATE NOCASE",
    "genotype": "TEXT",
    "source": "TEXT",
    "label": "TEXT",
    "processed": "TEXT",
    "size": "INTEGER",
    "status": "TEXT NOT NULL",
}

#: Sort keys users may give, and the index-ordered SQL each one means.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "acquired": ("a.acquired_at", "a.name"),
    "name": ("a.name",),
    "subject": ("a.subject_id", "a.acquired_at", "a.name"),
    "size": ("a.size", "a.name"),
    "processed": ("a.processed", "a.name"),
}

#: Secondary indexes, by name; a bulk load into an empty catalogue builds them once at the end.
_INDEXES: dict[str, str] = {
    "assets_acquired": "assets (acquired_at, name, level, status, genotype)",
    "assets_subject": "assets (subject_id, acquired_at, name)",
    "assets_project": "assets (project, acquired_at)",
    "assets_genotype": "assets (genotype)",
    "assets_source": "assets (source)",
    "assets_status": "assets (status)",
    "asset_modalities_modality": "asset_modalities (modality)",
}

_SCHEMA = f"""
CREATE TABLE assets (
    id INTEGER PRIMARY KEY,
    {", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())},
    acquired_at TEXT,
    summary JSON NOT NULL
);
CREATE TABLE asset_modalities (
    asset INTEGER NOT NULL, modality TEXT NOT NULL, PRIMARY KEY (asset, modality)
) WITHOUT ROWID;
CREATE TABLE documents (id INTEGER PRIMARY KEY, metadata TEXT NOT NULL);
CREATE VIRTUAL TABLE documents_fts USING fts5 (text, content='', tokenize='unicode61 remove_diacritics 2');
CREATE TABLE genotypes (
    id INTEGER PRIMARY KEY, genotype TEXT NOT NULL UNIQUE, assets INTEGER NOT NULL DEFAULT 0
);
CREATE VIRTUAL TABLE genotypes_fts USING fts5 (genotype, content='', tokenize='trigram');
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
{"".join(f"CREATE INDEX {name} ON {on};" for name, on in _INDEXES.items())}
PRAGMA user_version = {VERSION};
"""

#: An asset's id is its acquisition second shifted left plus a free slot, so id order is acquired
#: order (ties within a second aside): FTS5 hits and modality rows then come out already sorted and
#: a search can stop after ``limit`` of them (see :meth:`Catalogue.find`).
_SLOT_BITS = 20
_SLOTS = 1 << _SLOT_BITS
#: Ids from here on belong to assets whose acquired text is not a time and so has no place in that
#: order; while any exists, searches sort every match instead.
_UNORDERED = 1 << 62
_EPOCH = datetime(1, 1, 1)
#: A genotype search with at most this many matching assets reads them all through the genotype
#: index and sorts them; more, and walking the acquired index until ``limit`` matches is cheaper.
_FEW_MATCHES = 2000

_BATCH = 5000
#: Page cache while writing (negative means KiB), so bulk index builds sort in memory.
_BULK_CACHE_KIB = -256 * 1024
_LAST_ID = (1 << 63) - 1
_WILDCARD = re.compile(r"[*?]")
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass
class Record:
    """One asset as the catalogue knows it; ``url`` is where its folder lives in the lake."""

    name: str
    url: str
    level: str
    modalities: list[str] = field(default_factory=list)
    subject_id: str | None = None
    acquired: str | None = None
    project: str | None = None
    species: str | None = None
    sex: str | None = None
    genotype: str | None = None
    institution: str | None = None
    investigators: list[str] = field(default_factory=list)
    source: str | None = None
    label: str | None = None
    processed: str | None = None
    size: int = 0
    objects: int = 0
    schema_versions: dict[str, str] = field(default_factory=dict)
    status: str = "unverified"
    problems: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    contents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def lake_url(self) -> str:
        """The lake this asset belongs to (its URL without the trailing name)."""
        return self.url.removesuffix("/" + self.name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The record without the consolidated metadata document (what ``find --format json`` prints)."""
        return {k: v for k, v in self.to_dict().items() if k != "metadata"}

    def _entry(self, path: str | None, formats: tuple[str, ...]) -> str:
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


#: What ``summary`` holds: every record field but the metadata document, in field order.
_SUMMARY = tuple(f.name for f in fields(Record) if f.name != "metadata")
_METADATA_AT = [f.name for f in fields(Record)].index("metadata")


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
    """Where an asset comes from (``ancestors``, raw root first) and the whole tree of its root."""

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


def default_catalogue_path(lake_url: str) -> Path:
    """Where the local catalogue of a lake lives: one file per lake in the user's cache, named by
    the normalised URL so that ``s3://b/`` and ``s3://b``, ``lake`` and ``./lake`` share it."""
    from assetlake.store import normalise_lake_url

    digest = hashlib.sha1(normalise_lake_url(lake_url).encode()).hexdigest()[:16]
    return cache_folder() / f"{digest}.sqlite"


def cache_folder() -> Path:
    """The user's assetlake cache: ``$ASSETLAKE_CACHE``, else ``$XDG_CACHE_HOME/assetlake``."""
    folder = os.environ.get("ASSETLAKE_CACHE")
    if not folder:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = str(Path(cache) / "assetlake")
    return Path(folder).expanduser()


def flatten_text(name: str, metadata: Any) -> str:
    """Every scalar value of the metadata as text, one per line: what free-text search sees."""
    values = [name]
    _scalars(metadata, values.append)
    return "\n".join(values)


def _scalars(item: Any, add: Callable[[str], None]) -> None:
    """Depth first, in document order; recursion is twice as fast as a stack here."""
    if isinstance(item, str):
        if item:
            add(item)
    elif isinstance(item, dict):
        for value in item.values():
            _scalars(value, add)
    elif isinstance(item, list):
        for value in item:
            _scalars(value, add)
    elif item is not None and not isinstance(item, bool):
        add(str(item))


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
                "2024-03-01T14:05:09"
            ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds")


def _second(moment: str) -> int:
    """Seconds from year 1 to a stored time, plus one so that assets with no time (0) come first."""
    elapsed = datetime.fromisoformat(moment) - _EPOCH
    return elapsed.days * 86400 + elapsed.seconds + 1


def _sortable(acquired: str | None) -> tuple[str | None, int | None]:
    """The acquired time as stored, and its second for the id (None: the text is not a time)."""
    if not acquired:
        return None, 0
    try:
        moment = parse_moment(acquired)
    except QueryError:
        return acquired, None
    return moment, _second(moment)


def _fts_query(text: str) -> str:
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


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _placeholders(values: list[Any]) -> str:
    return ", ".join("?" * len(values))


def _wanted(*, full: bool) -> str:
    """A result row: the name (which orders ties), the summary, and the document when ``full``."""
    wanted = "a.name, a.summary"
    return f"{wanted}, (SELECT d.metadata FROM documents d WHERE d.id = a.id)" if full else wanted


def _columns(*, full: bool) -> str:
    return f"SELECT {_wanted(full=full)} FROM assets a"


def _records(rows: list[tuple[Any, ...]], *, full: bool) -> list[Record]:
    """Rows as records, decoded by one ``json.loads`` for all of them (5x faster than one each)."""
    width = 2 if full else 1
    decoded = json.loads("[" + ",".join(text for row in rows for text in row[1 : 1 + width]) + "]")
    records = []
    for i in range(0, len(decoded), width):
        values = decoded[i]
        values.insert(_METADATA_AT, decoded[i + 1] if full else {})
        records.append(Record(*values))
    return records


@dataclass
class _Search:
    """A search in parts: run as one sorted query, or (``key`` set) as the two-pass search."""

    prefix: str
    source: str
    where: list[str]
    params: list[Any]
    order: str
    key: str | None
    descending: bool

    def sql(self, select: str, *, order: str, extra: str = "", limit: bool = False) -> str:
        """The statement selecting the columns ``select``."""
        conditions = [*self.where, extra] if extra else self.where
        sql = f"{self.prefix}SELECT {select} FROM {self.source}"
        if conditions:
            sql += " WHERE " + " AND ".join(conditions)
        if order:
            sql += f" ORDER BY {order}"
        return sql + (" LIMIT ?" if limit else "")

    def statement(self, limit: int | None, *, full: bool = False) -> tuple[str, list[Any]]:
        """The sorted query, or the first pass of the two-pass search (id order, id first)."""
        limit_params = [] if limit is None else [limit]
        if self.key is None:
            sql = self.sql(_wanted(full=full), order=self.order, limit=limit is not None)
        else:
            direction = " DESC" if self.descending else ""
            select = f"{self.key}, {_wanted(full=full)}"
            sql = self.sql(select, order=self.key + direction, limit=True)
        return sql, self.params + limit_params


class Catalogue:
    """An SQLite catalogue file; created on first use, refused if written by another version."""

    def __init__(self, path: Path | str, *, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly and not self.path.is_file():
            raise CatalogueError(
                f"catalogue {self.path} does not exist; run 'assetlake index' or fix --catalogue"
            )
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if readonly:
                self.db = sqlite3.connect(f"{self.path.absolute().as_uri()}?mode=ro", uri=True)
            else:
                self.db = sqlite3.connect(self.path)
        except sqlite3.DatabaseError as error:
            raise self._unreadable(error) from None
        try:
            version = self._prepare(readonly)
        except sqlite3.DatabaseError as error:
            self.db.close()
            raise self._unreadable(error) from None
        if version != VERSION:
            self.db.close()
            raise CatalogueError(
                f"catalogue {self.path} has version {version}, this assetlake reads version "
                f"{VERSION}; delete the file and run 'assetlake index' again"
            )

    def _prepare(self, readonly: bool) -> int:
        """The file's version, after creating the tables if it is new and writable."""
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and not readonly:
            tables = self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables == 0:
                with self.db:
                    self.db.executescript(_SCHEMA)
                version = VERSION
        return version

    def _unreadable(self, error: sqlite3.DatabaseError) -> CatalogueError:
        return CatalogueError(
            f"catalogue {self.path} cannot be read ({error}); delete it and run 'assetlake index'"
        )

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

    def upsert(self, records: Iterable[Record]) -> int:
        """Insert or replace records in one transaction; returns how many were written.

        Loading into an empty catalogue (a first index, a fetch) builds the secondary indexes once
        at the end, several times faster than updating them row by row.
        """
        db = self.db
        db.execute("PRAGMA synchronous = OFF")
        db.execute(f"PRAGMA cache_size = {_BULK_CACHE_KIB}")
        written = 0
        try:
            with db:
                bulk = db.execute("SELECT NOT EXISTS (SELECT 1 FROM assets)").fetchone()[0]
                if bulk:
                    for name in _INDEXES:
                        db.execute(f"DROP INDEX {name}")
                free: dict[int | None, int] = {}
                genotypes = dict(db.execute("SELECT genotype, id FROM genotypes"))
                batch: list[Record] = []
                for record in records:
                    batch.append(record)
                    if len(batch) >= _BATCH:
                        written += self._insert(batch, free, genotypes)
                        batch = []
                if batch:
                    written += self._insert(batch, free, genotypes)
                if bulk:
                    for name, on in _INDEXES.items():
                        db.execute(f"CREATE INDEX {name} ON {on}")
                if written:
                    db.execute("PRAGMA analysis_limit = 1000")
                    db.execute("ANALYZE")
        finally:
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA cache_size = -2000")
        return written

    def _next_id(self, second: int | None, free: dict[int | None, int]) -> int:
        """A free id in the asset's second (see ``_SLOT_BITS``), or an unordered one if it has none."""
        if second not in free:
            low = _UNORDERED if second is None else second << _SLOT_BITS
            high = _LAST_ID if second is None else low + _SLOTS - 1
            top = self.db.execute(
                "SELECT max(id) FROM assets WHERE id BETWEEN ? AND ?", (low, high)
            ).fetchone()[0]
            free[second] = low if top is None else top + 1
        row_id = free[second]
        if second is not None and row_id >> _SLOT_BITS != second:
            return self._next_id(None, free)
        free[second] = row_id + 1
        return row_id

    def _insert(
        self, batch: list[Record], free: dict[int | None, int], genotypes: dict[str, int]
    ) -> int:
        db = self.db
        unique = {r.name: r for r in batch}
        self._delete(list(unique))
        assets, documents, texts, modalities, new_genotypes = [], [], [], [], []
        counts: dict[str, int] = {}
        for record in unique.values():
            acquired_at, second = _sortable(record.acquired)
            row_id = self._next_id(second, free)
            summary = _dumps([getattr(record, name) for name in _SUMMARY])
            assets.append([row_id, *(getattr(record, c) for c in COLUMNS), acquired_at, summary])
            documents.append((row_id, _dumps(record.metadata)))
            texts.append((row_id, flatten_text(record.name, record.metadata)))
            modalities.extend((row_id, m) for m in dict.fromkeys(record.modalities))
            if record.genotype:
                counts[record.genotype] = counts.get(record.genotype, 0) + 1
                if record.genotype not in genotypes:
                    genotypes[record.genotype] = max(genotypes.values(), default=0) + 1
                    new_genotypes.append((genotypes[record.genotype], record.genotype))
        columns = ", ".join(("id", *COLUMNS, "acquired_at", "summary"))
        db.executemany(
            f"INSERT INTO assets ({columns}) VALUES ({_placeholders([0] * (len(COLUMNS) + 3))})",
            assets,
        )
        db.executemany("INSERT INTO documents (id, metadata) VALUES (?, ?)", documents)
        db.executemany("INSERT INTO documents_fts (rowid, text) VALUES (?, ?)", texts)
        db.executemany("INSERT INTO asset_modalities (asset, modality) VALUES (?, ?)", modalities)
        db.executemany("INSERT INTO genotypes (id, genotype) VALUES (?, ?)", new_genotypes)
        db.executemany("INSERT INTO genotypes_fts (rowid, genotype) VALUES (?, ?)", new_genotypes)
        db.executemany(
            "UPDATE genotypes SET assets = assets + ? WHERE genotype = ?",
            [(count, genotype) for genotype, count in counts.items()],
        )
        return len(batch)

    def _delete(self, names: list[str]) -> int:
        db = self.db
        found = []
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            found += db.execute(
                "SELECT a.id, a.name, d.metadata, a.genotype FROM assets a "
                f"JOIN documents d ON d.id = a.id WHERE a.name IN ({_placeholders(chunk)})",
                chunk,
            ).fetchall()
        if not found:
            return 0
        ids = [(row_id,) for row_id, *_ in found]
        db.executemany(
            "INSERT INTO documents_fts (documents_fts, rowid, text) VALUES ('delete', ?, ?)",
            [(row_id, flatten_text(name, json.loads(doc))) for row_id, name, doc, _ in found],
        )
        db.executemany(
            "UPDATE genotypes SET assets = assets - 1 WHERE genotype = ?",
            [(genotype,) for *_, genotype in found if genotype],
        )
        db.executemany("DELETE FROM asset_modalities WHERE asset = ?", ids)
        db.executemany("DELETE FROM documents WHERE id = ?", ids)
        db.executemany("DELETE FROM assets WHERE id = ?", ids)
        return len(found)

    def remove(self, names: Iterable[str]) -> int:
        """Drop assets by name (unknown names are ignored); returns how many were removed."""
        with self.db:
            return self._delete(list(dict.fromkeys(names)))

    def set_meta(self, key: str, value: str | None) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # -- reading -----------------------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def check_lake(self, lake_url: str) -> None:
        """Refuse to stand for another lake than the one it was built from: its records point
        there, and indexing into it would mix two lakes."""
        from assetlake.store import normalise_lake_url

        built_for, wanted = self.meta("lake"), normalise_lake_url(lake_url)
        if built_for is not None and normalise_lake_url(built_for) != wanted:
            raise UsageError(
                f"catalogue {self.path} is the catalogue of lake {built_for}, not of {wanted}; "
                "drop --catalogue, or give the --lake (or ASSETLAKE_LAKE) it was built for"
            )

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM assets").fetchone()[0]

    def status_counts(self) -> dict[str, int]:
        """How many assets have each status, counted in SQL rather than by loading records."""
        return dict(self.db.execute("SELECT status, count(*) FROM assets GROUP BY status"))

    def known_names(self) -> set[str]:
        return {name for (name,) in self.db.execute("SELECT name FROM assets")}

    def get(self, name: str) -> Record | None:
        """The full record of one asset, metadata included, or None."""
        rows = self.db.execute(f"{_columns(full=True)} WHERE a.name = ?", (name,)).fetchall()
        return _records(rows, full=True)[0] if rows else None

    def records(self) -> Iterator[Record]:
        """Every record with its metadata, in name order (for publishing)."""
        cursor = self.db.execute(f"{_columns(full=True)} ORDER BY a.name")
        while rows := cursor.fetchmany(1000):
            yield from _records(rows, full=True)

    def find(
        self,
        *,
        subject: str | Iterable[str] | None = None,
        modality: str | Iterable[str] | None = None,
        project: str | Iterable[str] | None = None,
        after: str | date | None = None,
        before: str | date | None = None,
        level: str | None = None,
        derived_from: str | Iterable[str] | None = None,
        species: str | Iterable[str] | None = None,
        genotype: str | None = None,
        invalid: bool = False,
        text: str | None = None,
        limit: int | None = None,
        sort: str = "acquired",
        full: bool = False,
    ) -> list[Record]:
        """Records matching every filter (see the module docstring for the rules).

        Records come without the metadata document unless ``full`` (use :meth:`get` for one).
        Sorted by acquired time with a limit, the search runs in two passes: the first ``limit``
        matches in id order (which walks an index and stops early), plus the matches sharing the
        last one's second; the second pass sorts those few exactly.
        """
        search = self._search(
            subject=subject,
            modality=modality,
            project=project,
            after=after,
            before=before,
            level=level,
            derived_from=derived_from,
            species=species,
            genotype=genotype,
            invalid=invalid,
            text=text,
            limit=limit,
            sort=sort,
        )
        if search.key is None:
            return _records(
                self.db.execute(*search.statement(limit, full=full)).fetchall(), full=full
            )
        found = self.db.execute(*search.statement(limit, full=full)).fetchall()
        if len(found) == limit:
            low = found[-1][0] >> _SLOT_BITS << _SLOT_BITS
            ties = search.sql(
                f"{search.key}, {_wanted(full=full)}",
                order="",
                extra=f"{search.key} BETWEEN ? AND ?",
            )
            found += self.db.execute(ties, [*search.params, low, low + _SLOTS - 1]).fetchall()
        # Within one second every acquired time is the same, so (second, name) is the sort order.
        unique = {row[0]: row[1:] for row in found}
        ranked = sorted(
            unique.items(),
            key=lambda hit: (hit[0] >> _SLOT_BITS, hit[1][0]),
            reverse=search.descending,
        )
        return _records([row for _, row in ranked[:limit]], full=full)

    def query(self, *, full: bool = False, **filters: Any) -> tuple[str, list[Any]]:
        """The SQL and parameters of the statement that finds the matches of :meth:`find`'s
        ``filters`` (for ``EXPLAIN QUERY PLAN``)."""
        return self._search(**filters).statement(filters.get("limit"), full=full)

    def _ordered(self) -> bool:
        """Whether id order is acquired order for every asset (see ``_UNORDERED``)."""
        top = self.db.execute("SELECT max(id) FROM assets").fetchone()[0]
        return top is None or top < _UNORDERED

    def _search(
        self,
        *,
        subject: str | Iterable[str] | None = None,
        modality: str | Iterable[str] | None = None,
        project: str | Iterable[str] | None = None,
        after: str | date | None = None,
        before: str | date | None = None,
        level: str | None = None,
        derived_from: str | Iterable[str] | None = None,
        species: str | Iterable[str] | None = None,
        genotype: str | None = None,
        invalid: bool = False,
        text: str | None = None,
        limit: int | None = None,
        sort: str = "acquired",
    ) -> _Search:
        where: list[str] = []
        params: list[Any] = []
        prefix = ""
        modalities = _as_list(modality)
        subjects = _as_list(subject)
        sources = _as_list(derived_from)
        genotypes = None if genotype is None else self._genotypes(genotype)
        # A rare genotype's few assets are read through its index and sorted; walking the
        # acquired index (or ids, below) for them would read most of the catalogue.
        rare = genotypes is not None and sum(genotypes.values()) <= _FEW_MATCHES
        by_time = sort.removeprefix("-") == "acquired" and limit is not None
        source, key = "assets a", None
        if rare and not subjects and not sources:
            source = "assets a INDEXED BY assets_genotype"
        elif by_time and not rare and self._ordered():
            # Other searches have an index in sort order already; these two would sort every match.
            if text is not None:
                source, key = "documents_fts f JOIN assets a ON a.id = f.rowid", "f.rowid"
            elif len(modalities) == 1:
                source, key = "asset_modalities m JOIN assets a ON a.id = m.asset", "m.asset"

        exact = [s for s in subjects if not _WILDCARD.search(s)]
        patterns = [re.sub(r"([\[\]])", r"[\1]", s) for s in subjects if _WILDCARD.search(s)]
        if subjects:
            tests = [f"a.subject_id IN ({_placeholders(exact)})"] if exact else []
            tests += ["a.subject_id GLOB ?"] * len(patterns)
            where.append("(" + " OR ".join(tests) + ")")
            params += exact + patterns
        if key == "m.asset":
            where.append("m.modality = ?")
            params += modalities
        elif modalities:
            where.append(
                "EXISTS (SELECT 1 FROM asset_modalities m WHERE m.asset = a.id "
                f"AND m.modality IN ({_placeholders(modalities)}))"
            )
            params += modalities
        projects = _as_list(project)
        if projects:
            where.append(f"a.project IN ({_placeholders(projects)})")
            params += projects
        for moment, test, what in ((after, ">=", "--after"), (before, "<", "--before")):
            if moment is not None:
                stored = parse_moment(moment, what=what)
                where.append(f"a.acquired_at {test} ?")
                params.append(stored)
                if key is not None:
                    where.append(f"{key} {test} ?")
                    params.append(_second(stored) << _SLOT_BITS)
        if level is not None:
            if level not in ("raw", "derived"):
                raise QueryError(f"level {level!r} is not known; use raw or derived")
            where.append("a.level = ?")
            params.append(level)
        if sources:
            prefix = (
                "WITH RECURSIVE descendants(name) AS ("
                f"SELECT name FROM assets WHERE source IN ({_placeholders(sources)}) "
                "UNION SELECT c.name FROM assets c JOIN descendants d ON c.source = d.name) "
            )
            where.append("a.name IN (SELECT name FROM descendants)")
            params = sources + params
        species_list = _as_list(species)
        if species_list:
            where.append(f"a.species IN ({_placeholders(species_list)})")
            params += species_list
        if genotypes is not None:
            # A common genotype walks assets_acquired, which stops after ``limit`` matches; the
            # genotype index (which ``+`` turns off) would read and sort every one of them.
            walk = "+" if by_time and not rare else ""
            where.append(f"{walk}a.genotype IN ({_placeholders(list(genotypes))})")
            params += genotypes
        if invalid:
            where.append("a.status = 'invalid'")
        if text is not None:
            if key == "f.rowid":
                where.append("documents_fts MATCH ?")
            else:
                where.append(
                    "a.id IN (SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?)"
                )
            params.append(_fts_query(text))

        descending = sort.startswith("-")
        sort_key = sort.removeprefix("-")
        if sort_key not in SORT_KEYS:
            raise QueryError(
                f"sort key {sort!r} is not known; use one of {', '.join(SORT_KEYS)} "
                "(prefix '-' for descending)"
            )
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise QueryError(f"limit {limit!r} must be a positive whole number, e.g. 100")
        direction = " DESC" if descending else ""
        order = ", ".join(column + direction for column in SORT_KEYS[sort_key])
        return _Search(prefix, source, where, params, order, key, descending)

    def _genotypes(self, genotype: str) -> dict[str, int]:
        """The known genotypes containing ``genotype`` (any case), with how many assets have each."""
        needle = genotype.strip()
        if not needle:
            raise QueryError("genotype is empty; give part of one, e.g. 'Sst-IRES-Cre'")
        if len(needle) >= 3:
            sql = (
                "SELECT genotype, assets FROM genotypes WHERE id IN "
                "(SELECT rowid FROM genotypes_fts WHERE genotypes_fts MATCH ?)"
            )
            pattern = '"' + needle.replace('"', '""') + '"'
        else:
            sql = "SELECT genotype, assets FROM genotypes WHERE genotype LIKE ? ESCAPE '\\'"
            pattern = "%" + re.sub(r"([%_\\])", r"\\\1", needle) + "%"
        return dict(self.db.execute(sql, (pattern,)))

    def lineage(self, name: str) -> Lineage:
        """The source chain up to the raw root, and the tree of everything derived from that root."""
        row = self.db.execute("SELECT source FROM assets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise AssetNotFoundError(
                f"asset {name} is not in the catalogue; list names with 'assetlake find'"
            )
        ancestors: list[str] = []
        source = row[0]
        while source and source not in ancestors and source != name:
            ancestors.insert(0, source)
            parent = self.db.execute(
                "SELECT source FROM assets WHERE name = ?", (source,)
            ).fetchone()
            source = parent[0] if parent else None
        root_name = ancestors[0] if ancestors else name
        rows = self.db.execute(
            "WITH RECURSIVE tree(name) AS (SELECT ? UNION "
            "SELECT c.name FROM assets c JOIN tree t ON c.source = t.name) "
            "SELECT a.name, a.source, a.label, a.processed, a.status FROM tree "
            "JOIN assets a ON a.name = tree.name ORDER BY a.processed, a.name",
            (root_name,),
        ).fetchall()
        nodes = {
            n: LineageNode(n, label, processed, status) for n, _, label, processed, status in rows
        }
        root = nodes.get(root_name) or LineageNode(root_name, known=False)
        for n, source, *_ in rows:
            if n != root_name and source in nodes:
                nodes[source].children.append(nodes[n])
            elif n != root_name and source == root_name:
                root.children.append(nodes[n])
        return Lineage(name=name, ancestors=ancestors, root=root)
