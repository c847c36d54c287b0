"""Publishing the catalogue into its lake as Parquet, and fetching it on a machine that has none.

The published catalogue lives under the reserved prefix ``assetlake-catalogue/``, the only place
where anything in a lake is overwritten: ``assets.parquet`` (one row per asset), ``files.parquet``
(one row per top-level entry of an asset, like IBL ONE's datasets table), ONE's own cache tables
``one/sessions.pqt`` and ``one/datasets.pqt`` (:mod:`assetlake.one.tables`) and ``catalogue.json``,
written last, so a reader that sees a new ``catalogue.json`` finds the Parquet files it describes.
DuckDB and pandas read the Parquet files directly.

``assetlake find`` calls :func:`ensure_catalogue` on every run, so this module imports only the
standard library, the catalogue and the store's base module at the top: pyarrow and boto3 load only
when a fetch is needed.
"""

from __future__ import annotations

import hashlib
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
from assetlake.catalogue.schema import safe_text
from assetlake.document import INT64_MAX, INT64_MIN, read_document
from assetlake.errors import CatalogueBusyError, CatalogueError, LakeError
from assetlake.problems import Problem
from assetlake.store import RESERVED_PREFIX, Store, open_store

FORMAT_VERSION = "1"
PREFIX = RESERVED_PREFIX
ASSETS = PREFIX + "assets.parquet"
FILES = PREFIX + "files.parquet"
MANIFEST = PREFIX + "catalogue.json"

#: ``files.parquet``: one row per top-level entry of an asset (its ``contents``).
FILE_COLUMNS = (
    ("asset", "string"),
    ("path", "string"),
    ("format", "string"),
    ("size", "int64"),
    ("objects", "int64"),
)


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
    records = list(catalogue.records())
    assets = _table([schema.to_parquet(r) for r in records], schema.parquet_columns())
    store.put(ASSETS, _parquet(assets), overwrite=True)
    files = _table(
        [_file_row(record.name, entry) for record in records for entry in record.contents],
        FILE_COLUMNS,
    )
    store.put(FILES, _parquet(files), overwrite=True)
    from assetlake.one.tables import write_tables

    write_tables(records, store, PREFIX)
    statuses: dict[str, int] = {}
    for record in records:
        statuses[record.status] = statuses.get(record.status, 0) + 1
    manifest = {
        "format_version": FORMAT_VERSION,
        "id": uuid.uuid4().hex,
        "created": datetime.now().astimezone().isoformat(timespec="seconds"),
        "lake": store.url,
        "assets": len(records),
        "files": files.num_rows,
        "status": statuses,
    }
    data = json.dumps(manifest, indent=2).encode()
    store.put(MANIFEST, data, overwrite=True)
    return PublishStats(len(records), files.num_rows, f"{store.url}/{PREFIX}")


def ensure_catalogue(lake_url: str, path: Path) -> Path:
    """The local catalogue of ``lake_url`` at ``path``, fetched from the lake when it is missing
    or older than the published one (or of another version); an indexed catalogue is used as is,
    without any request. A fetched copy is also used as is when the lake cannot be reached, so
    ``find`` keeps working offline or after the lake moved."""
    version, meta = _local(path)
    if meta.get("origin") == "index":
        return path
    current = version == VERSION and meta.get("fields") == record_schema.SCHEMA.digest
    try:
        _refresh(open_store(lake_url), lake_url, path, current, meta)
    except (LakeError, CatalogueBusyError):
        # A writer (an index run) holds the file, or the lake is unreachable: the copy we have
        # serves, if this assetlake can read it.
        if not current:
            raise
    return path


def _refresh(store: Store, lake_url: str, path: Path, current: bool, meta: dict[str, str]) -> None:
    """Fetch the published catalogue into ``path`` unless the local copy is that one already."""
    data = store.get(MANIFEST)
    if data is None:
        if path.exists():
            return
        raise CatalogueError(
            f"no catalogue for lake {lake_url}: run `assetlake index --lake {lake_url}`, "
            f"or ask its steward to run `assetlake index --publish`"
        )
    fingerprint = _fingerprint(data)
    if current and meta.get("published_etag") == fingerprint:
        return
    _check_manifest(lake_url, data)
    fetch_catalogue(store, path, fingerprint)


def fetch_catalogue(store: Store, path: Path, fingerprint: str) -> None:
    """Rebuild the SQLite catalogue at ``path`` from the published Parquet, atomically: built
    in a temporary file, renamed over ``path`` only while holding its writer lock, so a file an
    index run is writing is never replaced."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = store.get(ASSETS)
    if data is None:
        raise CatalogueError(
            f"published catalogue of lake {store.url} has no {ASSETS}; "
            "ask its steward to run `assetlake index --publish` again"
        )
    try:
        rows = pq.read_table(pa.BufferReader(data)).to_pylist()
        records = [record_schema.SCHEMA.from_parquet(row) for row in rows]
    except (pa.ArrowException, ValueError, TypeError) as error:
        raise CatalogueError(
            f"published catalogue {store.url}/{ASSETS} is unreadable ({error}); "
            "ask its steward to run `assetlake index --publish` again"
        ) from None
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


def _check_manifest(lake_url: str, data: bytes) -> None:
    manifest = read_document(MANIFEST, data)
    version = None if isinstance(manifest, Problem) else manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise CatalogueError(
            f"published catalogue of lake {lake_url} has format {version!r}, this assetlake reads "
            f"{FORMAT_VERSION!r}: upgrade assetlake or run `assetlake index --lake {lake_url}`"
        )


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


def _parquet(table: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()
