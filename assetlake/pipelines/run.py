"""Running one job in a worker: claim it, keep its lease, run the step, commit, record the end.

The output is built with :class:`~assetlake.builder.AssetBuilder` and committed through the
uploader, so a job that fails or dies leaves no visible output, only its claim (which expires) or
its error record.
"""

from __future__ import annotations

import functools
import getpass
import os
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetlake import __version__
from assetlake.pipelines import claims
from assetlake.pipelines.step import JobContext, Step

if TYPE_CHECKING:
    from assetlake.pipelines.todo import Job
    from assetlake.store import Store

#: Default lease of a claim, in seconds; renewed every third of it while the job runs.
LEASE = 600.0


@dataclass
class Outcome:
    """How a job ended: ``done``, ``error`` or ``skipped`` (claimed elsewhere, done, failed)."""

    key: str
    sources: list[str]
    status: str
    output: str | None = None
    reason: str = ""
    seconds: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)


def run_job(
    reference: str | Step, job: Job, lake: str, lease: float = LEASE, retry_failed: bool = False
) -> Outcome:
    """Claim and run ``job`` of the step ``reference`` (resolved again in this process, so a
    worker needs only the import path); never raises for a failure of the step itself."""
    declared = reference if isinstance(reference, Step) else _step(reference)
    store = _store(lake)
    started = time.perf_counter()
    # The output's name is looked for while the claim is written: two requests, one round trip.
    with ThreadPoolExecutor(1, thread_name_prefix="assetlake-name") as pool:
        moment = pool.submit(_free_moment, declared, job, store)
        decision = claims.claim(store, job, lease=lease, retry_failed=retry_failed)
    if not decision.claim:
        return Outcome(job.key, job.source_names, "skipped", reason=decision.reason)
    stop = threading.Event()
    keeper = threading.Thread(
        target=_keep_lease, args=(store, job, decision.attempt, lease, stop), daemon=True
    )
    keeper.start()
    unmarked: list[Exception] = []

    def mark_done() -> None:
        try:
            claims.record_done(store, job, decision.attempt, _output_name(declared, job, begun))
        except Exception as error:  # written again below, once the commit has returned
            unmarked.append(error)

    try:
        begun = moment.result()
        output, values = _build(declared, job, store, decision.attempt, begun, mark_done)
    except Exception as error:
        claims.record_error(store, job, decision.attempt, error, traceback.format_exc())
        return Outcome(
            job.key,
            job.source_names,
            "error",
            reason=_one_line(f"{type(error).__name__}: {error}"),
            seconds=time.perf_counter() - started,
        )
    finally:
        stop.set()
        keeper.join()
    if output is None:
        return Outcome(job.key, job.source_names, "skipped", reason="taken over by another worker")
    if unmarked:
        claims.record_done(store, job, decision.attempt, output)
    return Outcome(
        job.key,
        job.source_names,
        "done",
        output=output,
        seconds=time.perf_counter() - started,
        outputs=values,
    )


def _one_line(text: str) -> str:
    """The first line of an error (pydantic's run to many); the record keeps all of it."""
    first, _, rest = text.partition("\n")
    return f"{first} (more in the error record)" if rest.strip() else first


#: The native thread pools a local pool's worker keeps to one thread, set before its step imports
#: numpy: each worker is one core's share, and N workers of N threads each on N cores only fight
#: over them. (Dask's nanny sets the same variables for its workers; a value the user set is kept.)
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}


def warm(reference: str, lake: str, one_thread: bool = False) -> None:
    """Start a worker process ready for its jobs: the step resolved (its module and what that
    imports), the store's client made, the modules every job uses imported, all once before the
    first job instead of inside it; with ``one_thread`` (a process of our own pool, never a
    process we were lent) its native thread pools kept to one thread (:data:`ONE_THREAD`, and
    Blosc's). A failure here is left to surface, with its message, in the job that needs the
    same thing."""
    if one_thread:
        for name, value in ONE_THREAD.items():
            os.environ.setdefault(name, value)
    try:
        if one_thread:
            import numcodecs.blosc

            # Blosc picks threads by its own guess (which version to version looks at the thread,
            # the process and a lock); a worker's share is one core whatever it guesses.
            numcodecs.blosc.use_threads = False
        _step(reference)
        _store(lake)
        import assetlake.builder
        import assetlake.schema.processing
        import assetlake.upload  # noqa: F401
    except Exception:  # reported by run_job, job by job
        return


@functools.cache
def _step(reference: str) -> Step:
    """The step a reference names, resolved once per worker process: resolving reads the entry
    points of every installed package, which costs more than a small job."""
    from assetlake.pipelines.registry import resolve

    return resolve(reference)


@functools.cache
def _store(lake: str) -> Store:
    """One store (one boto3 client) per lake and worker process, shared by all its jobs: making a
    client costs more than a small job."""
    from assetlake.store import open_store

    return open_store(lake)


def _keep_lease(store: Store, job: Job, attempt: int, lease: float, stop: threading.Event) -> None:
    while not stop.wait(lease / 3):
        try:
            claims.renew(store, job, attempt, lease)
        except Exception:  # a missed renewal only shortens the lease; the next one may succeed
            continue


class _TakenOver(Exception):
    """Another worker claimed the job after this one's lease lapsed: leave the output to it."""


def _build(
    declared: Step,
    job: Job,
    store: Store,
    attempt: int,
    begun: datetime,
    done: Callable[[], None],
) -> tuple[str | None, dict[str, Any]]:
    """Run the step into a staged output named by ``begun`` and commit it, calling ``done`` beside
    the upload's last request; (None, {}) when the job was taken over."""
    from assetlake.builder import AssetBuilder
    from assetlake.schema import dump_sidecar

    parameters = declared.parameters_of(job.parameters)
    # Staged in a folder of this job's own, removed whatever happens: a failed job is run again
    # from its sources, never resumed from a half-built output.
    try:
        with (
            tempfile.TemporaryDirectory(prefix="assetlake-job-") as staging,
            AssetBuilder.derived(
                job.sources[0].name,
                declared.label,
                _description(declared, job, begun),
                _processing(declared, job, store, begun, begun, {}),
                created=begun,
                staging=Path(staging),
            ) as output,
        ):
            context = JobContext(list(job.sources), parameters, output, store)
            values = dict(declared.function(context) or {})
            ended = datetime.now().astimezone().replace(microsecond=0)
            # Staged, not committed: processing.json gains the end time and the step's outputs.
            processing = _processing(declared, job, store, begun, ended, values)
            (output.path / "processing.json").write_text(dump_sidecar(processing), "utf-8")

            def not_taken_over() -> None:
                if claims.superseded(store, job, attempt):
                    raise _TakenOver

            return output.commit(store, guard=not_taken_over, then=done).name, values
    except _TakenOver:
        return None, {}


def _free_moment(declared: Step, job: Job, store: Store) -> datetime:
    """The processing time to name the output by: now, or the next second whose name no upload
    holds yet (two versions of a step on one source in the same second)."""
    from assetlake.asset import CLAIM

    moment = datetime.now().astimezone().replace(microsecond=0)
    while store.head(f"{_output_name(declared, job, moment)}/{CLAIM}") is not None:
        moment += timedelta(seconds=1)
    return moment


def _description(declared: Step, job: Job, created: datetime) -> Any:
    from assetlake.naming import parse_name
    from assetlake.schema import DataDescription

    first = job.sources[0]
    name = parse_name(first.name)
    return DataDescription(
        name=str(name.derive(declared.label, created)),
        subject_id=name.subject_id,
        creation_time=created,
        data_level="derived",
        modalities=list(first.modalities) or [name.modality or "ecephys"],
        project_name=first.project,
        institution=first.institution,
        investigators=list(first.investigators),
        source_data=job.source_names,
    )


def _processing(
    declared: Step,
    job: Job,
    store: Store,
    begun: datetime,
    ended: datetime,
    values: dict[str, Any],
) -> Any:
    from assetlake.schema.processing import DataProcess, PipelineProcess, Processing

    name = _output_name(declared, job, begun)
    return Processing(
        processing_pipeline=PipelineProcess(
            processor_full_name=f"assetlake populate ({_user()}@{socket.gethostname()})",
            pipeline_version=__version__,
            pipeline_url="assetlake populate",
            data_processes=[
                DataProcess(
                    name=declared.name,
                    software_version=declared.version,
                    code_url=declared.code,
                    start_date_time=begun,
                    end_date_time=max(ended, begun),
                    input_location=", ".join(f"{store.url}/{s}" for s in job.source_names),
                    output_location=f"{store.url}/{name}",
                    parameters=job.parameters,
                    outputs=_jsonable(values),
                    notes=_code_notes(declared),
                )
            ],
        )
    )


def _output_name(declared: Step, job: Job, created: datetime) -> str:
    from assetlake.naming import parse_name

    return str(parse_name(job.sources[0].name).derive(declared.label, created))


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(values, default=str))


def _code_notes(declared: Step) -> str:
    return _code_of(declared.function.__module__, declared.code)


@functools.cache
def _code_of(module: str, code: str) -> str:
    """The code that ran: module, the version of the package holding it, its git commit (once
    per process: the answer does not change while it runs)."""
    import importlib.metadata
    import subprocess
    import sys
    from pathlib import Path

    top = module.split(".")[0]
    notes = [f"code {code}"]
    for distribution in importlib.metadata.packages_distributions().get(top, [])[:1]:
        notes.append(f"package {distribution} {importlib.metadata.version(distribution)}")
    source = getattr(sys.modules.get(module), "__file__", None)
    if source:
        try:
            commit = subprocess.run(
                ["git", "-C", str(Path(source).parent), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = ""
        if commit:
            notes.append(f"git {commit}")
    return "; ".join(notes)


def _user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return str(os.getuid())
