"""The README's first command: ``assetlake demo``, end to end, on a local lake and loopback S3."""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from assetlake.catalogue import Catalogue
from assetlake.naming import parse_name

STEPS = [
    "1. Rigs commit raw sessions",
    "2. Pipelines populate the lake",
    "3. Assets are immutable",
    "4. The steward indexes the lake",
    "5. Analysts find assets",
    "6. Lineage",
    "7. Open the data in place",
    "8. A rig hands sessions to its drop-folder agent",
]


def check_output(out: str) -> None:
    for step in STEPS:
        assert step in out
    committed = re.findall(r"^   \+ (\S+)", out, flags=re.MULTILINE)
    assert [parse_name(name).level.value for name in committed] == ["raw"] * 4
    populated = re.findall(r"^done +\S+ -> (\S+) in ", out, flags=re.MULTILINE)
    labels = sorted(parse_name(name).label for name in populated)
    assert labels == ["downsampled"] + ["figures"] * 4 + ["rates"] * 2 + ["spikes"] * 2 + [
        "subject-summary"
    ]
    assert "populate spikes: nothing to do (2 up to date" in out
    assert "2 jobs (2 done)" in out, "assetlake jobs lists the spikes jobs"
    assert "is already committed" in out and "assets are immutable" in out
    assert re.search(r"indexed \d+ new, removed 0, 14 total \(0 invalid, 0 unverified\)", out)
    assert re.search(r"intact: ecephys_611028_\S+ \(\d+ objects", out)
    spikes = re.findall(r"(\d+) spikes detected .*; (\d+) were injected", out)
    assert len(spikes) == 2
    for found, injected in spikes:
        assert 0.8 * int(injected) <= int(found) <= int(injected)
    assert re.search(r"\(\(36000,\), \(\d+,\), \d+\.\d+\)", out), "plain zarr read the behavior"
    handed = re.findall(
        r" verified  (?:\S+ -> )?(behavior_6110\d\d_\S+): sizes and SHA-256 match", out
    )
    assert len(handed) == 2 and out.count(" done      ") == 2


def test_demo_on_a_local_lake(cli, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    result = cli("demo", "--lake", lake)
    assert result.code == 0, result.err
    check_output(result.out)
    names = sorted(p.name for p in lake.iterdir() if p.is_dir())
    assert "assetlake-catalogue" in names and "assetlake-jobs" in names and len(names) == 18
    figures = [
        lake / n / "summary.png" for n in names if "_figures_" in n or "_subject-summary_" in n
    ]
    assert len(figures) == 5 and all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)
    assert not os.environ.get("ASSETLAKE_CACHE"), "the demo restores the environment"


def test_demo_on_loopback_s3_keeps_the_lake_up_for_other_processes(tmp_path: Path) -> None:
    """Synchronised on the demo's own lines: it is ready once it prints its exports. Waits are
    bounded only as guards against a hang, generous for a busy machine; the demo's process group
    is ended whatever happens."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ASSETLAKE_"))}
    env["ASSETLAKE_CACHE"] = str(tmp_path / "cache")
    errors = (tmp_path / "demo.err").open("w")  # a file: a full stderr pipe cannot block it
    demo = subprocess.Popen(
        [sys.executable, "-c", "from assetlake.cli import main; main()", "demo", "--keep"],
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env=env,
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(demo.stdout, lines), daemon=True)
    reader.start()
    try:
        out, exports = "", None
        while exports is None:
            line = lines.get(timeout=GUARD)
            assert line is not None, f"demo ended before its exports:\n{out}{_text(errors)}"
            out += line
            if line.startswith("  export "):
                exports = dict(item.split("=", 1) for item in shlex.split(line)[1:])
        check_output(out)
        assert re.search(r"moto S3 server on http://127\.0\.0\.1:\d+", out)
        query = subprocess.run(
            [
                sys.executable,
                "-c",
                "from assetlake.cli import main; main()",
                "find",
                "--modality",
                "SPIM",
                "--format",
                "names",
            ],
            capture_output=True,
            text=True,
            env={**env, **exports},
            timeout=GUARD,
        )
        assert query.returncode == 0, query.stderr
        names = query.stdout.split()
        assert len(names) == 3 and all(n.startswith("SPIM_620104_") for n in names)
        assert Catalogue(Path(env["ASSETLAKE_CACHE"]).glob("*.sqlite").__next__()).count() == 14
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=GUARD) == 0, _text(errors)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        reader.join(timeout=GUARD)
        errors.close()


#: Longest wait for any one event of a demo subprocess; only reached if it hangs.
GUARD = 600


def _read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _text(errors: IO[str]) -> str:
    errors.flush()
    return Path(errors.name).read_text()


def test_the_demo_module_never_imports_the_cli() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, assetlake.demo; print(sorted(m for m in sys.modules if 'assetlake.cli' in m))",
        ],
        capture_output=True,
        text=True,
        timeout=GUARD,
    )
    assert (done.returncode, done.stdout) == (0, "[]\n"), done.stderr
