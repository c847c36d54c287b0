"""Crawling a lake into the local catalogue: one GET per committed asset, incremental, tolerant.

Assets are immutable, so a re-index reads only the names the catalogue does not know yet and drops
those that disappeared; an unchanged lake costs listing requests only. An assetlake asset is read
from its consolidated ``metadata.nd.json`` alone. A folder without one is listed once: a claim
means an upload in progress (never catalogued), ``data_description.json`` a foreign asset whose
sidecars are then read one by one. Nothing one asset holds (bad JSON, bad bytes, a huge file) can
stop the crawl or hide another asset: it becomes an ``invalid`` record with its problems.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from assetlake._settler import chunks
from assetlake.asset import (
    COMMIT,
    READABLE_FILES,
    Layout,
    classify,
    sidecar_key,
    sidecars_of,
    summarise_contents,
)
from assetlake.catalogue import Catalogue, Prepared, Record, Status, prepare
from assetlake.digest import is_digest
from assetlake.document import MAX_BYTES as MAX_METADATA_BYTES
from assetlake.document import read_document, too_big
from assetlake.errors import TooDeepError
from assetlake.naming import is_asset_name, parse_name
from assetlake.problems import Problem, Severity, has_errors
from assetlake.schema.fields import MAX_TEXT, record_fields
from assetlake.store import ObjectInfo, Pool, Store, open_store

#: Records are written to the catalogue in batches, so memory stays flat however big the lake.
BATCH = 500
#: Crawls reading fewer assets build their records in this process (see :func:`processes_for`).
POOL_MIN = 2_000
#: The most worker processes (the GETs and the writes stay on this process's one core).
MAX_PROCESSES = 3

VALID, INVALID, UNVERIFIED = Status.VALID, Status.INVALID, Status.UNVERIFIED


@dataclass(frozen=True)
class IndexStats:
    """What one crawl did; :meth:`line` is what ``assetlake index`` prints."""

    new: int
    removed: int
    total: int
    invalid: int
    unverified: int
    skipped: int
    seconds: float

    def line(self) -> str:
        return (
            f"indexed {self.new} new, removed {self.removed}, {self.total} total "
            f"({self.invalid} invalid, {self.unverified} unverified) in {self.seconds:.2f} s"
        )


def index_lake(
    lake: str | Store,
    catalogue: Catalogue,
    *,
    full: bool = False,
    workers: int = 32,
    max_bytes: int = MAX_METADATA_BYTES,
    processes: int | None = None,
) -> IndexStats:
    """Bring ``catalogue`` up to date with the lake; ``full`` re-reads assets already known.

    Records are built (documents read, validated) in ``processes`` worker processes, by default
    :func:`processes_for` the assets to read; 0 builds them here. The results are the same."""
    started = time.perf_counter()
    store = open_store(lake) if isinstance(lake, str) else lake
    store.check()
    catalogue.check_lake(store.url)
    listed = store.list_dirs_parallel(workers)
    known = catalogue.known_names()
    gone = sorted(known - set(listed))  # every known name is an asset name
    # Only names to read are parsed: a million of them cost 10 s, an unchanged lake none.
    todo = [name for name in listed if (full or name not in known) and is_asset_name(name)]
    if processes is None:
        processes = processes_for(len(todo))
    crawler = _Crawler(store, workers, max_bytes, processes)
    written = 0
    with catalogue.writing():  # readers see the whole crawl or none of it
        for batch in chunks(crawler.records(todo), BATCH):
            catalogue.upsert(batch)
            written += len(batch)
        if gone:
            catalogue.remove(gone)
        catalogue.set_meta("origin", "index")
        catalogue.set_meta("lake", store.url)
    counts = catalogue.status_counts()
    return IndexStats(
        new=written,
        removed=len(gone),
        total=sum(counts.values()),
        invalid=counts.get(INVALID, 0),
        unverified=counts.get(UNVERIFIED, 0),
        skipped=len(todo) - written,
        seconds=time.perf_counter() - started,
    )


@dataclass
class _Pending:
    """A folder whose consolidated document did not settle it: it needs a listing (``objects``),
    then the bytes of its sidecars (``raw``, read into ``sidecars`` by :func:`_settle_listed`)."""

    name: str
    document: dict[str, Any] | None
    problems: list[Problem] = field(default_factory=list)
    objects: dict[str, int] = field(default_factory=dict)
    sidecars: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, bytes] = field(default_factory=dict)


#: What a worker settles: ``(lake url, max bytes, name, commit document bytes)``, or
#: ``(lake url, max bytes, listed folder)``.
Job = tuple[str, int, str, bytes] | tuple[str, int, _Pending]


def _settle(url: str, max_bytes: int, name: str, data: bytes | None) -> Record | _Pending:
    """The record of a folder from its ``metadata.nd.json`` (``None``: missing), or what is
    pending: a folder to list. Pure, so worker processes can run it."""
    if data is None:
        return _Pending(name, None)
    document = read_document(COMMIT, data, max_bytes=max_bytes)
    if isinstance(document, Problem):
        return _Pending(name, None, [document])
    if not isinstance(document.get("assetlake"), dict):
        return _Pending(name, document)
    summary = document["assetlake"]
    sidecars = sidecars_of(document)
    problems = _validate(name, sidecars)
    size = _count(summary.get("size"), "assetlake.size", problems)
    objects = _count(summary.get("objects"), "assetlake.objects", problems)
    contents = _contents(summary.get("contents"), problems)
    return _record(
        url,
        name,
        sidecars,
        document,
        status=VALID if not has_errors(problems) else INVALID,
        problems=problems,
        size=size,
        objects=objects,
        contents=contents,
        digest=summary["digest"] if is_digest(summary.get("digest")) else None,
    )


def commit_problems(url: str, name: str, data: bytes) -> list[Problem]:
    """Every error the crawl would record for a committed ``data`` (a ``metadata.nd.json``):
    the uploader asks before writing, so it never commits what the catalogue calls invalid."""
    settled = _settle(url, MAX_METADATA_BYTES, name, data)
    if isinstance(settled, _Pending):
        return settled.problems or [Problem(COMMIT, "", "has no assetlake summary")]
    record = prepare(settled).record
    if record.status is not INVALID:
        return []
    found = [Problem.from_dict(p) for p in record.problems]
    return [p for p in found if p.severity is Severity.ERROR] or found


def _settle_listed(url: str, max_bytes: int, item: _Pending) -> Record:
    """The record of a listed folder (see :meth:`_Crawler._listed`) from its sidecars' bytes:
    a foreign asset, or one whose commit document was broken. Pure, like :func:`_settle`."""
    for filename in sorted(item.raw):  # the order they arrived in is chance
        document = read_document(filename, item.raw[filename], max_bytes=max_bytes)
        if isinstance(document, Problem):
            item.problems.append(document)
        else:
            item.sidecars[filename] = document
    broken = bool(item.problems)
    problems = [*item.problems, *_validate(item.name, item.sidecars)]
    document = dict(item.document or {"name": item.name})
    for filename, sidecar in item.sidecars.items():
        document.setdefault(sidecar_key(filename), sidecar)
    return _record(
        url,
        item.name,
        item.sidecars,
        document,
        status=INVALID if broken else UNVERIFIED,
        problems=problems,
        size=sum(item.objects.values()),
        objects=len(item.objects),
        contents=summarise_contents(item.objects),
    )


def _settle_job(job: Job) -> Prepared | _Pending:
    """:func:`_settle` or :func:`_settle_listed`, the record prepared for its rows (which also
    makes it cheaper to send back from a worker)."""
    item = _settle(*job) if len(job) == 4 else _settle_listed(*job)
    return prepare(item) if isinstance(item, Record) else item


def _settle_all(jobs: list[Job]) -> list[Prepared | _Pending]:
    """:func:`_settle_job` of a chunk of jobs, in a worker process."""
    return [_settle_job(job) for job in jobs]


def processes_for(count: int) -> int:
    """Worker processes to settle ``count`` answers: none for a small crawl (starting one
    costs about a second) or on one CPU, else one per CPU beyond the one doing the GETs."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 0 if count < POOL_MIN or (cpus or 1) < 2 else min((cpus or 1) - 1, MAX_PROCESSES)


class _Crawler:
    """The crawl as a stream: GETs, settling and listing overlap, each in bounded batches, so
    nothing is held for the whole lake but the names to read."""

    def __init__(self, store: Store, workers: int, max_bytes: int, processes: int) -> None:
        self.store = store
        self.workers = workers
        self.max_bytes = max_bytes
        self.processes = processes

    def records(self, names: list[str]) -> Iterator[Record | Prepared]:
        """One GET of ``metadata.nd.json`` per name; a folder without one is listed (while the
        GETs go on) and settled like the others. A commit document that settled nothing (broken,
        or not assetlake's) sends its folder to a listing here, in batches."""
        jobs = self._jobs(names)
        if self.processes:
            from assetlake._settler import Settlers

            settled = Settlers(self.processes, _settle_all, _settle_all).run(jobs)
        else:
            settled = map(_settle_job, jobs)
        unsettled: list[_Pending] = []
        for item in settled:
            if not isinstance(item, _Pending):
                yield item
                continue
            unsettled.append(item)
            if len(unsettled) >= BATCH:
                yield from self._listed_here(unsettled)
                unsettled = []
        yield from self._listed_here(unsettled)

    def _jobs(self, names: list[str]) -> Iterator[Job]:
        """Every commit document read, and every folder without one once it is listed and its
        sidecars read: a background thread does that a batch at a time, at most two batches
        ahead, and its batches join the stream as they are done."""
        url, max_bytes = self.store.url, self.max_bytes
        keys = (f"{name}/{COMMIT}" for name in names)
        missing: list[_Pending] = []
        listing: deque[Future[list[_Pending]]] = deque()
        with Pool(1, "assetlake-list") as lister:  # Ctrl-C never waits for a held listing
            try:
                for key, data in self.store.get_many(keys):
                    if data is not None:
                        yield url, max_bytes, key.removesuffix(f"/{COMMIT}"), data
                    else:
                        missing.append(_Pending(key.removesuffix(f"/{COMMIT}"), None))
                        if len(missing) >= BATCH:
                            listing.append(lister.submit(self._listed, missing))
                            missing = []
                    while listing and (listing[0].done() or len(listing) > 2):
                        yield from ((url, max_bytes, item) for item in listing.popleft().result())
                if missing:
                    listing.append(lister.submit(self._listed, missing))
                while listing:
                    yield from ((url, max_bytes, item) for item in listing.popleft().result())
            finally:
                for batch in listing:
                    batch.cancel()

    def _listed_here(self, pending: list[_Pending]) -> Iterator[Record]:
        url, max_bytes = self.store.url, self.max_bytes
        for item in self._listed(pending):
            yield _settle_listed(url, max_bytes, item)

    def _listed(self, pending: list[_Pending]) -> list[_Pending]:
        """The assets among ``pending`` (see :meth:`_is_asset`), each folder listed (one request)
        and the sidecars it has and its commit document lacks read (their bytes, in ``raw``)."""
        folders = {f"{item.name}/": item for item in pending}
        listed: set[str] = set()
        try:
            for folder, listing in self.store.list_many(folders, workers=self.workers):
                folders[folder].objects = _objects(folder, listing)
                listed.add(folder)
        except TooDeepError:  # a folder nested beyond any key's reach: one at a time, then
            for folder, item in folders.items():
                if folder not in listed:
                    item.objects = _objects(folder, _listing(self.store, item))
        assets = [item for item in pending if self._is_asset(item)]
        wanted: dict[str, _Pending] = {}
        for item in assets:
            if item.document is not None:
                item.sidecars = sidecars_of(item.document)
            for filename in READABLE_FILES:
                size = item.objects.get(filename)
                if size is None or filename in item.sidecars:
                    continue
                if size > self.max_bytes:
                    item.problems.append(too_big(filename, size, self.max_bytes))
                else:
                    wanted[f"{item.name}/{filename}"] = item
        for key, data in self.store.get_many(wanted):
            if data is not None:
                item = wanted[key]
                item.raw[key[len(item.name) + 1 :]] = data
        return assets

    @staticmethod
    def _is_asset(item: _Pending) -> bool:
        """A folder whose commit document we read (even broken), or a foreign one with sidecars;
        not an upload in progress, nor one committed since our GET (the next crawl reads it)."""
        if item.document is not None or item.problems:
            return True
        return classify(item.objects) is Layout.FOREIGN


def _objects(folder: str, listing: list[ObjectInfo]) -> dict[str, int]:
    return {info.key[len(folder) :]: info.size for info in listing}


def _listing(store: Store, item: _Pending) -> list[ObjectInfo]:
    """The folder's objects; a folder nested beyond any key's reach is its problem, not a stop."""
    try:
        return list(store.list(item.name + "/"))
    except TooDeepError as error:
        item.problems.append(Problem("", "", str(error)))
        return []


def _validate(name: str, sidecars: dict[str, Any]) -> list[Problem]:
    """Validation problems; a validator failure on odd input is one more problem, never a stop."""
    from assetlake.validate import validate_documents

    try:
        return list(validate_documents(name, sidecars).problems)
    except Exception as error:
        return [Problem("", "", f"could not be validated: {type(error).__name__}: {error}")]


def _contents(value: Any, problems: list[Problem]) -> list[dict[str, Any]]:
    """A commit summary's contents, typed as ``summarise_contents`` writes them; others dropped."""
    if not isinstance(value, list):
        return []
    return [
        {
            "path": entry["path"][:MAX_TEXT],
            "format": str(entry.get("format"))[:MAX_TEXT],
            "size": _count(entry.get("size"), f"assetlake.contents[{i}].size", problems),
            "objects": _count(entry.get("objects"), f"assetlake.contents[{i}].objects", problems),
        }
        for i, entry in enumerate(value)
        if isinstance(entry, dict) and isinstance(entry.get("path"), str)
    ]


def _count(value: Any, path: str, problems: list[Problem]) -> int:
    """A count or size from a summary: a non-negative int (the reader bounded it to int64).
    Anything else is stored as 0 with a problem, which makes the record invalid; a missing
    value (an older summary) is 0."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if value is not None:
        shown = repr(value)
        problems.append(
            Problem(
                COMMIT,
                path,
                "is not a whole number of at least 0; stored as 0: the asset's summary was not "
                "written by assetlake's uploader",
                shown[:60] + ("..." if len(shown) > 60 else ""),
            )
        )
    return 0


def _record(
    lake_url: str,
    name: str,
    sidecars: dict[str, Any],
    document: dict[str, Any],
    *,
    status: str,
    problems: list[Problem],
    size: int,
    objects: int,
    contents: list[dict[str, Any]],
    digest: str | None = None,
) -> Record:
    fields, bad_values = record_fields(parse_name(name), sidecars)
    if has_errors(bad_values):
        status = INVALID
    return Record(
        **fields,
        name=name,
        url=f"{lake_url}/{name}",
        size=size,
        objects=objects,
        schema_versions={
            filename: str(doc["schema_version"])[:MAX_TEXT]
            for filename, doc in sidecars.items()
            if doc.get("schema_version") is not None
        },
        status=status,
        problems=[p.to_dict() for p in [*problems, *bad_values]],
        metadata=document,
        contents=contents,
        digest=digest,
    )
