"""The index benchmark runs end to end (``--quick``) and writes a complete results file."""

from __future__ import annotations

from pathlib import Path

from benchkit import run_benchmark


def test_quick_benchmark_writes_results(tmp_path: Path) -> None:
    report = run_benchmark("index", tmp_path / "index.json", "--quick", timeout=600)
    assert (report["benchmark"], report["quick"], report["workers"]) == ("index", True, 32)
    [result] = report["results"]
    assert (result["assets"], result["indexed"], result["invalid"]) == (100, 100, 0)
    assert result["naive_sample"] == 100
    for key in ("full_index_s", "incremental_s", "floor_s", "peak_mb", "populate_s"):
        assert result[key] > 0, key
    assert result["incremental_s"] < result["full_index_s"]
    rates = result["full_assets_per_s"] / result["floor_assets_per_s"]
    assert abs(result["ratio_to_floor"] - rates) < 0.005
    assert set(result["targets_met"]) == {
        "floor_ratio",
        "naive_speedup",
        "incremental_fraction",
        "peak_mb",
    }
