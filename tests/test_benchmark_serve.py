"""The serve benchmark runs end to end on a tiny catalogue and writes a complete report."""

from __future__ import annotations

from pathlib import Path

from benchkit import run_benchmark


def test_tiny_serve_benchmark_report(tmp_path: Path) -> None:
    out = tmp_path / "serve.json"
    args = ("--assets", "500", "--clients", "2", "--seconds", "0.5", "--cache", tmp_path)
    report = run_benchmark("serve", out, *args, timeout=600)
    assert (report["assets"], report["clients"]) == (500, 2) and report["server_workers"] >= 1
    assert set(report["results"]) == {
        "api_search", "asset_page", "search_page", "api_search_floor_in_process"
    }  # fmt: skip
    for numbers in report["results"].values():
        assert numbers["requests"] >= 1
        assert 0 < numbers["p50_ms"] <= numbers["p95_ms"]
        assert numbers.get("failures", []) == []
    assert report["passed"]["no_failures"] is True
    assert len(report["load_average_1_5_15_min"]["after"]) == 3
