"""When uploads may run: a daily window (``--schedule``) and a per-session "not before" moment.

Acquisition machines must not saturate the network while recording, so a rig can hold its uploads
to the night. A window whose end is before its start runs over midnight (``22:00-06:00``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time

from assetlake.errors import UsageError

_WINDOW = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)")


@dataclass(frozen=True)
class Window:
    """Daily upload hours, in the rig's local time."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_window(text: str) -> Window:
    """``HH:MM-HH:MM`` as a :class:`Window`; a UsageError naming the fix otherwise."""
    match = _WINDOW.fullmatch(text.strip())
    try:
        if match is None:
            raise ValueError
        h1, m1, h2, m2 = (int(group) for group in match.groups())
        window = Window(time(h1, m1), time(h2, m2))
    except ValueError:
        raise UsageError(
            f"--schedule {text!r}: not a daily window; give HH:MM-HH:MM in local time, "
            "e.g. 20:00-06:00"
        ) from None
    if window.start == window.end:
        raise UsageError(
            f"--schedule {text!r}: the window is empty; leave --schedule out to upload at any time"
        )
    return window


def in_window(window: Window | None, now: datetime) -> bool:
    """Whether uploads may run at local time ``now`` (always, without a window)."""
    if window is None:
        return True
    moment = now.time()
    if window.start < window.end:
        return window.start <= moment < window.end
    return moment >= window.start or moment < window.end


def due(not_before: datetime | None, now: datetime) -> bool:
    """Whether a session held until ``not_before`` may go (naive moments are local time)."""
    if not_before is None:
        return True
    if not_before.tzinfo is None:
        not_before = not_before.astimezone()
    return now.astimezone() >= not_before
