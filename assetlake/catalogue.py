"""The local catalogue: one SQLite file, one row per asset, searchable in milliseconds.

Only the standard library is imported here, so ``assetlake find`` starts and answers fast. The
asset columns are declared once in :data:`COLUMNS` (IBL ONE style); everything else (side tables,
indexes, row conversion) is derived from it. The consolidated metadata document lives in its own
table so hot scans never read it, and its values are searchable through a contentless FTS5 index.

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
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from assetlake.errors import AssetNotFoundError, CatalogueError, QueryError

#: Bumped whenever the tables change; an older or newer file must be deleted and re-indexed.
VERSION = 1

#: The asset table, declared once: column -> SQLite type. JSON columns hold lists and dicts.
COLUMNS: dict[str, str] = {
    "name": "TEXT NOT NULL UNIQUE",
    "url": "TEXT NOT NULL",
    "level": "TEXT NOT NULL",
    "modalities": "JSON",
    "subject_id": "TEXT",
    "acquired": "TEXT",
    "project": "TEXT",
    "species": "TEXT COLLATE NOCASE",
    "sex": "TEXT",
    "genotype": "TEXT",
    "institution": "TEXT",
    "investigators": "JSON",
    "source": "TEXT",
    "label": "TEXT",
    "processed": "TEXT",
    "size": "INTEGER",
    "objects": "INTEGER",
    "schema_versions": "JSON",
    "status": "TEXT NOT NULL",
    "problems": "JSON",
    "contents": "JSON",
}
JSON_COLUMNS = tuple(name for name, kind in COLUMNS.items() if kind == "JSON")
_JSON_POSITIONS = tuple(i for i, name in enumerate(COLUMNS) if name in JSON_COLUMNS)
_EMPTY = {"[]": list, "{}": dict}

#: Sort keys users may give, and the index-ordered SQL each one means.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "acquired": ("a.acquired_at", "a.name"),
    "name": ("a.name",),
    "subject": ("a.subject_id", "a.acquired_at", "a.name"),
    "size": ("a.size", "a.name"),
    "processed": ("a.processed", "a.name"),
}

_SCHEMA = f"""
CREATE TABLE assets (
    id INTEGER PRIMARY KEY,
    {", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())},
    acquired_at TEXT
);
CREATE INDEX assets_acquired ON assets (acquired_at, name, level, status, genotype);
CREATE INDEX assets_subject ON assets (subject_id, acquired_at, name);
CREATE INDEX assets_project ON assets (project, acquired_at);
CREATE INDEX assets_genotype ON assets (genotype);
CREATE INDEX assets_source ON assets (source);
CREATE INDEX assets_status ON assets (status);
CREATE TABLE asset_modalities (
    asset INTEGER NOT NULL, modality TEXT NOT NULL, PRIMARY KEY (asset, modality)
) WITHOUT ROWID;
CREATE INDEX asset_modalities_modality ON asset_modalities (modality);
CREATE TABLE documents (id INTEGER PRIMARY KEY, metadata TEXT NOT NULL);
CREATE VIRTUAL TABLE documents_fts USING fts5 (text, content='', tokenize='unicode61 remove_diacritics 2');
CREATE TABLE genotypes (id INTEGER PRIMARY KEY, genotype TEXT NOT NULL UNIQUE);
CREATE VIRTUAL TABLE genotypes_fts USING fts5 (genotype, content='', tokenize='trigram');
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
PRAGMA user_version = {VERSION};
"""

_BATCH = 5000
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
    """Where the local catalogue of a lake lives: one file per lake URL in the user's cache."""
    folder = os.environ.get("ASSETLAKE_CACHE")
    if not folder:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = str(Path(cache) / "assetlake")
    digest = hashlib.sha1(lake_url.encode()).hexdigest()[:16]
    return Path(folder).expanduser() / f"{digest}.sqlite"


def flatten_text(name: str, metadata: Any) -> str:
    """Every scalar value of the metadata as text, one per line: what free-text search sees."""
    values = [name]
    stack = [metadata]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, str):
            if item:
                values.append(item)
        elif item is not None and not isinstance(item, bool):
            values.append(str(item))
    return "\n".join(values)


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


def _sortable(acquired: str | None) -> str | None:
    if not acquired:
        return None
    try:
        return parse_moment(acquired)
    except QueryError:
        return acquired


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
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0 and not readonly:
                tables = self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if tables == 0:
                    with self.db:
                        self.db.executescript(_SCHEMA)
                    version = VERSION
        except sqlite3.DatabaseError as error:
            raise CatalogueError(
                f"catalogue {self.path} cannot be read ({error}); delete it and run 'assetlake index'"
            ) from None
        if version != VERSION:
            self.db.close()
            raise CatalogueError(
                f"catalogue {self.path} has version {version}, this assetlake reads version "
                f"{VERSION}; delete the file and run 'assetlake index' again"
            )

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------------------

    def upsert(self, records: Iterable[Record]) -> int:
        """Insert or replace records in one transaction; returns how many were written."""
        db = self.db
        db.execute("PRAGMA synchronous = OFF")
        written = 0
        try:
            with db:
                next_id = db.execute("SELECT coalesce(max(id), 0) FROM assets").fetchone()[0] + 1
                genotypes = dict(db.execute("SELECT genotype, id FROM genotypes"))
                batch: list[Record] = []
                for record in records:
                    batch.append(record)
                    if len(batch) >= _BATCH:
                        next_id = self._insert(batch, next_id, genotypes)
                        written += len(batch)
                        batch = []
                if batch:
                    next_id = self._insert(batch, next_id, genotypes)
                    written += len(batch)
                if written:
                    db.execute("PRAGMA analysis_limit = 1000")
                    db.execute("ANALYZE")
        finally:
            db.execute("PRAGMA synchronous = FULL")
        return written

    def _insert(self, batch: list[Record], next_id: int, genotypes: dict[str, int]) -> int:
        db = self.db
        unique = {r.name: r for r in batch}
        self._delete(list(unique))
        assets, documents, texts, modalities, new_genotypes = [], [], [], [], []
        for offset, record in enumerate(unique.values()):
            row_id = next_id + offset
            row = [row_id]
            for column in COLUMNS:
                value = getattr(record, column)
                row.append(_dumps(value) if column in JSON_COLUMNS else value)
            row.append(_sortable(record.acquired))
            assets.append(row)
            documents.append((row_id, _dumps(record.metadata)))
            texts.append((row_id, flatten_text(record.name, record.metadata)))
            modalities.extend((row_id, m) for m in dict.fromkeys(record.modalities))
            if record.genotype and record.genotype not in genotypes:
                genotypes[record.genotype] = max(genotypes.values(), default=0) + 1
                new_genotypes.append((genotypes[record.genotype], record.genotype))
        columns = ", ".join(("id", *COLUMNS, "acquired_at"))
        db.executemany(
            f"INSERT INTO assets ({columns}) VALUES ({_placeholders([0] * (len(COLUMNS) + 2))})",
            assets,
        )
        db.executemany("INSERT INTO documents (id, metadata) VALUES (?, ?)", documents)
        db.executemany("INSERT INTO documents_fts (rowid, text) VALUES (?, ?)", texts)
        db.executemany("INSERT INTO asset_modalities (asset, modality) VALUES (?, ?)", modalities)
        db.executemany("INSERT INTO genotypes (id, genotype) VALUES (?, ?)", new_genotypes)
        db.executemany("INSERT INTO genotypes_fts (rowid, genotype) VALUES (?, ?)", new_genotypes)
        return next_id + len(unique)

    def _delete(self, names: list[str]) -> int:
        db = self.db
        found = []
        for start in range(0, len(names), 500):
            chunk = names[start : start + 500]
            found += db.execute(
                "SELECT a.id, a.name, d.metadata FROM assets a JOIN documents d ON d.id = a.id "
                f"WHERE a.name IN ({_placeholders(chunk)})",
                chunk,
            ).fetchall()
        if not found:
            return 0
        ids = [(row_id,) for row_id, _, _ in found]
        db.executemany(
            "INSERT INTO documents_fts (documents_fts, rowid, text) VALUES ('delete', ?, ?)",
            [(row_id, flatten_text(name, json.loads(doc))) for row_id, name, doc in found],
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

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM assets").fetchone()[0]

    def known_names(self) -> set[str]:
        return {name for (name,) in self.db.execute("SELECT name FROM assets")}

    def get(self, name: str) -> Record | None:
        """The full record of one asset, metadata included, or None."""
        rows = self._select("WHERE a.name = ?", [name], full=True)
        return rows[0] if rows else None

    def records(self) -> Iterator[Record]:
        """Every record with its metadata, in name order (for publishing)."""
        cursor = self.db.execute(f"{self._columns(full=True)} ORDER BY a.name")
        for row in cursor:
            yield self._record(row, full=True)

    def _columns(self, *, full: bool) -> str:
        wanted = ", ".join(f"a.{c}" for c in COLUMNS)
        if full:
            return f"SELECT {wanted}, d.metadata FROM assets a LEFT JOIN documents d ON d.id = a.id"
        return f"SELECT {wanted} FROM assets a"

    def _select(self, where: str, params: list[Any], *, full: bool) -> list[Record]:
        rows = self.db.execute(f"{self._columns(full=full)} {where}", params).fetchall()
        return [self._record(row, full=full) for row in rows]

    @staticmethod
    def _record(row: tuple[Any, ...], *, full: bool) -> Record:
        values = list(row)
        for i in _JSON_POSITIONS:
            text = values[i]
            values[i] = _EMPTY[text]() if text in _EMPTY else json.loads(text)
        metadata: dict[str, Any] = {}
        if full:
            document = values.pop()
            metadata = json.loads(document) if document else {}
        return Record(*values[: len(COLUMNS) - 1], metadata, values[len(COLUMNS) - 1])

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
        """
        sql, params = self.query(
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
            full=full,
        )
        return [self._record(row, full=full) for row in self.db.execute(sql, params)]

    def query(
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
    ) -> tuple[str, list[Any]]:
        """The SQL and parameters :meth:`find` runs (for ``EXPLAIN QUERY PLAN``)."""
        where: list[str] = []
        params: list[Any] = []
        prefix = ""

        subjects = _as_list(subject)
        exact = [s for s in subjects if not _WILDCARD.search(s)]
        patterns = [re.sub(r"([\[\]])", r"[\1]", s) for s in subjects if _WILDCARD.search(s)]
        if subjects:
            tests = [f"a.subject_id IN ({_placeholders(exact)})"] if exact else []
            tests += ["a.subject_id GLOB ?"] * len(patterns)
            where.append("(" + " OR ".join(tests) + ")")
            params += exact + patterns
        modalities = _as_list(modality)
        if modalities:
            where.append(
                "EXISTS (SELECT 1 FROM asset_modalities m WHERE m.asset = a.id "
                f"AND m.modality IN ({_placeholders(modalities)}))"
            )
            params += modalities
        projects = _as_list(project)
        if projects:
            where.append(f"a.project IN ({_placeholders(projects)})")
            params += projects
        if after is not None:
            where.append("a.acquired_at >= ?")
            params.append(parse_moment(after, what="--after"))
        if before is not None:
            where.append("a.acquired_at < ?")
            params.append(parse_moment(before, what="--before"))
        if level is not None:
            if level not in ("raw", "derived"):
                raise QueryError(f"level {level!r} is not known; use raw or derived")
            where.append("a.level = ?")
            params.append(level)
        sources = _as_list(derived_from)
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
        if genotype is not None:
            needle = genotype.strip()
            if not needle:
                raise QueryError("genotype is empty; give part of one, e.g. 'Sst-IRES-Cre'")
            if len(needle) >= 3:
                match = (
                    "SELECT g.genotype FROM genotypes g WHERE g.id IN "
                    "(SELECT rowid FROM genotypes_fts WHERE genotypes_fts MATCH ?)"
                )
                params.append('"' + needle.replace('"', '""') + '"')
            else:
                match = "SELECT genotype FROM genotypes WHERE genotype LIKE ? ESCAPE '\\'"
                params.append("%" + re.sub(r"([%_\\])", r"\\\1", needle) + "%")
            where.append(f"a.genotype IN ({match})")
        if invalid:
            where.append("a.status = 'invalid'")
        if text is not None:
            where.append("a.id IN (SELECT rowid FROM documents_fts WHERE documents_fts MATCH ?)")
            params.append(_fts_query(text))

        descending = sort.startswith("-")
        key = sort.removeprefix("-")
        if key not in SORT_KEYS:
            raise QueryError(
                f"sort key {sort!r} is not known; use one of {', '.join(SORT_KEYS)} "
                "(prefix '-' for descending)"
            )
        direction = " DESC" if descending else ""
        order = ", ".join(column + direction for column in SORT_KEYS[key])
        sql = prefix + self._columns(full=full)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order}"
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise QueryError(f"limit {limit!r} must be a positive whole number, e.g. 100")
            sql += " LIMIT ?"
            params.append(limit)
        return sql, params

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
