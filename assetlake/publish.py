"""Publishing the catalogue into its lake as Parquet, and fetching it on a machine that has none.

The published catalogue lives under the reserved prefix ``assetlake-catalogue/``, the only place
where anything in a lake is overwritten: ``assets.parquet`` (one row per asset), ``files.parquet``
(one row per top-level entry of an asset, like IBL ONE's datasets table) and ``catalogue.json``,
written last, so a reader that sees a new ``catalogue.json`` finds the Parquet files it describes.
DuckDB and pandas read the Parquet files directly.

``assetlake find`` calls :func:`ensure_catalogue` on every run, so this module imports only the
standard library, the catalogue and the store's base module at the top: pyarrow and boto3 load only
when a fetch is needed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from assetlake.catalogue import VERSION, Catalogue, Record
from assetlake.document import read_document
from assetlake.errors import CatalogueError, LakeError
from assetlake.problems import Problem
from assetlake.store import RESERVED_PREFIX, Store, open_store

FORMAT_VERSION = "1"
PREFIX = RESERVED_PREFIX
ASSETS = PREFIX + "assets.parquet"
FILES = PREFIX + "files.parquet"
MANIFEST = PREFIX + "catalogue.json"

#: How record fields are stored in ``assets.parquet``; any other field is a string column.
LIST_COLUMNS = ("modalities", "investigators")
INT_COLUMNS = ("size", "objects")
#: JSON columns, with the field's empty value for a row that lacks one (an older catalogue).
JSON_COLUMNS: dict[str, type] = {
    "schema_versions": dict,
    "problems": list,
    "metadata": dict,
    "contents": list,
}
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

    def summary(self) -> str:
        return f"published {self.assets} assets ({self.files} files) to {self.url}"


def publish_catalogue(catalogue: Catalogue, lake: str | Store) -> PublishStats:
    """Write the catalogue's Parquet files, then ``catalogue.json``, into the lake."""
    store = open_store(lake) if isinstance(lake, str) else lake
    records = list(catalogue.records())
    store.put(ASSETS, _parquet(_assets_table(records)), overwrite=True)
    files = _table(
        [
            {"asset": record.name, **{column: entry.get(column) for column, _ in FILE_COLUMNS[1:]}}
            for record in records
            for entry in record.contents
            if isinstance(entry, dict)
        ],
        FILE_COLUMNS,
    )
    store.put(FILES, _parquet(files), overwrite=True)
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
    try:
        _refresh(open_store(lake_url), lake_url, path, version, meta)
    except LakeError:
        if version != VERSION or meta.get("origin") != "published":
            raise
    return path


def _refresh(
    store: Store, lake_url: str, path: Path, version: int | None, meta: dict[str, str]
) -> None:
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
    if version == VERSION and meta.get("published_etag") == fingerprint:
        return
    _check_manifest(lake_url, data)
    fetch_catalogue(store, path, fingerprint)


def fetch_catalogue(store: Store, path: Path, fingerprint: str) -> None:
    """Rebuild the SQLite catalogue at ``path`` from the published Parquet, atomically."""
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
        records = [_record(row) for row in rows]
    except (pa.ArrowException, ValueError, TypeError) as error:
        raise CatalogueError(
            f"published catalogue {store.url}/{ASSETS} is unreadable ({error}); "
            "ask its steward to run `assetlake index --publish` again"
        ) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        catalogue = Catalogue(tmp)
        try:
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


def asset_columns() -> tuple[tuple[str, str], ...]:
    """``assets.parquet``'s columns: the record fields, lists as list<string>, dicts as JSON."""
    return tuple(
        (
            spec.name,
            "list<string>"
            if spec.name in LIST_COLUMNS
            else "int64"
            if spec.name in INT_COLUMNS
            else "string",
        )
        for spec in dataclasses.fields(Record)
    )


def _assets_table(records: list[Record]) -> Any:
    rows = []
    for record in records:
        row = dataclasses.asdict(record)
        for column in JSON_COLUMNS:
            row[column] = json.dumps(row[column], default=str)
        rows.append(row)
    return _table(rows, asset_columns())


def _table(rows: list[dict[str, Any]], columns: tuple[tuple[str, str], ...]) -> Any:
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "list<string>": pa.list_(pa.string())}
    schema = pa.schema([(column, types[kind]) for column, kind in columns])
    return pa.Table.from_pylist(rows, schema=schema)


def _record(row: dict[str, Any]) -> Record:
    for column, empty in JSON_COLUMNS.items():
        row[column] = json.loads(row[column]) if row.get(column) is not None else empty()
    for column in LIST_COLUMNS:
        row[column] = row.get(column) or []
    for column in INT_COLUMNS:
        row[column] = row.get(column) or 0
    names = {spec.name for spec in dataclasses.fields(Record)}
    return Record(**{key: value for key, value in row.items() if key in names})


def _parquet(table: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()
