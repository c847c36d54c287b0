"""The watch benchmark runs end to end in its quick form and writes the report the README reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "watch.py"


def test_quick_benchmark_writes_the_three_measurements(tmp_path: Path) -> None:
    out = tmp_path / "watch.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["quick"] is True and report["machine"]["cpus"]
    assert len(report["machine"]["load_average_at_start"]) == 3
    latency, burst, idle = report["latency"], report["burst"], report["idle"]
    assert latency["sessions"] == 3 and len(latency["rename_to_commit_s"]) == 3
    assert all(t > 0 for t in latency["rename_to_commit_s"])
    medians = latency["rename_to_commit_median_s"] - latency["direct_upload_median_s"]
    assert abs(latency["added_s"] - medians) <= 0.002  # each figure rounded on its own
    assert burst["sessions"] == 10 and burst["committed_in_lake"] == 10
    assert burst["agent_peak_rss_mb"] > 0 and burst["upload_loop_s"] > 0
    assert burst["agent_to_last_done_s"] >= burst["agent_to_last_commit_s"] > 0
    assert idle["journal_entries"] == 10_000 and idle["seconds"] >= 5
    assert 0 <= idle["cpu_percent_of_one_core"] < 100
    assert "latency:" in done.stdout and "burst: 10/10 committed" in done.stdout
