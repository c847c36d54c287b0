"""Publishing the catalogue into its lake as Parquet, and fetching it on a machine that has none.

The published catalogue lives under the reserved prefix ``assetlake-catalogue/``, the only place
where anything in a lake is overwritten: ``assets.parquet`` (one row per asset, every field but
the metadata document), ``documents.parquet`` (each asset's name and document, in the same order),
``files.parquet`` (one row per top-level entry of an asset, like IBL ONE's datasets table), ONE's
own cache tables ``one/sessions.pqt`` and ``one/datasets.pqt`` (:mod:`assetlake.one.tables`) and
``catalogue.json``, written last, so a reader that sees a new ``catalogue.json`` finds the Parquet
files it describes. DuckDB and pandas read the Parquet files directly.

``assets.parquet`` is laid out for readers that fetch only what a filter needs (DuckDB over S3
reads the footer, then only the row groups whose min/max statistics can match): rows are sorted by
subject, then acquisition time, in row groups of :data:`ROW_GROUP` rows, so one subject's assets
sit in one row group. The documents, most of the bytes, live apart so the hot file stays small
(measured in ``benchmarks/scale_parquet.py``).

``assetlake find`` calls :func:`ensure_catalogue` on every run, so this module imports only the
standard library, the catalogue and the store's base module at the top: pyarrow and boto3 load only
when a fetch is needed.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from assetlake.catalogue import schema as record_schema
from assetlake.catalogue.db import VERSION, Catalogue, writer_lock
from assetlake.catalogue.plan import WILDCARD
from assetlake.catalogue.query import Query
from assetlake.catalogue.record import Record
from assetlake.catalogue.schema import safe_text
from assetlake.document import INT64_MAX, INT64_MIN, read_document
from assetlake.errors import CatalogueBusyError, CatalogueError, LakeError
from assetlake.problems import Problem
from assetlake.store import RESERVED_PREFIX, Store, open_store

FORMAT_VERSION = "2"
#: Published formats this assetlake reads: format 1 kept the documents in ``assets.parquet``.
READS = ("1", FORMAT_VERSION)
PREFIX = RESERVED_PREFIX
ASSETS = PREFIX + "assets.parquet"
DOCUMENTS = PREFIX + "documents.parquet"
FILES = PREFIX + "files.parquet"
MANIFEST = PREFIX + "catalogue.json"
_BATCH = 10_000

#: ``files.parquet``: one row per top-level entry of an asset (its ``contents``).
FILE_COLUMNS = (
    ("asset", "string"),
    ("path", "string"),
    ("format", "string"),
    ("size", "int64"),
    ("objects", "int64"),
)


#: ``assets.parquet``'s row order: a subject's assets together, each subject's in time order.
SORT_KEY = ("subject_id", "acquired", "name")
#: Rows per row group: small enough that a one-subject query reads a few percent of the file
#: (2.6% at 200,000 assets), large enough that a full scan takes few requests (42, against 150
#: with 4,096 rows: 5.5 s at 30 ms each). Measured in ``benchmarks/scale_parquet.py``.
ROW_GROUP = 16_384


@dataclass(frozen=True)
class PublishStats:
    assets: int
    files: int
    url: str

    def line(self) -> str:
        """What ``assetlake index --publish`` prints."""
        return f"published {self.assets} assets ({self.files} files) to {self.url}"


def publish_catalogue(catalogue: Catalogue, lake: str | Store) -> PublishStats:
    """Write the catalogue's Parquet files, then ``catalogue.json``, into the lake."""
    store = open_store(lake) if isinstance(lake, str) else lake
    schema = catalogue.schema
    # Records become Arrow tables a batch at a time: a million records never sit in memory.
    assets, files, statuses = [], [], {}
    batch: list[Any] = []
    for record in itertools.chain(catalogue.records(), [None]):
        if record is not None:
            batch.append(record)
            statuses[record.status] = statuses.get(record.status, 0) + 1
            if len(batch) < _BATCH:
                continue
        assets.append(_table([schema.to_parquet(r) for r in batch], schema.parquet_columns()))
        rows = [_file_row(r.name, entry) for r in batch for entry in r.contents]
        files.append(_table(rows, FILE_COLUMNS))
        batch = []
    hot, documents = layout(assets)
    store.put(ASSETS, _parquet(hot, ROW_GROUP), overwrite=True)
    store.put(DOCUMENTS, _parquet(documents, ROW_GROUP), overwrite=True)
    files_table = _concat(files)
    store.put(FILES, _parquet(files_table), overwrite=True)
    from assetlake.one.tables import write_tables

    write_tables(catalogue.records(full=False), store, PREFIX)
    manifest = {
        "format_version": FORMAT_VERSION,
        "id": uuid.uuid4().hex,
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "lake": store.url,
        "assets": hot.num_rows,
        "files": files_table.num_rows,
        "sorted_by": list(SORT_KEY),
        "row_group": ROW_GROUP,
        "status": statuses,
    }
    data = json.dumps(manifest, indent=2).encode()
    store.put(MANIFEST, data, overwrite=True)
    return PublishStats(hot.num_rows, files_table.num_rows, f"{store.url}/{PREFIX}")


def layout(tables: list[Any], sort_key: tuple[str, ...] = SORT_KEY) -> tuple[Any, Any]:
    """``assets.parquet``'s table (every field but the document, sorted by ``sort_key``) and
    ``documents.parquet``'s (name and document, row for row in the same order), from tables
    of ``assets.parquet``'s full columns."""
    document = record_schema.SCHEMA.document
    table = _concat(tables).sort_by([(column, "ascending") for column in sort_key])
    return table.drop_columns([document]), table.select(["name", document])


def ensure_catalogue(lake_url: str, path: Path) -> Path:
    """The local catalogue of ``lake_url`` at ``path``, fetched from the lake when it is missing
    or older than the published one (or of another version); an indexed catalogue is used as is,
    without any request. A fetched copy is also used as is when the lake cannot be reached, so
    ``find`` keeps working offline or after the lake moved."""
    fetch = pending_fetch(lake_url, path)
    if fetch is not None:
        fetch.complete()
    return path


@dataclass
class Fetch:
    """A published catalogue the local copy at ``path`` lacks, known by its manifest: the
    ``find`` on a clean machine answers from it (:meth:`answer`) before it builds the local copy
    (:meth:`complete`), which takes minutes at a million assets."""

    store: Store
    path: Path
    fingerprint: str
    version: str
    #: Whether the local copy is of this assetlake's version (it serves if the fetch fails).
    current: bool
    _assets: bytes | None = None

    def assets(self) -> bytes:
        """``assets.parquet``'s bytes, read from the lake once."""
        if self._assets is None:
            self._assets = _required(self.store, ASSETS)
        return self._assets

    def answer(self, query: Query) -> list[Record] | None:
        """The records ``Catalogue.find(query)`` will return once the copy is complete, or None
        when ``query`` needs the whole catalogue (see :func:`prefilter`).

        Only the rows ``query`` can match are read from ``assets.parquet`` (DuckDB-style: row
        groups whose statistics exclude them are skipped, and one subject's assets sit in one
        row group), loaded into a catalogue in memory by the same code as the full copy, and
        searched by the same ``find``: a superset of the matches searched by the one search
        engine returns exactly its matches.
        """
        wanted = prefilter(query)
        if wanted is None:
            return None
        records = _records(self.store, [self.assets()], filters=wanted)
        catalogue = Catalogue(":memory:", lock=False)
        try:
            catalogue.upsert(records)
            return catalogue.find(query)
        finally:
            catalogue.close()

    def complete(self) -> None:
        """Build the local copy (see :func:`fetch_catalogue`); when a writer holds it or the lake
        cannot be reached, the copy there serves if this assetlake can read it."""
        try:
            fetch_catalogue(
                self.store, self.path, self.fingerprint, self.version, assets=self.assets()
            )
        except (LakeError, CatalogueBusyError):
            if not self.current:
                raise


def prefilter(query: Query) -> list[tuple[str, str, Any]] | None:
    """A pyarrow filter on ``assets.parquet`` keeping every row ``query`` can match, or None
    when it cannot be narrowed by the hot file alone: only exact subjects narrow it (the file
    is sorted by subject), and a query following sources (``derived_from``, whose chain may pass
    through other subjects' assets) or searching the documents (``text``) needs every row."""
    if query.derived_from or query.text is not None or not query.subject:
        return None
    if any(WILDCARD.search(subject) for subject in query.subject):
        return None
    return [("subject_id", "in", list(query.subject))]


def pending_fetch(lake_url: str, path: Path) -> Fetch | None:
    """What fetching ``lake_url``'s published catalogue into ``path`` involves, or None when the
    local copy serves as it is: it was indexed here, it is the published one, or the lake cannot
    be reached and this assetlake reads the copy."""
    version, meta = _local(path)
    if meta.get("origin") == "index":
        return None
    current = version == VERSION and meta.get("fields") == record_schema.SCHEMA.digest
    try:
        store = open_store(lake_url)
        data = store.get(MANIFEST)
    except LakeError:
        if not current:
            raise
        return None
    if data is None:
        if path.exists():
            return None
        raise CatalogueError(
            f"no catalogue for lake {lake_url}: run `assetlake index --lake {lake_url}`, "
            f"or ask its steward to run `assetlake index --publish`"
        )
    fingerprint = _fingerprint(data)
    if current and meta.get("published_etag") == fingerprint:
        return None
    return Fetch(store, path, fingerprint, _check_manifest(lake_url, data), current)


def fetch_catalogue(
    store: Store,
    path: Path,
    fingerprint: str,
    version: str = FORMAT_VERSION,
    *,
    assets: bytes | None = None,
) -> None:
    """Rebuild the SQLite catalogue at ``path`` from the published Parquet (``assets``: the
    ``assets.parquet`` already read), atomically: built in a temporary file, renamed over
    ``path`` only while holding its writer lock, so a file an index run is writing is never
    replaced."""
    tables = [assets if assets is not None else _required(store, ASSETS)]
    if version == FORMAT_VERSION:
        tables.append(_required(store, DOCUMENTS))
    records = _records(store, tables)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        with writer_lock(path):
            catalogue = Catalogue(tmp, lock=False)
            try:
                with catalogue.writing():
                    catalogue.upsert(records)
                    catalogue.set_meta("origin", "published")
                    catalogue.set_meta("lake", store.url)
                    catalogue.set_meta("published_etag", fingerprint)
            finally:
                catalogue.close()
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _required(store: Store, key: str) -> bytes:
    data = store.get(key)
    if data is None:
        raise CatalogueError(
            f"published catalogue of lake {store.url} has no {key}; "
            "ask its steward to run `assetlake index --publish` again"
        )
    return data


def _records(store: Store, tables: list[bytes], filters: Any = None) -> list[Record]:
    """The records of ``assets.parquet`` (with their documents when ``documents.parquet`` is
    the second table), or of its rows ``filters`` keeps."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(pa.BufferReader(tables[0]), filters=filters).to_pylist()
        if len(tables) == 2:
            _add_documents(rows, pq.read_table(pa.BufferReader(tables[1])))
        return [record_schema.SCHEMA.from_parquet(row) for row in rows]
    except (pa.ArrowException, ValueError, TypeError) as error:
        raise CatalogueError(
            f"published catalogue {store.url}/{ASSETS} is unreadable ({error}); "
            "ask its steward to run `assetlake index --publish` again"
        ) from None


def _add_documents(rows: list[dict[str, Any]], documents: Any) -> None:
    """Each row's document from ``documents.parquet``, which holds them row for row."""
    names = documents.column("name").to_pylist()
    if names != [row.get("name") for row in rows]:
        raise ValueError(f"{DOCUMENTS} does not list the assets of {ASSETS} in the same order")
    document = record_schema.SCHEMA.document
    for row, value in zip(rows, documents.column(document).to_pylist(), strict=True):
        row[document] = value


def _check_manifest(lake_url: str, data: bytes) -> str:
    """The published format, if this assetlake reads it."""
    manifest = read_document(MANIFEST, data)
    version = None if isinstance(manifest, Problem) else manifest.get("format_version")
    if version not in READS:
        raise CatalogueError(
            f"published catalogue of lake {lake_url} has format {version!r}, this assetlake reads "
            f"{' and '.join(map(repr, READS))}: upgrade assetlake or run "
            f"`assetlake index --lake {lake_url}`"
        )
    return version


def _local(path: Path) -> tuple[int | None, dict[str, str]]:
    """The local catalogue's version and meta values, read without opening it as a
    :class:`Catalogue` (which refuses other versions), so an outdated fetched copy is replaced."""
    if not path.exists():
        return None, {}
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            meta = dict(db.execute("SELECT key, value FROM meta"))
        finally:
            db.close()
    except sqlite3.Error:
        return None, {}
    return version, meta


def _fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_row(asset: str, entry: Any) -> dict[str, Any]:
    """A ``files.parquet`` row, each value typed and bounded (entries come from the lake)."""
    entry = entry if isinstance(entry, dict) else {}
    row: dict[str, Any] = {"asset": asset}
    for column, kind in FILE_COLUMNS[1:]:
        value = entry.get(column)
        if kind == "int64":
            ok = isinstance(value, int) and not isinstance(value, bool)
            row[column] = value if ok and INT64_MIN <= value <= INT64_MAX else None
        else:
            row[column] = safe_text(value) if isinstance(value, str) else None
    return row


def _table(rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...]) -> Any:
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "list<string>": pa.list_(pa.string())}
    schema = pa.schema([(column, types[kind]) for column, kind in columns])
    return pa.Table.from_pylist(rows, schema=schema)


def _concat(tables: list[Any]) -> Any:
    import pyarrow as pa

    return pa.concat_tables(tables).combine_chunks()


def _parquet(table: Any, row_group: int | None = None) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=row_group, write_statistics=True)
    return sink.getvalue().to_pybytes()
