"""What every route of the site shares: the catalogue file, the lake's store, and the refresh loop.

The catalogue is opened read-only once per request, so a refresh that replaces or extends the file
is seen by the next request and never blocks a page for long. A refresh that cannot reach the lake
keeps the last catalogue and sets :attr:`Site.notice`, which every page shows. The same refresh
reads the lake's open populate jobs (:attr:`Site.jobs`) for the overview. Figures are the PNG
objects of derived assets; an asset never changes, so its listing is cached for the site's life.

Served by several worker processes, only one process refreshes (two would index into the same
file): it writes each refresh's outcome (:class:`Refreshed`) to a status file that the workers'
sites follow, so every worker shows the same notice and jobs.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetlake.errors import AssetLakeError, CatalogueError
from assetlake.naming import Level, parse_name
from assetlake.web.overview import JobsPanel, read_jobs

if TYPE_CHECKING:
    from assetlake.catalogue import Catalogue
    from assetlake.store import ObjectInfo, Store

log = logging.getLogger("assetlake.web")

#: Bounds that keep one hostile or huge asset from slowing the site: objects listed per asset,
#: figures shown per asset, bytes served per figure, asset listings kept in memory.
MAX_LISTED = 20_000
MAX_FIGURES = 24
MAX_FIGURE_BYTES = 20 << 20
MAX_CACHED_LISTINGS = 2048
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Refreshed:
    """What the last refresh left for the pages: whether one has ended yet, the notice when the
    lake could not be read, when the catalogue was last up to date, and the open populate jobs
    (None for a site without a lake)."""

    ended: bool = False
    notice: str | None = None
    at: datetime | None = None
    jobs: JobsPanel | None = None

    def to_json(self) -> str:
        at = self.at.isoformat() if self.at else None
        jobs = self.jobs.to_dict() if self.jobs else None
        return json.dumps({"ended": self.ended, "notice": self.notice, "at": at, "jobs": jobs})

    @classmethod
    def from_json(cls, text: str) -> Refreshed:
        data: dict[str, Any] = json.loads(text)
        jobs = JobsPanel.from_dict(data["jobs"]) if data["jobs"] else None
        at = datetime.fromisoformat(data["at"]) if data["at"] else None
        return cls(data["ended"], data["notice"], at, jobs)


class Site:
    """The state of one running site; ``lake`` is None when it only reads a catalogue file.
    With ``follows``, a worker's site: it never refreshes and shows what that file says."""

    def __init__(
        self,
        catalogue_path: Path,
        lake: str | None = None,
        refresh: float = 0,
        *,
        follows: Path | None = None,
    ) -> None:
        self.catalogue_path = catalogue_path
        self.lake = lake
        self.refresh_seconds = refresh
        self.follows = follows
        #: Where each refresh also writes its outcome for worker sites to follow (or None).
        self.shares: Path | None = None
        self._refreshed = Refreshed(ended=lake is None)
        self._followed: tuple[Any, ...] | None = None
        #: Set once the first refresh has ended (well or not): tests and the CLI wait on it.
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._listings: OrderedDict[str, list[ObjectInfo]] = OrderedDict()
        self._lock = threading.Lock()
        self._connections = threading.local()

    # -- what the last refresh left ---------------------------------------------------------
    @property
    def refreshed(self) -> Refreshed:
        """The last refresh's outcome: this site's own, or the one the followed file holds (read
        again only when a refresh has replaced it, so a request costs one ``stat``)."""
        if self.follows is None:
            return self._refreshed
        try:
            info = self.follows.stat()
            identity = (info.st_ino, info.st_mtime_ns, info.st_size)
            if identity != self._followed:
                self._refreshed = Refreshed.from_json(self.follows.read_text())
                self._followed = identity
        except FileNotFoundError:  # the first refresh has not ended
            pass
        return self._refreshed

    @property
    def notice(self) -> str | None:
        return self.refreshed.notice

    @property
    def jobs(self) -> JobsPanel | None:
        """The open populate jobs as the last refresh read them; None for a site without a lake."""
        return self.refreshed.jobs

    # -- the catalogue -----------------------------------------------------------------------
    @contextmanager
    def catalogue(self) -> Iterator[Catalogue]:
        """A read-only connection for one request: the serving thread's own, kept while the
        file is the same one. SQLite shows every committed write to a kept connection, and a
        refresh that replaces the file (a new inode) gets a fresh one; keeping it spares each
        request the open, the version checks and a cold page cache (a third of an API search)."""
        from assetlake.catalogue import Catalogue

        try:
            info = self.catalogue_path.stat()
        except OSError:
            info = None
        if info is None and self.lake and not self.refreshed.ended:
            raise CatalogueError(
                f"the catalogue of {self.lake} is still being read; reload in a moment"
            )
        identity = (info.st_dev, info.st_ino) if info else None
        kept = getattr(self._connections, "kept", None)
        if kept is None or kept[0] != identity or identity is None:
            if kept is not None:
                kept[1].close()
                self._connections.kept = None
            kept = (identity, Catalogue(self.catalogue_path, readonly=True))
            self._connections.kept = kept
        yield kept[1]

    def start(self) -> None:
        """Refresh now and then every ``refresh_seconds`` in a background thread."""
        if self.lake is None or self.follows is not None:
            self.ready.set()
            return
        self._thread = threading.Thread(target=self._loop, name="assetlake-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while True:
            self.refresh()
            if self.refresh_seconds <= 0 or self._stop.wait(self.refresh_seconds):
                return

    def refresh(self) -> None:
        """Bring the catalogue up to date with the lake; on failure keep it and set the notice."""
        last = self._refreshed
        try:
            self._refresh()
            jobs = read_jobs(self.store())
        except Exception as error:  # any failure: the site keeps serving what it has
            log.warning("refreshing the catalogue of %s failed: %s", self.lake, error)
            as_of = f"as of {last.at:%Y-%m-%d %H:%M} UTC" if last.at else "from the last run"
            kind = "cannot be reached" if isinstance(error, OSError) else "could not be read"
            notice = (
                f"The lake {self.lake} {kind} ({type(error).__name__}); "
                f"showing the catalogue {as_of}."
            )
            self._refreshed = Refreshed(True, notice, last.at, last.jobs)
        else:
            self._refreshed = Refreshed(True, None, datetime.now(UTC), jobs)
        finally:
            if self.shares is not None:
                self._share()
            self.ready.set()

    def _share(self) -> None:
        """Write the outcome for the workers whole: a reader sees the old file or the new."""
        assert self.shares is not None
        partial = self.shares.with_name(self.shares.name + ".partial")
        partial.write_text(self._refreshed.to_json())
        os.replace(partial, self.shares)

    def _refresh(self) -> None:
        """Index into our own catalogue, or fetch the published one when we have none of ours."""
        from assetlake.catalogue import Catalogue
        from assetlake.catalogue.publish import MANIFEST, ensure_catalogue
        from assetlake.index import index_lake

        store = self.store()
        store.check()
        origin = None
        if self.catalogue_path.is_file():
            try:
                with Catalogue(self.catalogue_path, readonly=True) as catalogue:
                    origin = catalogue.meta("origin")
            except CatalogueError:
                origin = None
        if origin != "index" and store.head(MANIFEST) is not None:
            ensure_catalogue(self.lake or "", self.catalogue_path)
            return
        with Catalogue(self.catalogue_path) as catalogue:
            index_lake(store, catalogue)

    # -- the lake ----------------------------------------------------------------------------
    def store(self) -> Store:
        from assetlake.store import open_store

        with self._lock:
            if self._store is None:
                self._store = open_store(self.lake)
            return self._store

    def figures(self, name: str) -> list[ObjectInfo]:
        """The PNG objects of derived asset ``name`` (paths relative to it), sorted; none when
        the site has no lake or the lake cannot be listed."""
        if self.lake is None or parse_name(name).level != Level.DERIVED:
            return []
        with self._lock:
            listing = self._listings.get(name)
            if listing is not None:
                self._listings.move_to_end(name)
                return listing
        try:
            listing = self._list_figures(name)
        except AssetLakeError as error:
            log.warning("listing %s failed: %s", name, error)
            return []
        with self._lock:
            self._listings[name] = listing
            while len(self._listings) > MAX_CACHED_LISTINGS:
                self._listings.popitem(last=False)
        return listing

    def _list_figures(self, name: str) -> list[ObjectInfo]:
        from assetlake.store import ObjectInfo

        found = []
        start = len(name) + 1
        for count, info in enumerate(self.store().list(name + "/")):
            if count >= MAX_LISTED:
                break
            if info.key.lower().endswith(".png") and info.size <= MAX_FIGURE_BYTES:
                found.append(ObjectInfo(info.key[start:], info.size, info.etag))
        return sorted(found, key=lambda info: info.key)[:MAX_FIGURES]

    def figure(self, name: str, path: str) -> tuple[ObjectInfo, bytes] | None:
        """A figure's listing entry and bytes, only if ``path`` is one of the asset's figures
        and holds a PNG (so no URL reaches any other object of the lake)."""
        info = next((f for f in self.figures(name) if f.key == path), None)
        if info is None:
            return None
        data = self.store().get(f"{name}/{path}")
        return (info, data) if data is not None and data.startswith(PNG_SIGNATURE) else None
