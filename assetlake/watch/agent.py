"""The drop-folder agent: turns settled sessions into committed, verified assets, one at a time.

It lists the drop folder on every file-system event (``watchdog``, on the drop folder itself only:
a recursive watch of big Zarr trees would use up the system's inotify watches) *and* every
``rescan`` seconds, and again when an entry that is settling should have settled, because events
are lost on network shares, across restarts and under load: nothing depends on having seen one. Each session goes through the one uploader (:func:`assetlake.upload.upload_folder`,
create-only and resumable), then is checked against the lake's manifest before its source is moved
to ``done/`` or, with ``delete_source``, deleted. The library never prints: every step is an
:class:`Event` given to ``on_event``.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from assetlake.asset import CLAIM, MANIFEST, Manifest
from assetlake.errors import (
    AssetExistsError,
    AssetLakeError,
    HandOverError,
    LakeError,
    MetadataError,
    UsageError,
)
from assetlake.store import Store, open_store, sha256_file
from assetlake.watch.handover import FOLDER, MANIFEST_KINDS, Session, read_manifest, stage
from assetlake.watch.journal import FINISHED, Journal, State, default_journal, me
from assetlake.watch.schedule import Window, due, in_window
from assetlake.watch.settle import Seen, observe, settled, snapshot

DONE = "done"
FAILED = "failed"
STAGING = ".assetlake-staging"
#: Verified sources on their way out with --delete-source (emptied again on start).
DELETING = ".assetlake-deleting"
#: Names in the drop folder the agent never takes: its own folders and files still being written.
_TEMPORARY = (".tmp", ".part", ".partial", ".crdownload", ".error.txt")
#: Longest wait between two attempts while the lake is unreachable.
MAX_BACKOFF = 300.0
#: How long a session stays this agent's without a renewal (renewed every third of it).
LEASE = 60.0


@dataclass(frozen=True)
class Event:
    """One line of the agent's log: what happened (``kind``) to which session, and the detail."""

    kind: str
    source: str
    name: str | None = None
    detail: str = ""


@dataclass
class Config:
    """How an agent runs; the CLI's options, checked once."""

    drop: Path
    lake: str
    journal: Path | None = None
    workers: int | None = None
    window: Window | None = None
    delete_source: bool = False
    index: bool = False
    #: Upload cap in bytes a second; None: as fast as the network goes.
    max_rate: float | None = None
    settle: float = 10.0
    rescan: float = 10.0
    #: Seconds between two progress lines of one upload.
    progress_every: float = 10.0
    read_roots: list[Path] = field(default_factory=list)


class Agent:
    """One drop folder, one lake, one journal."""

    def __init__(self, config: Config, on_event: Callable[[Event], None]) -> None:
        drop = Path(config.drop)
        if not drop.is_dir():
            raise UsageError(
                f"drop folder {drop}: does not exist or is not a folder; create it or fix the path"
            )
        self.config = config
        self.drop = drop.resolve()
        self.roots = [Path(r).resolve() for r in config.read_roots] or [self.drop.parent]
        from assetlake.watch.rate import RateLimit, metered

        self._limit = None if config.max_rate is None else RateLimit(config.max_rate)
        self._progress = _Progress()
        self.store: Store = metered(open_store(config.lake), self._sent)
        self.journal = Journal(config.journal or default_journal(self.drop))
        self.emit = on_event
        self.owner = me()
        self._seen: dict[str, Seen] = {}
        self._announced: set[str] = set()
        #: Source → when to try again after the lake was unreachable; a restart tries at once.
        self._retry_at: dict[str, float] = {}
        self._delay: dict[str, float] = {}
        self._failures: list[int] = []

    def close(self) -> None:
        self.journal.close()

    def _sent(self, count: int) -> None:
        """Called from the upload threads with each block the store sent."""
        if self._limit is not None:
            self._limit.spend(count)
        line = self._progress.add(count, time.monotonic(), self.config.progress_every)
        if line is not None:
            self.emit(line)

    def check(self) -> list[str]:
        """Problems that would stop the agent from serving, one line each (empty: ready)."""
        problems = []
        probe = self.drop / f".assetlake-check-{self.owner.replace(' ', '-')}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            problems.append(
                f"drop folder {self.drop}: is not writable ({error.strerror}); the agent moves "
                "sessions to done/ and failed/ there: fix its permissions"
            )
        problems += [
            f"read root {root}: is not a folder; fix --read-root"
            for root in self.roots
            if not root.is_dir()
        ]
        try:
            self.store.check()
        except AssetLakeError as error:
            problems.append(str(error))
        return problems

    # -- the loop ------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, once: bool = False) -> int:
        """Serve the drop folder until ``stop`` is set (or, ``once``, one pass); the exit code.

        With ``once`` the code is the worst failure's exit code (2: a rejected manifest or
        folder, 1: another failure), else 0.
        """
        self.reconcile()
        if once:
            self.step()
            return max(self._failures, default=0)
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        wake = threading.Event()

        class Wake(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                wake.set()

        observer = Observer()
        observer.schedule(Wake(), str(self.drop), recursive=False)
        observer.start()
        self.emit(Event("watching", str(self.drop), None, f"lake {self.store.url}"))
        try:
            while not stop.is_set():
                wake.clear()
                wait = self.step()
                wake.wait(min(wait, self.config.rescan))
        finally:
            observer.stop()
            observer.join()
        return 0

    def reconcile(self) -> None:
        """On start: say what resumes, and close rows whose source left the drop folder."""
        self._empty_bin()
        for entry in self.journal.entries():
            if entry.state in FINISHED:
                continue
            if Path(entry.source).exists():
                if entry.state == State.UPLOADING:
                    self.emit(Event("resuming", entry.source, entry.name, "interrupted upload"))
            else:
                self.journal.record(
                    entry.source, entry.kind, State.FAILED, error="source left the drop folder"
                )
                self.emit(Event("failed", entry.source, entry.name, "source left the drop folder"))

    def step(self, now: float | None = None) -> float:
        """One pass over the drop folder; seconds until something may become ready.

        A session that fails with an OS error (a full disk, a share gone away) is retried with
        backoff, one that fails otherwise is failed; neither stops the agent serving the others.
        """
        now = time.time() if now is None else now
        wait = self.config.rescan
        try:
            entries = self.candidates()
        except OSError as error:
            self.emit(Event("waiting", str(self.drop), None, f"cannot list it ({error})"))
            return wait
        for path, kind in entries:
            try:
                wait = min(wait, self._consider(path, kind, now))
            except OSError as error:
                wait = min(wait, self._retry(path, kind, f"{error}", now))
            except AssetLakeError as error:  # e.g. a file became unreadable while verifying
                entry = self.journal.get(str(path))
                self._fail(path, kind, entry.name if entry else None, str(error), error.exit_code)
        return max(wait, 0.05)

    def _retry(self, path: Path, kind: str, reason: str, now: float) -> float:
        """Journal a passing trouble and try the session again later, twice as late each time."""
        key = str(path)
        delay = min(self._delay.get(key, 1.0) * 2, MAX_BACKOFF)
        self._delay[key] = delay
        self._retry_at[key] = now + delay
        entry = self.journal.get(key)
        self.journal.record(key, kind, State.QUEUED, error=reason)
        self.emit(
            Event(
                "waiting", key, entry.name if entry else None, f"{reason}; retry in {delay:.0f} s"
            )
        )
        return delay

    def candidates(self) -> list[tuple[Path, str]]:
        """Entries of the drop folder that may be sessions, with their kind (folder or manifest)."""
        found = []
        for path in sorted(self.drop.iterdir()):
            name = path.name
            if name.startswith((".", "~")) or name.endswith(_TEMPORARY):
                continue
            if path.is_dir() and name not in (DONE, FAILED):
                found.append((path, FOLDER))
            elif path.is_file() and path.suffix.lower() in MANIFEST_KINDS:
                found.append((path, MANIFEST_KINDS[path.suffix.lower()]))
        return found

    # -- one session ---------------------------------------------------------------------------
    def _consider(self, path: Path, kind: str, now: float) -> float:
        key = str(path)
        if self._retry_at.get(key, 0.0) > now:
            return self._retry_at[key] - now
        try:
            current = snapshot(path)
        except FileNotFoundError:
            self._seen.pop(key, None)
            return self.config.rescan
        seen = self._seen.get(key)
        if key not in self._announced:
            self._announced.add(key)
            self.emit(Event("detected", key, None, kind))
        if not settled(current, seen, now, self.config.settle):
            if seen is None:
                self.emit(Event("settling", key, None, "waiting until it stops changing"))
            self._seen[key] = observe(current, seen, now)
            return max(self.config.settle - (now - current.newest_change), 0.05)
        self._seen.pop(key, None)
        if not self.journal.take(key, kind, self.owner, time.time() + LEASE, time.time()):
            return self.config.rescan  # another agent on this drop folder has it
        with self._holding(key):
            if not path.exists():
                return self.config.rescan  # that agent finished it meanwhile
            try:
                session = self._session(path, kind)
            except HandOverError as error:
                self._fail(path, kind, None, str(error), error.exit_code)
                return self.config.rescan
            return self._deliver(session, now)

    @contextmanager
    def _holding(self, key: str) -> Iterator[None]:
        """Keep the session's lease alive while working on it; release it however we leave."""
        done = threading.Event()

        def renew() -> None:
            while not done.wait(LEASE / 3):
                self.journal.renew(key, self.owner, time.time() + LEASE)

        renewer = threading.Thread(target=renew, name="assetlake-lease", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()
            self.journal.release(key, self.owner)

    def _session(self, path: Path, kind: str) -> Session:
        if kind == FOLDER:
            return Session(path, FOLDER, path.name)
        session = read_manifest(path, self.roots)
        self.emit(Event("validated", str(path), session.name, f"names {len(session.files)} files"))
        for warning in session.warnings:
            self.emit(Event("warning", str(path), session.name, warning))
        return session

    def _deliver(self, session: Session, now: float) -> float:
        key, kind, name = str(session.source), session.kind, session.name
        entry = self.journal.get(key)
        moment = datetime.fromtimestamp(now).astimezone()
        if not (in_window(self.config.window, moment) and due(session.not_before, moment)):
            if entry is None or entry.state != State.WAITING_FOR_SCHEDULE:
                self.journal.record(key, kind, State.WAITING_FOR_SCHEDULE, name=name)
                held = session.not_before or self.config.window
                self.emit(Event("waiting", key, name, f"for the upload schedule ({held})"))
            return self.config.rescan
        attempts = (entry.attempts if entry else 0) + 1
        self.journal.record(key, kind, State.UPLOADING, name=name, attempts=attempts, error=None)
        self.emit(Event("uploading", key, name, f"attempt {attempts}"))
        folder = session.source
        if kind != FOLDER:
            folder = stage(session, self.drop / STAGING / name)
        try:
            result = self._upload(session, folder)
        except LakeError as error:
            return self._retry(session.source, kind, f"for the lake: {error}", now)
        except AssetLakeError as error:
            self._fail(session.source, kind, name, str(error), error.exit_code)
            return self.config.rescan
        if result is not None:
            self.journal.record(key, kind, State.COMMITTED, bytes=result)
            self.emit(Event("committed", key, name, f"{result} bytes"))
        self._finish(session, folder, already=result is None)
        return self.config.rescan

    def _upload(self, session: Session, folder: Path) -> int | None:
        """Upload through the one uploader; the bytes committed, or None if already committed."""
        from assetlake.upload import upload_folder

        total = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        self._progress.start(str(session.source), session.name, total, time.monotonic())
        try:
            result = upload_folder(folder, self.store, workers=self.config.workers)
        except AssetExistsError:
            return None
        except MetadataError as error:
            first = next((str(p) for p in error.problems), "")
            raise MetadataError(f"{error} ({first})" if first else str(error)) from None
        return result.total_bytes

    def _finish(self, session: Session, folder: Path, *, already: bool) -> None:
        """Check the committed asset against the local files; then move or delete the source."""
        key, kind, name = str(session.source), session.kind, session.name
        self._delay.pop(key, None)
        problem = self._compare(name, folder)
        if problem is not None:
            reason = (
                f"asset {name} is already committed with different content: {problem}; "
                "rename the session (a new acquisition time) and drop it again"
                if already
                else f"source changed after it was uploaded: {problem}; it was not deleted"
            )
            self._fail(session.source, kind, name, reason, 1)
            return
        self.journal.record(key, kind, State.VERIFIED, error=None)
        detail = "already committed, identical" if already else "sizes and SHA-256 match"
        self.emit(Event("verified", key, name, detail))
        if self.config.index:
            self._index(key, name)
        if self.config.delete_source:
            # Out of the drop folder in one rename first, so a kill half-way through the
            # deletion never leaves a half-deleted session to be taken again.
            doomed = _move(session.source, self.drop / DELETING)
            self.journal.record(key, kind, State.SOURCE_DELETED)
            for local in session.files.values():
                local.unlink(missing_ok=True)
            self._empty_bin()
            self.emit(Event("deleted", key, name, f"source removed after verification ({doomed})"))
        else:
            moved = _move(session.source, self.drop / DONE)
            self.emit(Event("done", key, name, f"moved to {moved}"))
        if kind != FOLDER:
            shutil.rmtree(folder, ignore_errors=True)

    def _empty_bin(self) -> None:
        """Delete what a verified --delete-source session left in the deleting folder."""
        for path in sorted((self.drop / DELETING).glob("*")):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()

    def _compare(self, name: str, folder: Path) -> str | None:
        """None when the lake's manifest lists exactly the local files with their sizes and hashes."""
        data = self.store.get(f"{name}/{MANIFEST}")
        try:
            manifest = Manifest.from_bytes(data or b"")
        except ValueError:
            return f"its {MANIFEST} is missing or unreadable"
        stored = {e.path: (e.size, e.sha256) for e in manifest.objects if e.path != CLAIM}
        local = {}
        for path, file in _local_files(folder).items():
            local[path] = (file.stat().st_size, sha256_file(file))
        for path in sorted(set(stored) | set(local)):
            if stored.get(path) != local.get(path):
                return f"{path} differs (lake {stored.get(path)}, local {local.get(path)})"
        return None

    def _index(self, key: str, name: str) -> None:
        from assetlake.catalogue import Catalogue, default_catalogue_path
        from assetlake.catalogue.publish import MANIFEST as PUBLISHED
        from assetlake.catalogue.publish import publish_catalogue
        from assetlake.index import index_lake

        # The session is committed and verified whatever happens here: a catalogue another
        # process is writing (a user's `assetlake index`) or a failed crawl is reported, never
        # taken for a failed session.
        try:
            with Catalogue(default_catalogue_path(self.store.url)) as catalogue:
                detail = index_lake(self.store, catalogue).line()
                if self.store.head(PUBLISHED) is not None:
                    detail += "; " + publish_catalogue(catalogue, self.store).line()
        except AssetLakeError as error:
            detail = f"index failed ({error}); run 'assetlake index' by hand"
        self.emit(Event("indexed", key, name, detail))

    def _fail(self, source: Path, kind: str, name: str | None, reason: str, code: int) -> None:
        """A failure that retrying cannot fix: journal it, move the source to failed/ with why."""
        key = str(source)
        self.journal.record(key, kind, State.FAILED, name=name, error=reason)
        self._failures.append(code if code == 2 else 1)
        where = ""
        if source.exists():
            moved = _move(source, self.drop / FAILED)
            moved.with_name(moved.name + ".error.txt").write_text(reason + "\n", encoding="utf-8")
            where = f" (moved to {moved})"
        self.emit(Event("failed", key, name, reason + where))


class _Progress:
    """Bytes sent for the session being uploaded, as an occasional ``progress`` event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.start("", None, 0, 0.0)

    def start(self, source: str, name: str | None, total: int, now: float) -> None:
        with self._lock:
            self._source, self._name, self._total = source, name, total
            self._sent, self._last = 0, now

    def add(self, count: int, now: float, every: float) -> Event | None:
        with self._lock:
            self._sent += count
            if now - self._last < every:
                return None
            self._last = now
            share = 100 * self._sent / self._total if self._total else 100.0
            detail = f"{self._sent} of {self._total} bytes sent ({share:.0f}%)"
            return Event("progress", self._source, self._name, detail)


def _local_files(folder: Path) -> dict[str, Path]:
    """Asset path → local file of an asset folder (a staged one links to the rig's files)."""
    from assetlake.upload import scan_folder

    return {f.path: f.local for f in scan_folder(folder)}


def _move(source: Path, folder: Path) -> Path:
    """Move ``source`` into ``folder`` under its own name, or a numbered one if that is taken."""
    folder.mkdir(exist_ok=True)
    target = folder / source.name
    number = 1
    while target.exists() or target.with_name(target.name + ".error.txt").exists():
        target = folder / f"{source.name}.{number}"
        number += 1
    source.rename(target)
    return target
