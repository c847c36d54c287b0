"""The compression benchmark runs, measures every codec losslessly and justifies its choice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from assetlake.formats import default_codec

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "compression.py"


def test_quick_benchmark_writes_results(tmp_path: Path) -> None:
    out = tmp_path / "compression.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text())
    assert report["signal"]["dtype"] == "int16"
    assert report["signal"]["chunk"] == [30_000, report["signal"]["channels"]]
    codecs = report["codecs"]
    measured = {name: r for name, r in codecs.items() if "compress_MBps" in r}
    assert {"blosc-zstd-5-bitshuffle", "blosc-lz4-5-bitshuffle", "zlib-1", "lzma-1"} <= set(
        measured
    )
    assert codecs["uncompressed"]["ratio"] == 1.0
    for name, r in measured.items():
        assert r["ratio_vs_zlib-1"] == round(r["ratio"] / codecs["zlib-1"]["ratio"], 3)
        if name != "uncompressed":
            assert r["ratio"] > 1.0, name
            assert r["compress_MBps"] > 0 and r["decompress_MBps"] > 0, name
    for optional in ("wavpack-lossless", "flac"):
        assert "ratio" in codecs[optional] or codecs[optional]["status"].startswith("not installed")
    chosen = codecs[report["chosen"]]
    fast_enough = [
        r["ratio"]
        for name, r in measured.items()
        if name != "uncompressed"
        and not name.startswith(("wavpack", "flac"))
        and r["compress_MBps"] >= 100
        and r["decompress_MBps"] >= 300
    ]
    assert chosen["ratio"] == max(fast_enough)
    assert report["why"].startswith(f"{report['chosen']} has the highest ratio ({chosen['ratio']}x")
    assert f"{report['chosen']}:" in run.stdout


def test_committed_results_justify_the_default_codec() -> None:
    report = json.loads((SCRIPT.parent / "results" / "compression.json").read_text())
    assert report["signal"]["channels"] == 384
    assert report["chosen"] == "blosc-zstd-5-bitshuffle"
    assert report["codecs"][report["chosen"]]["config"] == default_codec("int16").get_config()
