"""ONE's two cache tables from the catalogue: the one writer of the ONE format.

ONE (``ONE-api``) runs with no server from ``sessions.pqt`` and ``datasets.pqt``. A ONE session is
a raw asset; a derived asset joins its raw root's session. Datasets are the asset's files in a
collection named after the asset (``<asset>/spikes.times.npy``), so ``rel_path`` is also the file's
key in the lake; a Zarr folder is one dataset with no hash and size 0 (ONE cannot hash a folder).
The manifest gives each file's SHA-256 (an extra ``sha256`` column); it has no MD5, so ``hash`` is
None. Assets never change, so the rows of assets already in the previous tables are reused and only
new assets' manifests are read.

pyarrow is imported inside the functions: the catalogue package loads this module on publish only.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from assetlake.asset import MANIFEST, RESERVED_FILES, Manifest
from assetlake.catalogue.record import Level, Record
from assetlake.store import Store

#: Under the published catalogue prefix.
FOLDER = "one/"
SESSIONS = "sessions.pqt"
DATASETS = "datasets.pqt"
#: ONE's dataset QC levels, in its order (one.alf.spec.QC); the tables are all NOT_SET.
QC_LEVELS = ("NOT_SET", "PASS", "WARNING", "FAIL", "CRITICAL")
#: The oldest ONE that reads these tables as written.
MIN_API_VERSION = "3.0.0"
#: ONE's session path allows ``\w`` in lab names and ``[\w.-]`` in subjects, three-digit numbers.
_NOT_LAB = re.compile(r"[^\w]+", re.ASCII)
_NOT_SUBJECT = re.compile(r"[^\w.-]+", re.ASCII)
_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_NUMBER = 999
MAX_PATH = 1024
UNKNOWN_LAB = "assetlake"


@dataclass(frozen=True)
class Dataset:
    """One row of ``datasets.pqt`` before its ids are known: a file or a Zarr folder of an asset."""

    rel_path: str
    file_size: int
    sha256: str | None


def session_id(lake_url: str, name: str) -> str:
    """A version-3 UUID of the lake and the raw asset: the same eid on every publish."""
    return str(uuid.uuid3(uuid.NAMESPACE_URL, f"{lake_url}/{name}"))


def dataset_id(lake_url: str, rel_path: str) -> str:
    return str(uuid.uuid3(uuid.NAMESPACE_URL, f"{lake_url}/{rel_path}"))


def datasets_of(name: str, manifest: Manifest) -> list[Dataset]:
    """The datasets of one asset: each file, and each Zarr folder once (hash None, size 0)."""
    files: dict[str, Dataset] = {}
    for entry in manifest.objects:
        parts = entry.path.split("/")
        if parts[0] in RESERVED_FILES or not safe_parts(entry.path):
            continue
        zarr = next((i for i, part in enumerate(parts) if part.lower().endswith(".zarr")), None)
        if zarr is not None and zarr < len(parts) - 1:
            folder = f"{name}/{'/'.join(parts[: zarr + 1])}"
            files[folder] = Dataset(folder, 0, None)
        else:
            path = f"{name}/{entry.path}"
            files[path] = Dataset(path, entry.size, entry.sha256)
    return sorted(files.values(), key=lambda d: d.rel_path)


def safe_parts(path: str) -> bool:
    """A bounded path of printable parts, none empty or dots: one ONE may join under its cache
    folder without leaving it (paths come from the bucket)."""
    return len(path) <= MAX_PATH and all(
        part not in ("", ".", "..") and part.isprintable() and "\\" not in part
        for part in path.split("/")
    )


def sessions_of(records: Iterable[Record], lake_url: str) -> tuple[list[dict[str, Any]], dict]:
    """The ``sessions`` rows (raw assets with a subject and a date) and each asset's eid (a derived
    asset's is its raw root's)."""
    by_name = {record.name: record for record in records}
    raw = [r for r in by_name.values() if r.level is Level.RAW and _day(r) and r.subject_id]
    raw.sort(key=lambda r: (_lab(r), _subject(r), _day(r), r.acquired or "", r.name))
    rows: list[dict[str, Any]] = []
    counts: dict[tuple[str, str, str | None], int] = {}
    for record in raw:
        day = (_lab(record), _subject(record), _day(record))
        counts[day] = number = counts.get(day, 0) + 1
        if number > MAX_NUMBER:
            continue
        rows.append(
            {
                "id": session_id(lake_url, record.name),
                "lab": day[0],
                "subject": day[1],
                "date": date.fromisoformat(day[2] or ""),
                "number": number,
                "task_protocol": "/".join(record.modalities),
                "projects": record.project or "",
            }
        )
    sessions = {row["id"] for row in rows}
    eids = {}
    for name in by_name:
        root = _root(name, by_name)
        eid = session_id(lake_url, root) if root else None
        if eid in sessions:
            eids[name] = eid
    return rows, eids


def _root(name: str, by_name: dict[str, Record]) -> str | None:
    """The raw asset at the start of ``name``'s ``source`` chain, if the catalogue holds it."""
    seen = set()
    while name in by_name and name not in seen:
        seen.add(name)
        record = by_name[name]
        if record.level is Level.RAW:
            return name
        name = record.source or ""
    return None


def _day(record: Record) -> str | None:
    """The acquisition date as the rig's clock saw it (the date in the asset's name)."""
    text = record.acquired or ""
    try:
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        return None


def _lab(record: Record) -> str:
    return _NOT_LAB.sub("_", record.institution or "").strip("_")[:64] or UNKNOWN_LAB


def _subject(record: Record) -> str:
    """One path part ONE accepts; dots alone (``.``, ``..``) would name another folder."""
    subject = _NOT_SUBJECT.sub("_", record.subject_id or "")[:64]
    return "_" * len(subject) if not subject.strip(".") else subject


def write_tables(
    records: Iterable[Record], store: Store, prefix: str, workers: int | None = None
) -> tuple[int, int]:
    """Write ``<prefix>one/sessions.pqt`` and ``datasets.pqt``; how many sessions and datasets."""
    sessions, eids = sessions_of(records, store.url)
    known = _previous(store, prefix + FOLDER + DATASETS)
    new = [name for name in eids if name not in known]
    keys = {f"{name}/{MANIFEST}": name for name in new}
    for key, data in store.get_many(keys, workers):
        known[keys[key]] = _manifest_datasets(keys[key], data)
    rows = [
        {
            "eid": eid,
            "id": dataset_id(store.url, dataset.rel_path),
            "rel_path": dataset.rel_path,
            "file_size": dataset.file_size,
            "hash": None,
            "exists": True,
            "qc": 0,
            "default_revision": True,
            "sha256": dataset.sha256,
        }
        for name, eid in sorted(eids.items())
        for dataset in known.get(name, [])
    ]
    store.put(prefix + FOLDER + SESSIONS, _parquet(_sessions_table(sessions)), overwrite=True)
    store.put(prefix + FOLDER + DATASETS, _parquet(_datasets_table(rows)), overwrite=True)
    return len(sessions), len(rows)


def _manifest_datasets(name: str, data: bytes | None) -> list[Dataset]:
    """An asset without a readable manifest (a foreign one) has nothing LakeOne could verify,
    so it lists no datasets."""
    if data is None:
        return []
    try:
        return datasets_of(name, Manifest.from_bytes(data))
    except ValueError:
        return []


def _previous(store: Store, key: str) -> dict[str, list[Dataset]]:
    """The datasets of every asset in the previously published table (assets never change)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    data = store.get(key)
    if data is None:
        return {}
    try:
        table = pq.read_table(pa.BufferReader(data), columns=["rel_path", "file_size", "sha256"])
        rows = table.to_pylist()
    except (pa.ArrowException, ValueError, KeyError):
        return {}
    known: dict[str, list[Dataset]] = {}
    unsound: set[str] = set()
    for row in rows:
        path, size, sha256 = row.get("rel_path"), row.get("file_size"), row.get("sha256")
        if not isinstance(path, str) or "/" not in path:
            continue  # no asset to charge it to: it is simply not carried over
        asset = path.split("/", 1)[0]
        if safe_parts(path) and _bounded(size):
            digest = sha256 if isinstance(sha256, str) and _SHA256.fullmatch(sha256) else None
            known.setdefault(asset, []).append(Dataset(path, size, digest))
        else:
            unsound.add(asset)
    # An asset with any unsound row is read again from its manifest.
    return {asset: rows for asset, rows in known.items() if asset not in unsound}


def _bounded(size: Any) -> bool:
    """A file size the ``file_size`` column (uint64) and ONE's pandas (int64) can both hold."""
    return isinstance(size, int) and not isinstance(size, bool) and 0 <= size < 2**63


def _metadata() -> dict[bytes, bytes]:
    """ONE skips a table without ``one_metadata`` and its ``date_created``; iblutil writes it."""
    meta = {
        "date_created": datetime.now().isoformat(sep=" ", timespec="minutes"),
        "origin": "assetlake",
        "min_api_version": MIN_API_VERSION,
    }
    return {b"one_metadata": json.dumps(meta).encode()}


def _sessions_table(rows: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    schema = pa.schema(
        [
            ("id", pa.string()),
            ("lab", pa.string()),
            ("subject", pa.string()),
            ("date", pa.date32()),
            ("number", pa.uint16()),
            ("task_protocol", pa.string()),
            ("projects", pa.string()),
        ],
        metadata=_metadata(),
    )
    return pa.Table.from_pylist(rows, schema=schema)


def _datasets_table(rows: list[dict[str, Any]]) -> Any:
    import pyarrow as pa

    qc = pa.dictionary(pa.int8(), pa.string(), ordered=True)
    schema = pa.schema(
        [
            ("eid", pa.string()),
            ("id", pa.string()),
            ("rel_path", pa.string()),
            ("file_size", pa.uint64()),
            # pandas reads a null string as NaN, which ONE takes for an MD5 to check; manifests
            # hold no MD5, so the column is all nulls, which read as None.
            ("hash", pa.null()),
            ("exists", pa.bool_()),
            ("qc", qc),
            ("default_revision", pa.bool_()),
            ("sha256", pa.string()),
        ],
        metadata=_metadata(),
    )
    columns = {name: [row[name] for row in rows] for name in schema.names}
    arrays = [
        pa.DictionaryArray.from_arrays(
            pa.array(columns["qc"], pa.int8()), pa.array(QC_LEVELS), ordered=True
        )
        if name == "qc"
        else pa.array(columns[name], schema.field(name).type)
        for name in schema.names
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _parquet(table: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()
