"""What the drop-folder agent costs over calling the uploader directly, on a loopback moto S3.

The moto server and the agent (``assetlake watch``, default settle and rescan) each run in their
own process; the agent's log lines are read from its pipe as they come, so a session's commit is
timed by the line that says so, with no polling. Sessions are small raw asset folders written well
before they are renamed in, as a rig does (``mv staging/<name> drop/<name>``).

(a) latency: the time from a session's rename into the drop folder to the agent's ``committed``
    line, minus a direct ``upload_folder`` of a twin folder (same files, another name); medians.
(b) burst: sessions renamed in at once; all committed, the agent's peak RSS, and its throughput
    against a loop of ``upload_folder`` calls in one process over twin folders.
(c) idle: the agent's CPU over a quiet interval with 10,000 finished entries in its journal.

    python benchmarks/watch.py            # 20 latency sessions, 1,000 in the burst, 60 s idle
    python benchmarks/watch.py --quick    # 3 sessions, 10 in the burst, 5 s idle
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from assetlake.store.loopback import moto_server

BUCKET = "bench-watch"
ROOT = Path(__file__).resolve().parent
ACQUIRED = datetime(2024, 3, 1, 14, 5, 9, tzinfo=ZoneInfo("America/Los_Angeles"))
#: The agent's default settle interval: sessions are written at least this long before the mv.
SETTLE = 10.0
JOURNAL_ENTRIES = 10_000
TICKS = os.sysconf("SC_CLK_TCK")


def session(parent: Path, number: int) -> Path:
    """A small valid raw asset folder (six sidecars and a 4 KiB data file) named by ``number``."""
    from assetlake.naming import AssetName
    from assetlake.schema import dump_sidecar
    from assetlake.schema.samples import raw_sidecars

    acquired = ACQUIRED + timedelta(seconds=number)
    name = AssetName.raw("ecephys", "bench", acquired)
    folder = parent / str(name)
    (folder / "ecephys").mkdir(parents=True)
    (folder / "ecephys" / "data.bin").write_bytes(number.to_bytes(8, "big") * 512)
    for filename, model in raw_sidecars(name, acquired).items():
        (folder / filename).write_text(dump_sidecar(model), encoding="utf-8")
    return folder


class Agent:
    """``assetlake watch`` in its own process, its log lines queued with the moment they came."""

    def __init__(self, drop: Path, journal: Path) -> None:
        command = [sys.executable, "-c", "from assetlake.cli import main; main()", "watch"]
        command += [str(drop), "--lake", f"s3://{BUCKET}", "--journal", str(journal)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        self.lines: list[tuple[float, str]] = []
        self._came = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("watching")

    def _read(self) -> None:
        for line in itertools.chain(self.process.stdout, [""]):  # type: ignore[arg-type]
            with self._came:
                self.lines.append((time.perf_counter(), line))
                self._came.notify_all()

    def wait_for(self, kind: str, count: int = 1, since: int = 0) -> list[float]:
        """The moments of the first ``count`` lines of that kind after line ``since``."""
        found: list[float] = []
        with self._came:
            while len(found) < count:
                while since == len(self.lines):
                    if not self._came.wait(timeout=600):
                        raise RuntimeError(f"no {kind!r} line from the agent in 10 minutes")
                moment, line = self.lines[since]
                since += 1
                word = line.split()[1:2]
                if not line:
                    raise RuntimeError(f"the agent exited with {self.process.wait()}")
                if word == ["failed"]:
                    raise RuntimeError(f"the agent failed a session: {line.strip()}")
                if word == [kind]:
                    found.append(moment)
        return found

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime

    def peak_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def direct_uploads(folders: list[Path]) -> list[float]:
    """Seconds of each ``upload_folder`` call, in one process with one store, as a script would."""
    from assetlake.store import open_store
    from assetlake.upload import upload_folder

    store = open_store(f"s3://{BUCKET}")
    times = []
    for folder in folders:
        start = time.perf_counter()
        upload_folder(folder, store)
        times.append(time.perf_counter() - start)
    return times


def settle_since(written: float) -> None:
    """Wait until sessions written at ``written`` are older than the agent's settle interval."""
    time.sleep(max(0.0, written + SETTLE + 0.5 - time.time()))


def fill_journal(journal: Path, drop: Path) -> int:
    """Finished rows up to ``JOURNAL_ENTRIES``, as months of a rig's sessions leave; how many."""
    from assetlake.watch.journal import Journal, State

    book = Journal(journal)
    try:
        have = len(book.entries())
        for number in range(have, JOURNAL_ENTRIES):
            book.record(str(drop / f"old-{number}"), "folder", State.VERIFIED, name=f"old-{number}")
        return len(book.entries())
    finally:
        book.close()


def benchmark(sessions: int, burst: int, idle: float) -> dict[str, object]:
    server = contextlib.ExitStack()
    endpoint = server.enter_context(moto_server(own_process=True))
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    from assetlake.store import open_store

    open_store(f"s3://{BUCKET}").create()
    try:
        with tempfile.TemporaryDirectory(prefix="assetlake-bench-watch-") as tmp:
            staging, twins, drop = Path(tmp, "staging"), Path(tmp, "twins"), Path(tmp, "drop")
            for folder in (staging, twins, drop):
                folder.mkdir()
            journal = Path(tmp, "journal.sqlite")
            ours = [session(staging, n) for n in range(sessions + burst)]
            theirs = [session(twins, 100_000 + n) for n in range(sessions + burst)]
            settle_since(time.time())
            agent = Agent(drop, journal)
            try:
                latencies = []
                for folder in ours[:sessions]:
                    mark, start = len(agent.lines), time.perf_counter()
                    folder.rename(drop / folder.name)
                    latencies.append(agent.wait_for("committed", since=mark)[0] - start)
                    agent.wait_for("done", since=mark)
                direct = direct_uploads(theirs[:sessions])

                mark, start = len(agent.lines), time.perf_counter()
                for folder in ours[sessions:]:
                    folder.rename(drop / folder.name)
                committed = agent.wait_for("committed", burst, mark)[-1] - start
                done = agent.wait_for("done", burst, mark)[-1] - start
                peak = agent.peak_mb()
                start = time.perf_counter()
                direct_uploads(theirs[sessions:])
                loop = time.perf_counter() - start
            finally:
                agent.stop()
            in_lake = set(open_store(f"s3://{BUCKET}").list_dirs())
            burst_in_lake = len(in_lake & {f.name for f in ours[sessions:]})
            entries = fill_journal(journal, drop)
            agent = Agent(drop, journal)
            try:
                cpu, start = agent.cpu_seconds(), time.perf_counter()
                time.sleep(idle)
                cpu, wall = agent.cpu_seconds() - cpu, time.perf_counter() - start
            finally:
                agent.stop()
    finally:
        server.close()
    added = statistics.median(latencies) - statistics.median(direct)
    return {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "server": "moto (separate process, loopback HTTP)",
            "load_average_at_start": LOAD,
            "load_average_at_end": list(os.getloadavg()),
        },
        "quick": sessions < 20,
        "latency": {
            "sessions": sessions,
            "rename_to_commit_median_s": round(statistics.median(latencies), 3),
            "direct_upload_median_s": round(statistics.median(direct), 3),
            "added_s": round(added, 3),
            "rename_to_commit_s": [round(t, 3) for t in latencies],
            "target_added_s": 1.0,
        },
        "burst": {
            "sessions": burst,
            "committed_in_lake": burst_in_lake,
            "agent_to_last_commit_s": round(committed, 2),
            "agent_to_last_done_s": round(done, 2),
            "upload_loop_s": round(loop, 2),
            "agent_sessions_per_s": round(burst / committed, 2),
            "loop_sessions_per_s": round(burst / loop, 2),
            "ratio_to_loop": round(loop / committed, 2),
            "agent_peak_rss_mb": round(peak, 1),
            "target_ratio": 0.9,
            "target_peak_mb": 200,
        },
        "idle": {
            "journal_entries": entries,
            "seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 3),
            "cpu_percent_of_one_core": round(100 * cpu / wall, 2),
            "target_percent": 1.0,
        },
    }


LOAD = list(os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 sessions, 10 in the burst, 5 s")
    parser.add_argument("--burst", type=int, help="sessions dropped at once (default 1000)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "watch.json")
    args = parser.parse_args()
    sessions, burst, idle = (3, 10, 5.0) if args.quick else (20, 1000, 60.0)
    report = benchmark(sessions, args.burst or burst, idle)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    a, b, c = report["latency"], report["burst"], report["idle"]  # type: ignore[index]
    print(f"latency: {a['added_s']} s added over a direct upload (median of {a['sessions']})")
    print(
        f"burst: {b['committed_in_lake']}/{b['sessions']} committed, {b['ratio_to_loop']}x the "
        f"upload loop, agent peak {b['agent_peak_rss_mb']} MB"
    )
    print(f"idle: {c['cpu_percent_of_one_core']}% of one core, {c['journal_entries']} entries")


if __name__ == "__main__":
    main()
