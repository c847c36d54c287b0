"""Running a benchmark end to end from its test: ``python -m benchmarks.<name> ARGS --out FILE``
from the repository root, failing with the benchmark's stderr, returning the report it wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def run_benchmark(name: str, out: Path, *args: str | Path, timeout: float) -> dict[str, Any]:
    """The JSON report ``benchmarks/<name>.py`` writes to ``out`` when run with ``args``."""
    done = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", *map(str, args), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())
