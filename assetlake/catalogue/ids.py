"""Asset row ids that sort like acquisition times, so limited searches can stop early.

An asset's id is its acquisition second shifted left plus a free slot, so id order is acquired
order (ties within a second aside): FTS5 hits and modality rows then come out already sorted and a
search can stop after ``limit`` of them (see :mod:`assetlake.catalogue.plan`). Ids from
:data:`UNORDERED` on belong to assets whose acquired text is not a time in years 1 to 9999 (UTC),
and so have no place in that order; while any exists, searches sort every match instead.
"""

from __future__ import annotations

from datetime import datetime

from assetlake.catalogue.query import parse_moment
from assetlake.errors import QueryError

SLOT_BITS = 20
SLOTS = 1 << SLOT_BITS
UNORDERED = 1 << 62
LAST_ID = (1 << 63) - 1
_EPOCH = datetime(1, 1, 1)


def second(moment: str) -> int:
    """Seconds from year 1 to a stored time, plus one so that assets with no time (0) come first."""
    elapsed = datetime.fromisoformat(moment) - _EPOCH
    return elapsed.days * 86400 + elapsed.seconds + 1


def sortable(acquired: str | None) -> tuple[str | None, int | None, str | None]:
    """The acquired time as stored, its second for the id (None: not a time), and why a text that
    reads as a time still has no second (it falls outside the calendar in UTC)."""
    if not acquired:
        return None, 0, None
    try:
        moment = parse_moment(acquired, what="acquired")
    except QueryError:
        try:
            datetime.fromisoformat(acquired.strip().replace("Z", "+00:00"))
        except ValueError:
            return acquired, None, None
        return acquired, None, "falls outside the years 1 to 9999 in UTC; not ordered by time"
    return moment, second(moment), None
