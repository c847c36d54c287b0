"""The agent's durable journal: one SQLite row per session it has seen, updated in transactions.

The journal is what lets the agent survive a reboot or ``kill -9``: a row left in ``uploading``
is resumed on the next start (the uploader's claim makes that safe), and every state change is
one committed transaction, so a kill at any moment leaves the previous state or the next.
"""

from __future__ import annotations

import hashlib
import sqlite3
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
    updated TEXT NOT NULL
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


def journal_folder() -> Path:
    """Where default journals live: one per drop folder, under the user's assetlake cache."""
    from assetlake.catalogue import cache_folder

    return cache_folder() / "watch"


def default_journal(drop: Path) -> Path:
    """The journal of a drop folder, named by its absolute path (so two agents on one share it)."""
    digest = hashlib.sha1(str(Path(drop).resolve()).encode()).hexdigest()[:16]
    return journal_folder() / f"{digest}.sqlite"


class Journal:
    """The SQLite journal file; every method is one transaction."""

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
        except (OSError, sqlite3.Error) as error:
            raise UsageError(
                f"journal {self.path}: cannot be opened ({error}); give a writable --journal PATH"
            ) from None

    def close(self) -> None:
        self._db.close()

    def get(self, source: str) -> Entry | None:
        row = self._db.execute("SELECT * FROM sessions WHERE source = ?", (source,)).fetchone()
        return None if row is None else _entry(row)

    def entries(self, state: State | None = None) -> list[Entry]:
        if state is None:
            rows = self._db.execute("SELECT * FROM sessions ORDER BY created, source")
        else:
            rows = self._db.execute(
                "SELECT * FROM sessions WHERE state = ? ORDER BY created, source", (state,)
            )
        return [_entry(row) for row in rows]

    def record(self, source: str, kind: str, state: State, **values: Any) -> Entry:
        """Insert or update the row of ``source``: its new state plus any other columns given."""
        now = datetime.now().astimezone().isoformat(timespec="seconds")
        columns = {"kind": kind, "state": str(state), "updated": now, **values}
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        updates = ", ".join(f"{column} = excluded.{column}" for column in columns)
        with self._db:
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
    source, kind, name, state, attempts, size, error, created, updated = row
    return Entry(source, kind, name, State(state), attempts, size, error, created, updated)
