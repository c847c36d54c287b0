"""The upload benchmark runs end to end in its quick form and writes the report others read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "upload.py"


def test_quick_benchmark_writes_ratios(tmp_path: Path) -> None:
    out = tmp_path / "upload.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["quick"] is True and report["machine"]["cpus"]
    assert set(report["shapes"]) == {"file_64MiB", "zarr_200x64KiB"}
    for shape in report["shapes"].values():
        for contender in ("assetlake", "boto3_upload_file", "s3fs_put"):
            row = shape[contender]
            assert row["mb_per_s"] > 0 and row["peak_rss_mb"] > 0 and row["repeats"] == 1
            assert row["cpu_seconds"] > 0 and row["runs_seconds"] == [
                pytest.approx(row["seconds"], abs=0.01)
            ]
        best = max(shape[b]["mb_per_s"] for b in ("boto3_upload_file", "s3fs_put"))
        assert shape["ratio_to_best_baseline"] == round(shape["assetlake"]["mb_per_s"] / best, 2)
    assert report["shapes"]["zarr_200x64KiB"]["assetlake"]["objects"] == 201 + 6
    assert "assetlake / best baseline" in done.stdout
