"""The populate benchmark runs end to end (``--quick``) and writes a complete results file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "populate.py"


def test_quick_benchmark_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "populate.json"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    report = json.loads(out.read_text())
    assert (report["benchmark"], report["quick"]) == ("populate", True)
    assert report["overhead"]["done"] == report["overhead"]["jobs"] == 20
    assert report["scaling"]["done"] == [8, 8, 8]
    assert report["todo"]["done"] == report["todo"]["due"] == 5_000
    for key in ("plain_loop_s", "populate_s"):
        assert report["overhead"][key] > 0
    assert len(report["load_average_1_5_15_min"]["after"]) == 3
    assert set(report["targets_met"]) == {
        "overhead_ratio",
        "speedup_2_workers",
        "speedup_dask",
        "todo_s",
    }
