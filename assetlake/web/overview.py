"""Counts for the lake overview, by modality, project, month and status.

Assets never change, so these are cheap aggregate queries over the catalogue's indexed columns
(read-only SQL on its connection, until the catalogue offers counts itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from assetlake.catalogue import Catalogue

#: Rows shown per table; the rest are summed as "other".
TOP = 20


def counts(catalogue: Catalogue) -> dict[str, list[tuple[str, int]]]:
    """``{"modality": [(value, assets), …], "project": …, "month": …, "status": …}``."""
    db = catalogue.db
    return {
        "modality": _top(
            db.execute(
                "SELECT modality, count(*) FROM asset_modalities GROUP BY modality ORDER BY 2 DESC, 1"
            ).fetchall()
        ),
        "project": _top(
            db.execute(
                "SELECT coalesce(project, '(none)'), count(*) FROM assets GROUP BY 1 ORDER BY 2 DESC, 1"
            ).fetchall()
        ),
        "month": db.execute(
            "SELECT coalesce(substr(acquired_at, 1, 7), '(unknown)'), count(*) FROM assets "
            "GROUP BY 1 ORDER BY 1 DESC LIMIT ?",
            (TOP,),
        ).fetchall()[::-1],
        "status": db.execute(
            "SELECT status, count(*) FROM assets GROUP BY status ORDER BY 2 DESC"
        ).fetchall(),
    }


def _top(rows: list[tuple[str, int]]) -> list[tuple[str, int]]:
    if len(rows) <= TOP:
        return rows
    return [*rows[: TOP - 1], ("(other)", sum(n for _, n in rows[TOP - 1 :]))]


def populate_jobs() -> list[dict[str, str]] | None:
    """Pending and failed ``populate`` jobs; None until pipelines expose their jobs to readers."""
    return None
