"""Quantities as people read them, for every output of assetlake (the CLI, the demo, reports)."""

from __future__ import annotations


def format_size(count: int) -> str:
    """Bytes in decimal units, as S3 consoles and ``du --si`` show them: ``30.2 kB``."""
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000:
            return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"
