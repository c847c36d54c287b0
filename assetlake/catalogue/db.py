"""The local catalogue: one SQLite file, one row per asset, searchable in milliseconds.

Only the standard library is imported here, so ``assetlake find`` starts and answers fast. The
tables are generated from the record schema (:mod:`assetlake.catalogue.schema`): searchable fields
are ``assets`` columns, and the whole record but its metadata document is kept encoded (a JSON
array in field order) in one ``record`` column, so a result row is ``(name, record)`` and a page of results becomes
records through one ``json.loads``. The consolidated metadata document lives in its own table so
hot scans never read it, and its values are searchable through a contentless FTS5 index.

One process writes a catalogue at a time: a writable :class:`Catalogue` holds an exclusive lock on
``<file>.lock`` until it is closed, and :meth:`Catalogue.writing` makes a writer's whole work one
transaction, so readers see all of it or none. Bulk loads drop and rebuild the secondary indexes
inside that same transaction: a failure rolls the indexes back with the rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from assetlake.catalogue import ids, plan
from assetlake.catalogue import schema as record_schema
from assetlake.catalogue.query import Page, Query
from assetlake.catalogue.record import Lineage, LineageNode, Record, Status
from assetlake.catalogue.schema import Schema, problem, safe_text
from assetlake.errors import AssetNotFoundError, CatalogueBusyError, CatalogueError, UsageError

#: Bumped whenever the tables change; an older or newer file must be deleted and re-indexed. (A
#: change of record fields is caught by the schema digest the ``meta`` table keeps.)
VERSION = 6

#: Secondary indexes, by name; a bulk load into an empty catalogue builds them once at the end.
INDEXES: dict[str, str] = {
    "assets_acquired": "assets (acquired_at, name, level, status, genotype)",
    "assets_subject": "assets (subject_id, acquired_at, name)",
    "assets_project": "assets (project, acquired_at)",
    "assets_genotype": "assets (genotype)",
    "assets_status": "assets (status)",
    "asset_modalities_modality": "asset_modalities (modality)",
    "asset_sources_source": "asset_sources (source, asset)",
}

_BATCH = 5000
#: Page cache while writing (negative means KiB). The cache fills with a crawl's dirty pages (at
#: 256 MiB a crawl's memory grew about 9 KB per asset up to it); 16 MiB writes 54,000 records and
#: builds their indexes at the same CPU as 64 MiB (0.05 ms a record, 0.35 s for the indexes),
#: 50 MB smaller.
_BULK_CACHE_KIB = -16 * 1024
#: How long a reader waits for a writer's commit, in seconds.
_BUSY_SECONDS = 30.0
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def tables(schema: Schema) -> str:
    """The catalogue's tables and indexes, generated from ``schema``."""
    columns = ", ".join(f"{name} {kind}" for name, kind in schema.columns.items())
    return f"""
CREATE TABLE assets (id INTEGER PRIMARY KEY, {columns}, acquired_at TEXT, record JSON NOT NULL);
CREATE TABLE asset_modalities (
    asset INTEGER NOT NULL, modality TEXT NOT NULL, PRIMARY KEY (asset, modality)
) WITHOUT ROWID;
CREATE TABLE asset_sources (
    asset INTEGER NOT NULL, position INTEGER NOT NULL, source TEXT NOT NULL,
    PRIMARY KEY (asset, position)
) WITHOUT ROWID;
CREATE TABLE documents (id INTEGER PRIMARY KEY, metadata TEXT NOT NULL);
CREATE VIRTUAL TABLE documents_fts USING fts5 (text, content='', tokenize='unicode61 remove_diacritics 2');
CREATE TABLE genotypes (
    id INTEGER PRIMARY KEY, genotype TEXT NOT NULL UNIQUE, assets INTEGER NOT NULL DEFAULT 0
);
CREATE VIRTUAL TABLE genotypes_fts USING fts5 (genotype, content='', tokenize='trigram');
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
INSERT INTO meta (key, value) VALUES ('fields', '{schema.digest}');
{"".join(f"CREATE INDEX {name} ON {on};" for name, on in INDEXES.items())}
PRAGMA user_version = {VERSION};
"""


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


@contextlib.contextmanager
def writer_lock(path: Path) -> Iterator[None]:
    """Hold the one-writer lock of the catalogue at ``path``, or raise at once if another
    process holds it (naming that process)."""
    handle = _lock(path)
    try:
        yield
    finally:
        handle.close()


def _lock(path: Path) -> IO[str]:
    lock = path.with_name(path.name + ".lock")
    try:
        handle = open(lock, "a+")  # noqa: SIM115 - held until the catalogue closes
    except OSError as error:
        raise CatalogueError(
            f"catalogue {path} cannot be written: its lock file {lock} cannot be opened "
            f"({error.strerror}); give a --catalogue in a folder you can write"
        ) from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise CatalogueBusyError(
            f"catalogue {path} is being written by another assetlake process (pid {holder}); "
            "wait for it to finish, then run again"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


@dataclass(frozen=True)
class Prepared:
    """A record as its catalogue rows hold it, computed without the database (so a crawl's
    worker processes can do it): the bounded record without its metadata document, which is
    kept as JSON text, with its free text and its encoded row."""

    record: Record
    document: str
    text: str
    encoded: str
    acquired_at: str | None
    second: int | None


def prepare(record: Record, schema: Schema = record_schema.SCHEMA) -> Prepared:
    """Bound ``record`` (:meth:`Schema.bounded`) and encode what its rows hold; a metadata
    document that cannot be written (nested deeper than JSON encoders go, or with values JSON
    has no form for) is dropped with a problem, which keeps the record and makes it invalid."""
    record = schema.bounded(record)
    try:
        document = safe_text(_dumps(record.metadata))
    except (RecursionError, ValueError, TypeError) as error:
        found = problem("metadata", f"cannot be stored ({type(error).__name__}); dropped", "")
        record = replace(
            record, metadata={}, problems=[*record.problems, found], status=Status.INVALID
        )
        document = "{}"
    acquired_at, second, outside = ids.sortable(record.acquired)
    found = outside and problem("acquired", outside, record.acquired)
    if found and found not in record.problems:  # a published record carries it already
        record = replace(record, problems=[*record.problems, found], status=Status.INVALID)
    text = safe_text(flatten_text(record.name, record.metadata))
    encoded = schema.encode(record)
    return Prepared(replace(record, metadata={}), document, text, encoded, acquired_at, second)


def flatten_text(name: str, metadata: Any) -> str:
    """Every scalar value of the metadata as text, one per line: what free-text search sees."""
    values = [name]
    _scalars(metadata, values.append)
    return "\n".join(values)


def _scalars(item: Any, add: Callable[[str], None]) -> None:
    """Depth first, in document order, with a stack of iterators: any depth of nesting is safe."""
    stack = [iter((item,))]
    while stack:
        for value in stack[-1]:
            if isinstance(value, str):
                if value:
                    add(value)
            elif isinstance(value, dict):
                stack.append(iter(value.values()))
                break
            elif isinstance(value, list):
                stack.append(iter(value))
                break
            elif value is not None and not isinstance(value, bool):
                add(str(value))
        else:
            stack.pop()


def _top(rows: list[tuple[str, int]], top: int) -> list[tuple[str, int]]:
    if len(rows) <= top:
        return rows
    return [*rows[: top - 1], ("(other)", sum(n for _, n in rows[top - 1 :]))]


def _placeholders(values: list[Any]) -> str:
    return ", ".join("?" * len(values))


def _wanted(*, full: bool) -> str:
    """A result row: the name (which orders ties), the record, and the document when ``full``."""
    wanted = "a.name, a.record"
    return f"{wanted}, (SELECT d.metadata FROM documents d WHERE d.id = a.id)" if full else wanted


class Catalogue:
    """An SQLite catalogue file; created on first use, refused if written by another version or
    with other record fields. Writable, it holds the writer lock until closed."""

    def __init__(self, path: Path | str, *, readonly: bool = False, lock: bool = True) -> None:
        self.path = Path(path)
        self.schema: Schema = record_schema.SCHEMA
        self._lock: IO[str] | None = None
        self._depth = 0
        self._bulk = False
        self._written = 0
        if readonly and not self.path.is_file():
            raise CatalogueError(
                f"catalogue {self.path} does not exist; run 'assetlake index' or fix --catalogue"
            )
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if lock:
                self._lock = _lock(self.path)
        try:
            target = f"{self.path.absolute().as_uri()}?mode=ro" if readonly else str(self.path)
            self.db = sqlite3.connect(
                target, uri=readonly, timeout=_BUSY_SECONDS, isolation_level=None
            )
        except sqlite3.DatabaseError as error:
            self._unlock()
            raise self._unreadable(error) from None
        try:
            version, fields = self._prepare(readonly)
        except sqlite3.DatabaseError as error:
            self.close()
            raise self._unreadable(error) from None
        if version != VERSION:
            self.close()
            raise CatalogueError(
                f"catalogue {self.path} has version {version}, this assetlake reads version "
                f"{VERSION}; delete the file and run 'assetlake index' again"
            )
        if fields != self.schema.digest:
            self.close()
            raise CatalogueError(
                f"catalogue {self.path} was built with other record fields (digest {fields}, "
                f"this assetlake has {self.schema.digest}); delete {self.path} and re-index "
                "with 'assetlake index'"
            )

    def _prepare(self, readonly: bool) -> tuple[int, str | None]:
        """The file's version and field digest, after creating the tables if it is new."""
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and not readonly:
            tables_count = self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables_count == 0:
                try:
                    self.db.executescript(f"BEGIN IMMEDIATE;{tables(self.schema)}COMMIT;")
                except sqlite3.Error:
                    if self.db.in_transaction:
                        self.db.execute("ROLLBACK")
                    raise
                version = VERSION
        if version != VERSION:
            return version, None
        return version, self.meta("fields")

    def _unreadable(self, error: sqlite3.DatabaseError) -> CatalogueError:
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            # A long write (a first index) holds the file; the file itself is sound.
            return CatalogueBusyError(
                f"catalogue {self.path} is being written by another process and stayed locked "
                f"for {_BUSY_SECONDS:.0f} s; try again when that 'assetlake index' has finished"
            )
        return CatalogueError(
            f"catalogue {self.path} cannot be read ({error}); delete it and run 'assetlake index'"
        )

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def close(self) -> None:
        self.db.close()
        self._unlock()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """One transaction around everything written inside (nested calls join it): readers see
        all of it when it ends, or nothing if it fails. A bulk load's indexes are rebuilt before
        the commit, inside the transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        db = self.db
        db.execute("PRAGMA synchronous = OFF")
        db.execute(f"PRAGMA cache_size = {_BULK_CACHE_KIB}")
        db.execute("BEGIN IMMEDIATE")
        self._depth, self._bulk, self._written = 1, False, 0
        try:
            yield
            if self._bulk:
                for name, on in INDEXES.items():
                    db.execute(f"CREATE INDEX {name} ON {on}")
            if self._written:
                db.execute("PRAGMA analysis_limit = 1000")
                db.execute("ANALYZE")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            self._depth = 0
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA cache_size = -2000")

    def upsert(self, records: Iterable[Record | Prepared]) -> int:
        """Insert or replace records; returns how many were written. Every value is bounded first
        (see :meth:`Schema.bounded`); a value out of bounds makes the record invalid, not an error.
        Records may come already prepared (:func:`prepare`, by a crawl's worker processes).

        Loading into an empty catalogue (a first index, a fetch) builds the secondary indexes once
        at the end of the transaction, several times faster than updating them row by row.
        """
        db = self.db
        written = 0
        with self.writing():
            empty = "SELECT NOT EXISTS (SELECT 1 FROM assets)"
            if not self._bulk and not self._written and db.execute(empty).fetchone()[0]:
                for name in INDEXES:
                    db.execute(f"DROP INDEX {name}")
                self._bulk = True
            free: dict[int | None, int] = {}
            genotypes = dict(db.execute("SELECT genotype, id FROM genotypes"))
            batch: list[Prepared] = []
            for record in records:
                batch.append(
                    record if isinstance(record, Prepared) else prepare(record, self.schema)
                )
                if len(batch) >= _BATCH:
                    written += self._insert(batch, free, genotypes)
                    batch = []
            if batch:
                written += self._insert(batch, free, genotypes)
            self._written += written
        return written

    def _next_id(self, second: int | None, free: dict[int | None, int]) -> int:
        """A free id in the asset's second (see :mod:`ids`), or an unordered one if it has none."""
        if second not in free:
            low = ids.UNORDERED if second is None else second << ids.SLOT_BITS
            high = ids.LAST_ID if second is None else low + ids.SLOTS - 1
            top = self.db.execute(
                "SELECT max(id) FROM assets WHERE id BETWEEN ? AND ?", (low, high)
            ).fetchone()[0]
            free[second] = low if top is None else top + 1
        row_id = free[second]
        if second is not None and row_id >> ids.SLOT_BITS != second:
            return self._next_id(None, free)
        free[second] = row_id + 1
        return row_id

    def _insert(
        self, batch: list[Prepared], free: dict[int | None, int], genotypes: dict[str, int]
    ) -> int:
        db = self.db
        columns = self.schema.columns
        unique = {row.record.name: row for row in batch}
        self._delete(list(unique))
        assets, documents, texts, modalities, sources, new_genotypes = [], [], [], [], [], []
        counts: dict[str, int] = {}
        for row in unique.values():
            record = row.record
            row_id = self._next_id(row.second, free)
            assets.append(
                [row_id, *(getattr(record, c) for c in columns), row.acquired_at, row.encoded]
            )
            documents.append((row_id, row.document))
            texts.append((row_id, row.text))
            modalities.extend((row_id, m) for m in dict.fromkeys(record.modalities))
            sources.extend((row_id, i, s) for i, s in enumerate(dict.fromkeys(record.sources)))
            if record.genotype:
                counts[record.genotype] = counts.get(record.genotype, 0) + 1
                if record.genotype not in genotypes:
                    genotypes[record.genotype] = max(genotypes.values(), default=0) + 1
                    new_genotypes.append((genotypes[record.genotype], record.genotype))
        names = ", ".join(("id", *columns, "acquired_at", "record"))
        db.executemany(
            f"INSERT INTO assets ({names}) VALUES ({_placeholders([0] * (len(columns) + 3))})",
            assets,
        )
        db.executemany("INSERT INTO documents (id, metadata) VALUES (?, ?)", documents)
        db.executemany("INSERT INTO documents_fts (rowid, text) VALUES (?, ?)", texts)
        db.executemany("INSERT INTO asset_modalities (asset, modality) VALUES (?, ?)", modalities)
        db.executemany(
            "INSERT INTO asset_sources (asset, position, source) VALUES (?, ?, ?)", sources
        )
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
        row_ids = [(row_id,) for row_id, *_ in found]
        db.executemany(
            "INSERT INTO documents_fts (documents_fts, rowid, text) VALUES ('delete', ?, ?)",
            [
                (row_id, safe_text(flatten_text(name, json.loads(doc))))
                for row_id, name, doc, _ in found
            ],
        )
        db.executemany(
            "UPDATE genotypes SET assets = assets - 1 WHERE genotype = ?",
            [(genotype,) for *_, genotype in found if genotype],
        )
        db.executemany("DELETE FROM asset_modalities WHERE asset = ?", row_ids)
        db.executemany("DELETE FROM asset_sources WHERE asset = ?", row_ids)
        db.executemany("DELETE FROM documents WHERE id = ?", row_ids)
        db.executemany("DELETE FROM assets WHERE id = ?", row_ids)
        return len(found)

    def remove(self, names: Iterable[str]) -> int:
        """Drop assets by name (unknown names are ignored); returns how many were removed."""
        with self.writing():
            return self._delete(list(dict.fromkeys(names)))

    def set_meta(self, key: str, value: str | None) -> None:
        with self.writing():
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

    def counts(self, top: int = 20) -> dict[str, list[tuple[str, int]]]:
        """How many assets there are ``{"modality": [(value, assets), …], "project": …, "month":
        …, "status": …}``, counted in SQL on indexed columns. Modalities and projects come most
        common first, the ``top - 1`` first kept and the rest summed as ``(other)``; months are the
        ``top`` latest, oldest first (``(unknown)`` for assets without a time)."""
        db = self.db
        return {
            "modality": _top(
                db.execute(
                    "SELECT modality, count(*) FROM asset_modalities "
                    "GROUP BY modality ORDER BY 2 DESC, 1"
                ).fetchall(),
                top,
            ),
            "project": _top(
                db.execute(
                    "SELECT coalesce(project, '(none)'), count(*) FROM assets "
                    "GROUP BY 1 ORDER BY 2 DESC, 1"
                ).fetchall(),
                top,
            ),
            "month": db.execute(
                "SELECT coalesce(substr(acquired_at, 1, 7), '(unknown)'), count(*) FROM assets "
                "GROUP BY 1 ORDER BY 1 DESC LIMIT ?",
                (top,),
            ).fetchall()[::-1],
            "status": sorted(self.status_counts().items(), key=lambda item: -item[1]),
        }

    def known_names(self) -> set[str]:
        return {name for (name,) in self.db.execute("SELECT name FROM assets")}

    def _records(self, rows: list[tuple[Any, ...]], *, full: bool) -> list[Record]:
        """Rows as records, decoded by one ``json.loads`` for all of them (5x faster than one
        each)."""
        width = 2 if full else 1
        texts = (text for row in rows for text in row[1 : 1 + width])
        decoded = json.loads("[" + ",".join(texts) + "]")
        if full:
            return self.schema.decode(decoded[::2], decoded[1::2])
        return self.schema.decode(decoded)

    def get(self, name: str) -> Record | None:
        """The full record of one asset, metadata included, or None."""
        rows = self.db.execute(
            f"SELECT {_wanted(full=True)} FROM assets a WHERE a.name = ?", (name,)
        ).fetchall()
        return self._records(rows, full=True)[0] if rows else None

    def records(self, *, full: bool = True) -> Iterator[Record]:
        """Every record, with its metadata unless not ``full``, in name order (for publishing)."""
        cursor = self.db.execute(f"SELECT {_wanted(full=full)} FROM assets a ORDER BY a.name")
        while rows := cursor.fetchmany(1000):
            yield from self._records(rows, full=full)

    def pick(self, paths: dict[str, str], **columns: str) -> list[tuple[str, dict[str, Any]]]:
        """Each asset whose searchable ``columns`` hold the values given (``level="derived",
        label="spikes"``), in name order: its name and the values at the JSON ``paths`` of its
        metadata document (``{"sources": "$.data_description.source_data"}``; None where the
        document has none). SQLite picks them, so a scan of many assets decodes a few values
        each, not whole documents and records."""
        unknown = [name for name in columns if name not in self.schema.columns]
        if unknown:
            raise UsageError(
                f"Catalogue.pick: {unknown[0]!r} is not a searchable field; use one of "
                f"{', '.join(self.schema.columns)}"
            )
        keys = list(paths)
        values = ", ".join("json_extract(d.metadata, ?)" for _ in keys)
        where = " AND ".join([f"a.{name} = ?" for name in columns] or ["1"])
        rows = self.db.execute(
            f"SELECT a.name, json_array({values}) FROM assets a JOIN documents d ON d.id = a.id "
            f"WHERE {where} ORDER BY a.name",
            [*paths.values(), *columns.values()],
        ).fetchall()
        decoded = json.loads("[" + ",".join(text for _, text in rows) + "]")
        return [
            (name, dict(zip(keys, found, strict=True)))
            for (name, _), found in zip(rows, decoded, strict=True)
        ]

    def statistics(self, query: Query) -> plan.Statistics:
        """What :func:`plan.plan` needs to know of this catalogue for ``query``."""
        genotypes = None if query.genotype is None else self._genotypes(query.genotype)
        top = self.db.execute("SELECT max(id) FROM assets").fetchone()[0]
        return plan.Statistics(genotypes, top is None or top < ids.UNORDERED)

    def find(
        self, query: Query | None = None, /, *, full: bool = False, **filters: Any
    ) -> list[Record]:
        """Records matching ``query`` (or a :class:`Query` of the keyword ``filters``; see
        :mod:`assetlake.catalogue.query` for the rules), without the metadata document unless
        ``full`` (use :meth:`get` for one)."""
        query = query if query is not None else Query(**filters)
        return self._records(self._rows(query, full=full), full=full)

    def page(self, query: Query | None = None, /, *, full: bool = False, **filters: Any) -> Page:
        """Like :meth:`find`, with the cursor of the next page when more assets match (one asset
        past the limit is read to know, so a last page is never followed by an empty one)."""
        query = query if query is not None else Query(**filters)
        ahead = query if query.limit is None else replace(query, limit=query.limit + 1)
        rows = self._rows(ahead, full=full)
        cursor = None
        if query.limit is not None and len(rows) > query.limit:
            rows = rows[: query.limit]
            last = self.db.execute(
                f"SELECT {', '.join(query.order)} FROM assets a WHERE a.name = ?", (rows[-1][0],)
            ).fetchone()
            cursor = query.next_page(last).cursor
        return Page(self._records(rows, full=full), cursor)

    def _rows(self, query: Query, *, full: bool) -> list[tuple[Any, ...]]:
        """The result rows of ``query`` (see :func:`_wanted`), in order; decoded only by
        :meth:`_records`, so a look-ahead row costs no decoding."""
        search = plan.plan(query, self.statistics(query))
        select = _wanted(full=full)
        if search.key is None:
            return self.db.execute(*search.statement(select)).fetchall()
        return self._two_pass(search, select)

    def _two_pass(self, search: plan.Plan, select: str) -> list[tuple[Any, ...]]:
        found = self.db.execute(*search.statement(select)).fetchall()
        if len(found) == search.limit:
            low = found[-1][0] >> ids.SLOT_BITS << ids.SLOT_BITS
            found += self.db.execute(
                search.ties(select), [*search.params, low, low + ids.SLOTS - 1]
            ).fetchall()
        # Within one second every acquired time is the same, so (second, name) is the sort order.
        unique = {row[0]: row[1:] for row in found}
        ranked = sorted(
            unique.items(),
            key=lambda hit: (hit[0] >> ids.SLOT_BITS, hit[1][0]),
            reverse=search.descending,
        )
        return [row for _, row in ranked[: search.limit]]

    def query(
        self, query: Query | None = None, /, *, full: bool = False, **filters: Any
    ) -> tuple[str, list[Any]]:
        """The SQL and parameters of the statement that finds the matches of ``query`` (or of
        the keyword ``filters``), for ``EXPLAIN QUERY PLAN``."""
        query = query if query is not None else Query(**filters)
        return plan.plan(query, self.statistics(query)).statement(_wanted(full=full))

    def _genotypes(self, genotype: str) -> dict[str, int]:
        """The known genotypes containing ``genotype`` (any case), with how many assets have each."""
        needle = genotype.strip()
        if len(needle) >= 3:
            sql = (
                "SELECT genotype, assets FROM genotypes WHERE id IN "
                "(SELECT rowid FROM genotypes_fts WHERE genotypes_fts MATCH ?)"
            )
            pattern = '"' + needle.replace('"', '""') + '"'
        else:
            sql = "SELECT genotype, assets FROM genotypes WHERE genotype LIKE ? ESCAPE '\\'"
            pattern = (
                "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
        return dict(self.db.execute(sql, (pattern,)))

    def _sources(self, name: str) -> list[str] | None:
        """Every source of asset ``name``, its name's source first; None if it is not catalogued."""
        row = self.db.execute("SELECT id FROM assets WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return [
            s
            for (s,) in self.db.execute(
                "SELECT source FROM asset_sources WHERE asset = ? ORDER BY position", row
            )
        ]

    def lineage(self, name: str) -> Lineage:
        """Every ancestor through every source (the raw root of the first sources first), and
        the tree of everything derived from that root, through any of its sources."""
        sources = self._sources(name)
        if sources is None:
            raise AssetNotFoundError(
                f"asset {name} is not in the catalogue; list names with 'assetlake find'"
            )
        chain: list[str] = []
        first = sources[0] if sources else None
        while first and first not in chain and first != name:
            chain.insert(0, first)
            parent = self._sources(first)
            first = parent[0] if parent else None
        ancestors, expanded, todo = list(chain), set(), [name, *chain]
        while todo:
            current = todo.pop(0)
            if current in expanded:
                continue
            expanded.add(current)
            for source in self._sources(current) or []:
                if source != name and source not in ancestors:
                    ancestors.append(source)
                todo.append(source)
        root_name = chain[0] if chain else name
        return Lineage(name=name, ancestors=ancestors, root=self._tree(root_name))

    def _tree(self, root_name: str) -> LineageNode:
        """Everything derived from ``root_name``; a node sits under each source one generation
        nearer the root, so a hostile cycle of sources can never make the tree endless."""
        rows = self.db.execute(
            "WITH RECURSIVE tree(name) AS (SELECT ? UNION "
            "SELECT c.name FROM tree t JOIN asset_sources s ON s.source = t.name "
            "JOIN assets c ON c.id = s.asset) "
            "SELECT a.name, a.label, a.processed, a.status, "
            "(SELECT json_group_array(source) FROM "
            " (SELECT source FROM asset_sources WHERE asset = a.id ORDER BY position)) "
            "FROM tree JOIN assets a ON a.name = tree.name ORDER BY a.processed, a.name",
            (root_name,),
        ).fetchall()
        nodes = {
            n: LineageNode(n, label, processed, status) for n, label, processed, status, _ in rows
        }
        root = nodes.get(root_name) or LineageNode(root_name, known=False)
        nodes[root_name] = root
        parents = {n: json.loads(found) for n, *_, found in rows}
        generation = {root_name: 0}
        level = [root_name]
        while level:
            following = [
                child
                for child, sources in parents.items()
                if child not in generation and any(s in level for s in sources)
            ]
            for child in following:
                generation[child] = generation[level[0]] + 1
            level = following
        for n in nodes:
            if n == root_name or n not in generation:
                continue
            for source in dict.fromkeys(parents[n]):
                if source in nodes and generation.get(source, -1) == generation[n] - 1:
                    nodes[source].children.append(nodes[n])
        return root
