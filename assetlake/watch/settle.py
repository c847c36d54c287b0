"""Whether a dropped folder or manifest is complete: a pure decision over two listings.

No fixed sleep. An entry is settled when nothing in it has changed for ``settle`` seconds,
measured by the newest change time of its files (the later of mtime and ctime: a copy tool that
back-dates mtimes still sets ctime), and, when the agent has listed it before, its listing (paths,
sizes, mtimes) is identical to the last one. The top folder's own ctime is left out, so an atomic
``mv staging/<name> drop/<name>`` of files written long ago is taken at once; a folder written in
place is taken only once its writer has been quiet for the interval. When the clock of a network
share runs ahead of ours, only our own observations count.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Snapshot:
    """What one scan saw of an entry: every file's (path, size, mtime) and the newest change."""

    files: tuple[tuple[str, int, int], ...]
    newest_change: float


@dataclass(frozen=True)
class Seen:
    """A snapshot and the moment the agent first saw the entry in exactly that state."""

    snapshot: Snapshot
    since: float


def snapshot(path: Path) -> Snapshot:
    """List ``path`` (a file, or a folder's whole tree) without reading any file's content."""
    top = os.stat(path)
    if not path.is_dir():
        return Snapshot(((path.name, top.st_size, top.st_mtime_ns),), top.st_mtime)
    files = []
    newest = top.st_mtime
    for root, dirs, names in os.walk(path):
        dirs.sort()
        for entry in (*dirs, *sorted(names)):
            full = os.path.join(root, entry)
            info = os.lstat(full)
            newest = max(newest, info.st_mtime, info.st_ctime)
            if entry in names:
                files.append((os.path.relpath(full, path), info.st_size, info.st_mtime_ns))
    return Snapshot(tuple(files), newest)


def settled(current: Snapshot, seen: Seen | None, now: float, settle: float) -> bool:
    """Whether an entry listed as ``current`` at ``now`` may be taken (``seen``: the last scan)."""
    if seen is not None and seen.snapshot != current:
        return False
    quiet = now - current.newest_change
    if quiet < 0:
        return seen is not None and now - seen.since >= settle
    return quiet >= settle


def observe(current: Snapshot, seen: Seen | None, now: float) -> Seen:
    """The observation to keep after a scan: the old one while nothing changed."""
    return seen if seen is not None and seen.snapshot == current else Seen(current, now)
