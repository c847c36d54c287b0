"""The find benchmark runs end to end in quick mode and writes a complete, consistent report."""

from __future__ import annotations

from pathlib import Path

from benchkit import run_benchmark

SHAPES = {"subject", "modality_date_range", "genotype_substring", "genotype_rare", "free_text",
          "derived_from"}  # fmt: skip


def test_quick_benchmark_report(tmp_path: Path) -> None:
    out = tmp_path / "find.json"
    report = run_benchmark("find", out, "--quick", "--cache", tmp_path, timeout=600)
    assert report["quick"] is True
    assert set(report["passed"]) == {"p50", "p95", "speedup", "cli", "same_results"}
    assert report["passed"]["same_results"] is True
    (size,) = report["sizes"]
    assert size["assets"] == 10_000
    assert size["build_seconds"] > 0
    assert set(size["queries"]) == SHAPES
    for shape in size["queries"].values():
        assert shape["same_results_as_baseline"] is True
        assert shape["matches_median"] >= 1
        ours, base = shape["assetlake"], shape["baseline_parquet_pandas"]
        assert 0 < ours["p50_ms"] <= ours["p95_ms"]
        assert 0 < base["p50_ms"] <= base["p95_ms"]
        assert shape["plan"]
    assert size["cli"]["runs"] == 5
    assert size["cli"]["lines"] >= 1
