"""The populate jobs the lake overview lists beside the catalogue's own counts.

They are read from the lake's job records (:func:`assetlake.pipelines.claims.open_jobs`) by the
site's refresh, never by a request, so a lake with many jobs cannot slow a page; a page shows at
most :data:`MAX_SHOWN` of them with exact counts of all, and says when they were read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assetlake.pipelines.claims import JobState
    from assetlake.store import Store

#: Jobs listed on the page (and in ``/api/overview``); the rest are counted.
MAX_SHOWN = 100
#: Columns of the jobs table, in order.
COLUMNS = ("status", "step", "sources", "attempt", "host", "since", "detail")


@dataclass(frozen=True)
class JobsPanel:
    """Pending (reserved or lease expired) and failed jobs as the last refresh read them."""

    rows: list[dict[str, str]]
    pending: int
    failed: int
    read_at: datetime

    @property
    def hidden(self) -> int:
        return self.pending + self.failed - len(self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {"pending": self.pending, "failed": self.failed, "shown": self.rows,
                "read_at": self.read_at.isoformat(timespec="seconds")}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobsPanel:
        """The panel :meth:`to_dict` wrote (how a worker process receives it)."""
        read_at = datetime.fromisoformat(data["read_at"])
        return cls(data["shown"], data["pending"], data["failed"], read_at)


def read_jobs(store: Store) -> JobsPanel:
    """The lake's open jobs: failed first, at most :data:`MAX_SHOWN` in full."""
    from assetlake.pipelines.claims import open_jobs

    found = open_jobs(store, MAX_SHOWN)
    return JobsPanel(
        [job_row(state) for state in found.jobs],
        pending=found.total - found.failed,
        failed=found.failed,
        read_at=datetime.now(UTC).replace(microsecond=0),  # all the page and API show
    )


def job_row(state: JobState) -> dict[str, str]:
    """One job as the table's cells (the values were bounded when read from the lake)."""
    more = f" (+{len(state.sources) - 1} more)" if len(state.sources) > 1 else ""
    if state.status == "error":
        detail = state.error or "(no message)"
    elif state.status == "reserved":
        detail = f"running, pid {state.pid}, lease until {state.expires}"
    else:
        detail = f"lease expired {state.expires}; the next populate runs it again"
    cells = {
        "status": "failed" if state.status == "error" else state.status,
        "step": state.step,
        "sources": (state.sources[0] if state.sources else "?") + more,
        "attempt": str(state.attempts),
        "host": state.host or "?",
        "since": state.started or "?",
        "detail": detail,
    }
    return {column: cells[column] for column in COLUMNS}
