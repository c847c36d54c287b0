"""Where jobs run: in this process, in a local process pool, or on a Dask distributed cluster.

Every engine calls the same :func:`~assetlake.pipelines.run.run_job` with the step's reference
(an import path or registered name, resolved again by each worker), so a lab that outgrows one
machine adds machines, not code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from assetlake.errors import UsageError
from assetlake.pipelines.run import Outcome, run_job, warm

if TYPE_CHECKING:
    from assetlake.pipelines.step import Step
    from assetlake.pipelines.todo import Job

OnOutcome = Callable[[Outcome], None]


def run_local(
    reference: str | Step, jobs: list[Job], lake: str, *, workers: int, **options: Any
) -> Iterator[Outcome]:
    """Run jobs here (one worker) or in a pool of fresh processes, yielding each as it ends."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield run_job(reference, job, lake, **options)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if not isinstance(reference, str):
        reference = reference.reference
    # spawn, not fork: the parent holds boto3 sessions and threads that a fork would copy.
    context = multiprocessing.get_context("spawn")
    # Each worker starts once, ready (warm) and kept to one core's threads, and runs job after job.
    with ProcessPoolExecutor(
        min(workers, len(jobs)),
        mp_context=context,
        initializer=warm,
        initargs=(reference, lake, True),
    ) as pool:
        futures = {pool.submit(run_job, reference, job, lake, **options): job for job in jobs}
        for future in as_completed(futures):
            yield _result(future, futures[future])


def connect(address: str, timeout: float = 5.0) -> Any:
    """A Dask client of the scheduler at ``address``; one clear error if it cannot be reached."""
    try:
        from distributed import Client
    except ImportError:
        raise UsageError(
            "--scheduler needs Dask: pip install 'assetlake[dask]', or drop --scheduler to run on "
            "local processes"
        ) from None
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as error:
        reason = str(error).split("\n")[0] or type(error).__name__
        raise UsageError(
            f"scheduler {address} cannot be reached ({reason}); start one with 'dask scheduler' "
            "or drop --scheduler to run on local processes"
        ) from None


def run_dask(
    reference: str | Step, jobs: list[Job], lake: str, *, client: Any, **options: Any
) -> Iterator[Outcome]:
    """Run jobs as tasks of a Dask distributed cluster (each task claims its job in the lake)."""
    from distributed import as_completed

    if not isinstance(reference, str):
        reference = reference.reference
    client.run(warm, reference, lake)  # every worker imports before the jobs, not inside the first
    futures = {
        client.submit(run_job, reference, job, lake, pure=False, **options): job for job in jobs
    }
    for future in as_completed(futures):
        yield _result(future, futures[future])


def _result(future: Any, job: Job) -> Outcome:
    """A job's outcome; a worker that died (killed, out of memory) fails its job, whose claim
    expires with its lease, instead of stopping the run."""
    try:
        return future.result()
    except Exception as error:
        return Outcome(
            job.key,
            job.source_names,
            "error",
            reason=f"worker died ({type(error).__name__}: {error}); the job is claimable again "
            "once its lease expires",
        )
