"""populate under faults: two populates racing as two processes, a worker killed mid-job whose
lease expires, and every bad input as one line with exit 2."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_populate import commit_sessions, outputs

from assetlake.pipelines.claims import list_jobs, read_documents
from assetlake.store import open_store

TESTS = Path(__file__).resolve().parent
#: Longest wait for any one event; only a guard against a hang (a busy machine is slow, not stuck).
BOUND = 600.0


def populate_process(
    lake: str, step: str, cache: Path, gate: Path, *extra: str
) -> subprocess.Popen:
    """``assetlake populate`` in its own process (and session), as on another machine."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        "ASSETLAKE_CACHE": str(cache),
        "GATE_DIR": str(gate),
    }
    command = [sys.executable, "-c", "from assetlake.cli import main; main()", "populate", step]
    return subprocess.Popen(
        [*command, "--lake", lake, "--workers", "1", *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_until(condition, what: str, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + BOUND
    while not condition():
        dead = [p for p in processes if p.poll() is not None]
        assert not dead, f"{what}: a populate ended early: {dead[0].communicate()}"
        assert time.monotonic() < deadline, f"{what}: not within {BOUND} s"
        time.sleep(0.02)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)


def test_two_populates_racing_do_each_job_once(s3_lake: str, tmp_path: Path) -> None:
    sources = commit_sessions(s3_lake, tmp_path / "src", ["1001", "1002", "1003", "1004"])
    gate = tmp_path / "gate"
    gate.mkdir()
    racers = [
        populate_process(s3_lake, "pipeline_steps:gated", tmp_path / f"cache{i}", gate)
        for i in range(2)
    ]
    try:
        # Both have planned all four jobs and hold one claim each before any job can finish.
        wait_until(lambda: len(list(gate.glob("ran-*"))) == 2, "two claims", racers)
        (gate / "go").touch()
        results = [racer.communicate(timeout=BOUND) for racer in racers]
    finally:
        for racer in racers:
            stop(racer)
    assert [racer.returncode for racer in racers] == [0, 0], results
    done = [
        line.split()[1]
        for out, _ in results
        for line in out.splitlines()
        if line.startswith("done")
    ]
    assert sorted(done) == sources, "every job done, and done once"
    assert all("done" in out.splitlines()[-1] for out, _ in results)
    ran = sorted(p.name.rsplit("-", 1)[0] for p in gate.glob("ran-*"))
    assert ran == [f"ran-{s}" for s in sources], "no job's function ran twice"
    assert len(outputs(s3_lake, "gated")) == 4
    states = list_jobs(open_store(s3_lake), "gated")
    assert [(s.status, s.attempts) for s in states] == [("done", 1)] * 4


def test_a_killed_worker_leaves_its_claim_to_expire_and_a_later_run_completes_the_job(
    s3_lake: str, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    (source,) = commit_sessions(s3_lake, tmp_path / "src", ["1001"])
    gate = tmp_path / "gate"
    gate.mkdir()
    worker = populate_process(
        s3_lake, "pipeline_steps:hang", tmp_path / "cache1", gate, "--lease", "2"
    )
    try:
        wait_until(lambda: any(gate.glob("started-*")), "the job to start", [worker])
        store = open_store(s3_lake)
        # The running job renews its lease (every third of it) before it is killed.
        wait_until(lambda: renewed(store, "hang"), "a lease renewal", [worker])
        os.killpg(worker.pid, signal.SIGKILL)
    finally:
        stop(worker)
    store = open_store(s3_lake)
    (state,) = list_jobs(store, "hang")
    assert state.attempts == 1 and state.status in ("reserved", "expired")
    assert outputs(s3_lake, "hang") == [] and not [d for d in store.list_dirs() if "hang" in d]
    wait_until(lambda: list_jobs(store, "hang")[0].status == "expired", "the lease to expire", [])

    (gate / "release").touch()
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    monkeypatch.setenv("GATE_DIR", str(gate))
    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "cache2"))
    later = cli("populate", "pipeline_steps:hang", "--lake", s3_lake, "--workers", "1")
    assert later.code == 0, later.err
    assert f"done     {source} -> " in later.out
    (output,) = outputs(s3_lake, "hang")
    (state,) = list_jobs(store, "hang")
    assert (state.status, state.attempts, state.output) == ("done", 2, output)
    assert "attempt-0001.json" in read_documents(store, "hang", state.key)


def renewed(store, step: str) -> bool:
    (state,) = list_jobs(store, step) or [None]
    return state is not None and "attempt-0001.lease.json" in read_documents(store, step, state.key)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_lost_answer_to_a_job_claim_is_not_taken_for_another_worker(
    s3_lake: str, proxy: object, tmp_path: Path
) -> None:
    """The claim was stored but its response dropped: botocore's retry meets the job's own
    claim (412), which must count as claimed by this worker, so the job runs now, once."""
    from faults import key_endswith

    from assetlake.pipelines.populate import populate

    commit_sessions(s3_lake, tmp_path, ["100001"])
    rule = proxy.add(key_endswith("/attempt-0001.json"), "drop")  # type: ignore[attr-defined]
    result = populate("pipeline_steps:copy", s3_lake, workers=1, catalogue=tmp_path / "c.sqlite")
    assert rule.hits == 1, "the claim's answer was never dropped"
    assert [o.status for o in result.outcomes] == ["done"], result.outcomes
    assert len(outputs(s3_lake, "copy")) == 1
    (job,) = list_jobs(open_store(s3_lake))
    assert (job.status, job.attempts) == ("done", 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchstep"], "step 'nosuchstep' is not registered (registered: downsampled, figures"),
        (["nosuchmodule:step"], "module 'nosuchmodule' cannot be imported"),
        (["pipeline_steps:BOUND"], "is not a step declared with @assetlake.pipelines.step"),
        (["pipeline_steps:copy", "--where", "colour=red"], "--where: unknown filter 'colour'"),
        (["pipeline_steps:copy", "--where", "subject"], "--where 'subject': expected KEY=VALUE"),
        (["pipeline_steps:copy", "--where", "after=soon"], "'soon'"),
        (["pipeline_steps:copy", "--param", "factor=many"], "parameter factor"),
        (["pipeline_steps:copy", "--where", "level=cooked"], "level 'cooked' is not known"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    local_lake: str, tmp_path: Path, cli, args: list[str], message: str, monkeypatch
) -> None:
    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "cache"))
    commit_sessions(local_lake, tmp_path / "src", ["1001"])
    result = cli("populate", *args, "--lake", local_lake)
    assert result.code == 2, result
    assert len(result.err.splitlines()) == 1 and message in result.err, result.err
    assert outputs(local_lake, "copy") == []


def test_an_unreachable_scheduler_is_one_line_and_exit_2(
    local_lake: str, tmp_path: Path, cli, monkeypatch
) -> None:
    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "cache"))
    commit_sessions(local_lake, tmp_path / "src", ["1001"])
    address = f"tcp://127.0.0.1:{free_port()}"
    result = cli("populate", "pipeline_steps:copy", "--lake", local_lake, "--scheduler", address)
    assert result.code == 2
    assert len(result.err.splitlines()) == 1, result.err
    assert f"scheduler {address} cannot be reached" in result.err
    assert "drop --scheduler" in result.err
    assert outputs(local_lake, "copy") == [] and not list_jobs(open_store(local_lake))


def test_jobs_needs_a_reachable_lake(tmp_path: Path, cli) -> None:
    result = cli("jobs", "--lake", tmp_path / "missing")
    assert result.code != 0 and len(result.err.splitlines()) == 1 and "does not exist" in result.err


def test_a_killed_pool_worker_fails_its_jobs_and_a_later_run_completes_them(
    local_lake: str, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = commit_sessions(local_lake, tmp_path / "src", ["1001", "1002"])
    gate = tmp_path / "gate"
    gate.mkdir()
    parent = populate_process(
        local_lake,
        "pipeline_steps:hang",
        tmp_path / "cache1",
        gate,
        "--lease",
        "2",
        "--workers",
        "2",
    )
    try:
        wait_until(lambda: len(list(gate.glob("started-*"))) == 2, "both jobs to start", [parent])
        worker = int(next(gate.glob("started-*")).name.removeprefix("started-"))
        os.kill(worker, signal.SIGKILL)
        out, err = parent.communicate(timeout=BOUND)
    finally:
        stop(parent)
    assert parent.returncode == 1, err
    # The killed worker's job is "worker died"; the survivor's either dies with the broken pool
    # or ends on its own gate timeout first, whichever the pool sees first.
    assert out.count("worker died") >= 1, out
    assert "0 done, 2 failed" in out.splitlines()[-1]
    assert outputs(local_lake, "hang") == []
    store = open_store(local_lake)

    # A job whose worker was killed expires with its lease; a survivor that outlived the pool
    # ends on its gate's timeout with an error record. Neither may stay reserved.
    def lapsed() -> bool:
        statuses = [s.status for s in list_jobs(store, "hang")]
        return len(statuses) == 2 and set(statuses) <= {"expired", "error"}

    wait_until(lapsed, "leases to lapse (or the survivor to time out)", [])
    (gate / "release").touch()
    monkeypatch.setenv("GATE_DIR", str(gate))
    monkeypatch.setenv("ASSETLAKE_CACHE", str(tmp_path / "cache2"))
    later = cli(
        "populate", "pipeline_steps:hang", "--lake", local_lake, "--workers", "1", "--retry-failed"
    )
    assert later.code == 0 and "2 done, 0 failed" in later.out, later.out + later.err
    assert [(s.status, s.attempts) for s in list_jobs(store, "hang")] == [("done", 2)] * 2
    assert sorted(o.split("_hang_")[0] for o in outputs(local_lake, "hang")) == sources
