"""What the lake overview shows beside the catalogue's own counts (:meth:`Catalogue.counts`)."""

from __future__ import annotations


def populate_jobs() -> list[dict[str, str]] | None:
    """Pending and failed ``populate`` jobs; None until pipelines expose their jobs to readers."""
    return None
