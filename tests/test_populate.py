"""``populate`` on both backends: each source once, versions and parameters re-run, multi-source
outputs, error records and --retry-failed, the Dask engine, and the ``steps`` and ``jobs`` commands."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from factories import ACQUIRED, make_raw_asset

from assetlake.catalogue import Catalogue, default_catalogue_path
from assetlake.index import index_lake
from assetlake.naming import parse_name
from assetlake.pipelines.claims import list_jobs
from assetlake.pipelines.populate import populate
from assetlake.store import JOBS_PREFIX, Store, open_store
from assetlake.upload import upload_folder

pytestmark = pytest.mark.usefixtures("own_cache")


def commit_sessions(lake: str, parent: Path, subjects: list[str], start: int = 0) -> list[str]:
    names = []
    for hour, subject in enumerate(subjects, start):
        folder = make_raw_asset(
            parent, subject_id=subject, acquired=ACQUIRED + timedelta(hours=hour)
        )
        names.append(upload_folder(folder, lake).name)
    return names


def outputs(lake: str, label: str) -> list[str]:
    return sorted(
        n for n in open_store(lake).list_dirs() if "_" in n and parse_name(n).label == label
    )


def sidecar(lake: str, name: str, filename: str) -> dict:
    return json.loads(open_store(lake).get(f"{name}/{filename}"))


def test_each_source_once_and_a_new_version_or_parameters_run_again(
    lake: str, tmp_path: Path
) -> None:
    sources = commit_sessions(lake, tmp_path / "src", ["1001", "1002"])
    first = populate("pipeline_steps:copy", lake, workers=1)
    assert [o.status for o in first.outcomes] == ["done", "done"]
    assert sorted(o.sources[0] for o in first.outcomes) == sources
    assert len(outputs(lake, "copy")) == 2
    again = populate("pipeline_steps:copy", lake, workers=1)
    assert again.outcomes == [] and again.todo.done == 2
    assert "nothing to do (2 up to date" in again.summary()

    newer = populate("pipeline_steps:copy_v2", lake, workers=1)
    assert [o.status for o in newer.outcomes] == ["done", "done"]
    scaled = populate("pipeline_steps:copy", lake, workers=1, parameters={"factor": 3})
    assert [o.status for o in scaled.outcomes] == ["done", "done"]
    assert populate("pipeline_steps:copy", lake, workers=1, parameters={"factor": 3}).outcomes == []
    assert len(outputs(lake, "copy")) == 6

    output = scaled.outcomes[0].output
    process = sidecar(lake, output, "processing.json")["processing_pipeline"]["data_processes"][0]
    assert process["name"] == "copy" and process["software_version"] == "1.0.0"
    assert process["parameters"] == {"factor": 3}
    assert process["code_url"] == "pipeline_steps:copy"
    assert "code pipeline_steps:copy" in process["notes"]
    assert process["outputs"] == {"sum": 3 * scaled.outcomes[0].outputs["sum"] // 3}
    assert process["input_location"] == f"{open_store(lake).url}/{scaled.outcomes[0].sources[0]}"
    assert (
        sidecar(lake, output, "data_description.json")["source_data"] == scaled.outcomes[0].sources
    )


def test_a_multi_source_step_records_every_source(lake: str, tmp_path: Path) -> None:
    a1, b1, a2 = commit_sessions(lake, tmp_path / "src", ["1001", "1002", "1001"])
    result = populate("pipeline_steps:pooled", lake, workers=1)
    by_first = {o.sources[0]: o for o in result.outcomes}
    assert sorted(by_first) == [a1, b1]
    pooled = by_first[a1]
    assert pooled.sources == [a1, a2] and pooled.outputs["sessions"] == 2
    assert parse_name(pooled.output).source == parse_name(a1), "named after the first source"
    description = sidecar(lake, pooled.output, "data_description.json")
    assert description["source_data"] == [a1, a2]
    process = sidecar(lake, pooled.output, "processing.json")["processing_pipeline"][
        "data_processes"
    ][0]
    assert process["input_location"].split(", ") == [
        f"{open_store(lake).url}/{s}" for s in (a1, a2)
    ]
    # A new session of subject 1001 makes its summary due again; 1002's stays up to date.
    commit_sessions(lake, tmp_path / "more", ["1001"], start=3)
    rerun = populate("pipeline_steps:pooled", lake, workers=1)
    assert rerun.todo.done == 1 and [o.outputs["sessions"] for o in rerun.outcomes] == [3]


def test_lineage_and_derived_from_follow_every_source_of_a_pooled_output(
    lake: str, tmp_path: Path
) -> None:
    a1, _, a2 = commit_sessions(lake, tmp_path / "src", ["1001", "1002", "1001"])
    pooled = next(
        o for o in populate("pipeline_steps:pooled", lake, workers=1).outcomes if o.sources[0] == a1
    )
    catalogue = Catalogue(default_catalogue_path(lake))
    try:
        index_lake(lake, catalogue)
        record = catalogue.get(pooled.output)
        assert record is not None and record.sources == [a1, a2]
        for source in (a1, a2):
            found = [r.name for r in catalogue.find(derived_from=source)]
            assert found == [pooled.output], f"--derived-from {source} misses the pooled output"
            assert catalogue.lineage(source).descendants.find(pooled.output) is not None
        assert set(catalogue.lineage(pooled.output).ancestors) == {a1, a2}
    finally:
        catalogue.close()


def test_a_failing_step_leaves_an_error_record_and_retry_failed_runs_it(
    lake: str, tmp_path: Path, cli
) -> None:
    (source,) = commit_sessions(lake, tmp_path / "src", ["1001"])
    ok = tmp_path / "ok"
    args = ["populate", "pipeline_steps:flaky", "--lake", lake, "--param", f"unless={ok}"]
    failed = cli(*args, "--workers", "1")
    assert failed.code == 1, failed.err
    assert f"failed   {source}: RuntimeError: flaky step: {ok} is missing" in failed.out
    assert "0 done, 1 failed" in failed.out
    assert outputs(lake, "flaky") == [], "no visible output, not even a claimed name"
    assert not [d for d in open_store(lake).list_dirs() if "flaky" in d]
    (state,) = list_jobs(open_store(lake), "flaky")
    assert state.status == "error" and state.error.startswith("RuntimeError: flaky step")
    assert "Traceback" in state.traceback and state.sources == [source]
    listed = cli("jobs", "--lake", lake, "--status", "error")
    assert (
        listed.code == 0 and f"error     flaky  {state.key}  {source}  RuntimeError" in listed.out
    )

    ok.touch()
    again = cli(*args)
    assert again.code == 0 and "failed before (RuntimeError" in again.out
    assert "--retry-failed runs it again" in again.out and outputs(lake, "flaky") == []
    retried = cli(*args, "--retry-failed")
    assert retried.code == 0, retried.out + retried.err
    assert "1 done, 0 failed" in retried.out
    (output,) = outputs(lake, "flaky")
    (state,) = list_jobs(open_store(lake), "flaky")
    assert (state.status, state.attempts, state.output) == ("done", 2, output)
    assert cli("jobs", "--lake", lake, "--status", "error").out == "0 jobs\n"


def test_dry_run_and_the_local_process_pool(s3_lake: str, tmp_path: Path, cli) -> None:
    sources = commit_sessions(s3_lake, tmp_path / "src", ["1001", "1002", "1003"])
    dry = cli("populate", "pipeline_steps:copy", "--lake", s3_lake, "--dry-run", "--limit", "2")
    assert dry.code == 0
    assert [line.split()[2] for line in dry.out.splitlines()[:-1]] == sources[:2]
    assert dry.out.splitlines()[-1] == "populate copy: 2 to do, 0 up to date (dry run: nothing ran)"
    assert not list(open_store(s3_lake).list(JOBS_PREFIX)) and outputs(s3_lake, "copy") == []
    pooled = cli("populate", "pipeline_steps:copy", "--lake", s3_lake, "--workers", "2")
    assert pooled.code == 0, pooled.err
    assert (
        sorted(line.split()[1] for line in pooled.out.splitlines() if line.startswith("done"))
        == sources
    )
    assert len(outputs(s3_lake, "copy")) == 3
    jobs = cli("jobs", "--lake", s3_lake, "--step", "copy")
    assert jobs.out.splitlines()[-1] == "3 jobs (3 done)"


def test_a_pool_worker_keeps_its_native_libraries_to_one_thread(lake: str, tmp_path: Path) -> None:
    """Two workers on two cores: each worker's Blosc, OpenMP and BLAS use one thread, so they
    do not fight; a single worker (this process) keeps the libraries' own defaults."""
    import os

    commit_sessions(lake, tmp_path / "src", ["1001", "1002"])
    pooled = populate("pipeline_steps:threads", lake, workers=2)
    assert len(pooled.outcomes) == 2
    for outcome in pooled.outcomes:
        assert outcome.outputs["pid"] != os.getpid(), "run by a pool worker"
        assert outcome.outputs["blosc_threads"] is False
        assert outcome.outputs["omp"] == os.environ.get("OMP_NUM_THREADS", "1")
        assert outcome.outputs["pools"] in ([], [1])
    commit_sessions(lake, tmp_path / "more", ["1003"], start=2)
    (alone,) = populate("pipeline_steps:threads", lake, workers=1).outcomes
    assert alone.outputs["pid"] == os.getpid() and alone.outputs["blosc_threads"] is None
    assert alone.outputs["omp"] == os.environ.get("OMP_NUM_THREADS")


def test_the_dask_engine_on_a_local_cluster(lake: str, tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    commit_sessions(lake, tmp_path / "src", ["1001", "1002"])
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        result = populate("pipeline_steps:copy", lake, client=client)
    assert sorted(o.status for o in result.outcomes) == ["done", "done"]
    assert len(outputs(lake, "copy")) == 2
    assert {s.status for s in list_jobs(open_store(lake))} == {"done"}


def test_steps_lists_every_registered_step_name_first(cli) -> None:
    result = cli("steps")
    assert result.code == 0
    names = [line.split()[0] for line in result.out.splitlines()]
    assert names == ["downsampled", "figures", "rates", "spikes", "subject-summary"]
    assert re.search(
        r"^spikes +label=spikes  version=1.1.0  sources: modality=ecephys level=raw$",
        result.out,
        re.M,
    )
    assert "grouped by subject_id" in result.out
    listed = json.loads(cli("steps", "--json").out)
    assert {row["name"] for row in listed} == set(names)


def test_the_jobs_prefix_is_reserved(lake: str) -> None:
    store = open_store(lake)
    store.put(f"{JOBS_PREFIX}x/k/attempt-0001.lease.json", b"1")
    store.put(f"{JOBS_PREFIX}x/k/attempt-0001.lease.json", b"2", overwrite=True)
    assert store.get(f"{JOBS_PREFIX}x/k/attempt-0001.lease.json") == b"2"
    from assetlake.errors import UsageError
    from assetlake.naming import is_asset_name

    with pytest.raises(UsageError):
        store.put("ecephys_1_2024-01-01_00-00-00/x", b"1", overwrite=True)
    assert not is_asset_name(JOBS_PREFIX.rstrip("/"))


def test_a_worker_whose_job_was_taken_over_commits_nothing(lake: str, tmp_path: Path) -> None:
    commit_sessions(lake, tmp_path / "src", ["1001"])
    (outcome,) = populate("pipeline_steps:usurped", lake, workers=1).outcomes
    assert (outcome.status, outcome.reason) == ("skipped", "taken over by another worker")
    assert not [name for name in open_store(lake).list_dirs() if "usurped" in name]
    (state,) = list_jobs(open_store(lake), "usurped")
    assert (state.status, state.attempts, state.host) == ("expired", 2, "other")


class Counted:
    """A real store that records the name of every request made through it."""

    def __init__(self, store) -> None:
        self.store, self.calls = store, []

    def put_once(self, key: str, data: bytes) -> bool:  # its requests counted one by one
        return Store.put_once(self, key, data)  # type: ignore[arg-type]

    def __getattr__(self, name: str):
        method = getattr(self.store, name)

        def call(*args, **kwargs):
            self.calls.append(name)
            return method(*args, **kwargs)

        return call


def test_a_new_job_is_claimed_in_one_write_and_a_claimed_one_only_after_reading_it(
    lake: str,
) -> None:
    from assetlake.pipelines.claims import claim, superseded
    from assetlake.pipelines.todo import Job

    job = Job("copy", "1.0.0", "0" * 24, {}, ())
    store = Counted(open_store(lake))
    first = claim(store, job, lease=60, retry_failed=False)
    assert (first.claim, first.attempt, store.calls) == (True, 1, ["put"])
    store.calls.clear()
    assert not superseded(store, job, 1) and store.calls == ["head"]
    again = claim(store, job, lease=60, retry_failed=False)
    assert not again.claim and again.reason.startswith("reserved by "), again
    (state,) = list_jobs(open_store(lake), "copy")
    assert (state.status, state.attempts) == ("reserved", 1)
