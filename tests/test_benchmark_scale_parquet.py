"""The published-catalogue benchmark runs end to end on a small lake: DuckDB reads the published
Parquet from the latency endpoint through the counting proxy, and ``find --lake`` answers on a
clean cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_small_run_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "scale_parquet.json"
    command = [sys.executable, "-m", "benchmarks.scale_parquet", "--assets", "3000",
               "--repeat", "1", "--runs", "1", "--latency-ms", "5", "--out", str(out)]  # fmt: skip
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        cwd=ROOT,
        timeout=300,
    )
    report = json.loads(out.read_text())
    assert (report["assets"], report["latency_ms"]) == (3000, 5.0)
    layouts = {layout["layout"]: layout for layout in report["layouts"]}
    before = layouts["before: name order, 1 row group, documents inside"]
    chosen = layouts["by subject, 16384 rows"]
    # Every layout answers the same queries with the same rows, over HTTP, counted by the proxy.
    for layout in layouts.values():
        for query in ("one_subject", "one_month"):
            assert layout[query]["rows"] == before[query]["rows"] > 0
            assert layout[query]["requests"] > 0 and layout[query]["bytes_read"] > 0
    # The documents live in their own file, so the hot file is smaller than before.
    assert chosen["file_bytes"] < before["file_bytes"]
    assert chosen["one_subject"]["bytes_read"] < before["one_subject"]["bytes_read"]
    find = report["find_lake_first_answer"]
    assert find["assets"] == 3000 and find["lines"] > 0
    # DuckDB's query of the file --publish wrote finds that subject's assets, reading part of it.
    published = report["published_one_subject"]
    assert (published["subject"], published["rows"]) == (find["subject"], find["lines"])
    assert 0 < published["bytes_read"] < published["file_bytes"]
    assert set(find["published_bytes"]) == {
        "assetlake-catalogue/assets.parquet",
        "assetlake-catalogue/documents.parquet",
        "assetlake-catalogue/files.parquet",
    }
