"""The README's plot and results table are regenerated from the committed benchmark results."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "plot.py"


def test_plot_and_table_come_from_the_results_files(tmp_path: Path) -> None:
    png = tmp_path / "benchmarks.png"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--png", str(png)], capture_output=True, text=True, check=True
    )
    assert png.read_bytes().startswith(b"\x89PNG") and png.stat().st_size > 20_000
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    measured = [row.split("|")[1].strip() for row in rows[1:]]
    for expected in ("upload file_1GiB", "upload zarr_2000x1MiB", "index 5,000 assets",
                     "find free_text, 1,000,000 assets", "populate to-do", "serve: API search",
                     "default codec", "upload zarr_10000x64KiB at 30 ms",
                     "verify_fast zarr_10000x64KiB", "index 100,000 assets at 30 ms",
                     "re-index of an unchanged 1,000,000-asset lake"):  # fmt: skip
        assert any(m.startswith(expected) for m in measured), expected
