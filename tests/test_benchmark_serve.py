"""The serve benchmark runs end to end on a tiny catalogue and writes a complete report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_tiny_serve_benchmark_report(tmp_path: Path) -> None:
    out = tmp_path / "serve.json"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.serve", "--assets", "500", "--clients", "2",
         "--seconds", "0.5", "--out", out, "--cache", tmp_path],
        cwd=ROOT, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert (report["assets"], report["clients"]) == (500, 2)
    assert set(report["results"]) == {
        "api_search", "asset_page", "search_page", "api_search_floor_in_process"
    }  # fmt: skip
    for numbers in report["results"].values():
        assert numbers["requests"] >= 1
        assert 0 < numbers["p50_ms"] <= numbers["p95_ms"]
        assert numbers.get("failures", []) == []
    assert report["passed"]["no_failures"] is True
