"""The agent's durable journal: one SQLite row per session it has seen, updated in transactions.

The journal is what lets the agent survive a reboot or ``kill -9``: a row left in ``uploading``
is resumed on the next start (the uploader's claim makes that safe), and every state change is
one committed transaction, so a kill at any moment leaves the previous state or the next.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from assetlake.errors import UsageError


class State(StrEnum):
    QUEUED = "queued"
    WAITING_FOR_SCHEDULE = "waiting-for-schedule"
    UPLOADING = "uploading"
    COMMITTED = "committed"
    VERIFIED = "verified"
    SOURCE_DELETED = "source-deleted"
    FAILED = "failed"


#: States after which the agent has nothing more to do for a session.
FINISHED = frozenset({State.VERIFIED, State.SOURCE_DELETED, State.FAILED})
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    source TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL,
    owner TEXT,
    lease REAL NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True)
class Entry:
    """One journal row."""

    source: str
    kind: str
    name: str | None
    state: State
    attempts: int
    bytes: int
    error: str | None
    created: str
    updated: str
    owner: str | None = None
    lease: float = 0.0


def journal_folder() -> Path:
    """Where default journals live: one per drop folder, under the user's assetlake cache."""
    from assetlake.catalogue import cache_folder

    return cache_folder() / "watch"


def default_journal(drop: Path) -> Path:
    """The journal of a drop folder, named by its absolute path (so two agents on one share it)."""
    digest = hashlib.sha1(str(Path(drop).resolve()).encode()).hexdigest()[:16]
    return journal_folder() / f"{digest}.sqlite"


def me() -> str:
    """This process as a session's owner: ``host pid``."""
    return f"{socket.gethostname()} {os.getpid()}"


def free(owner: str | None, lease: float, now: float, alive: Callable[[str], bool]) -> bool:
    """Whether a session another agent owned may be taken: no owner, a lapsed lease, or an
    owner that is not running any more (``alive`` can only tell for this machine's processes)."""
    return owner is None or lease <= now or not alive(owner)


def alive(owner: str) -> bool:
    """False only for an owner on this machine whose process has ended (a ``kill -9``)."""
    host, _, pid = owner.rpartition(" ")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class Journal:
    """The SQLite journal file; every method is one transaction, safe from any thread.

    Agents sharing a journal (two on one drop folder) take a session with :meth:`take` before
    working on it and hold it by renewing a lease, so no session is worked on twice at once.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, isolation_level=None, timeout=30, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
            self._lock = threading.Lock()
        except (OSError, sqlite3.Error) as error:
            raise UsageError(
                f"journal {self.path}: cannot be opened ({error}); give a writable --journal PATH"
            ) from None

    def close(self) -> None:
        self._db.close()

    def get(self, source: str) -> Entry | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM sessions WHERE source = ?", (source,)).fetchone()
        return None if row is None else _entry(row)

    def entries(self, state: State | None = None) -> list[Entry]:
        query, values = "SELECT * FROM sessions ORDER BY created, source", ()
        if state is not None:
            query = "SELECT * FROM sessions WHERE state = ? ORDER BY created, source"
            values = (str(state),)
        with self._lock:
            rows = self._db.execute(query, values).fetchall()
        return [_entry(row) for row in rows]

    def take(self, source: str, kind: str, owner: str, until: float, now: float) -> bool:
        """Own ``source`` until ``until`` unless another live agent holds it; whether we do."""
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                "SELECT owner, lease FROM sessions WHERE source = ?", (source,)
            ).fetchone()
            if row is not None and row[0] != owner and not free(row[0], row[1], now, alive):
                return False
            self._db.execute(
                "INSERT INTO sessions (source, kind, state, created, updated, owner, lease) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(source) DO UPDATE SET owner = excluded.owner, lease = excluded.lease",
                (source, kind, str(State.QUEUED), stamp, stamp, owner, until),
            )
        return True

    def renew(self, source: str, owner: str, until: float) -> None:
        with self._lock, self._db:
            self._db.execute(
                "UPDATE sessions SET lease = ? WHERE source = ? AND owner = ?",
                (until, source, owner),
            )

    def release(self, source: str, owner: str) -> None:
        with self._lock, self._db:
            self._db.execute(
                "UPDATE sessions SET owner = NULL, lease = 0 WHERE source = ? AND owner = ?",
                (source, owner),
            )

    def record(self, source: str, kind: str, state: State, **values: Any) -> Entry:
        """Insert or update the row of ``source``: its new state plus any other columns given."""
        now = datetime.now().astimezone().isoformat(timespec="seconds")
        columns = {"kind": kind, "state": str(state), "updated": now, **values}
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{column} = excluded.{column}" for column in columns)
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                f"INSERT INTO sessions (source, created, {names}) VALUES (?, ?, {marks}) "
                f"ON CONFLICT(source) DO UPDATE SET {updates}",
                (source, now, *columns.values()),
            )
        entry = self.get(source)
        assert entry is not None
        return entry


def _entry(row: tuple[Any, ...]) -> Entry:
    source, kind, name, state, attempts, size, error, created, updated, owner, lease = row
    return Entry(
        source, kind, name, State(state), attempts, size, error, created, updated, owner, lease
    )
