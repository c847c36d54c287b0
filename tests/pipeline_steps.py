"""Steps for the pipeline tests, importable by worker processes as ``pipeline_steps:<step>``.

Steps that must wait (to be killed mid-job, or to race) wait for a file the test creates, with a
bound, never for a fixed time.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from assetlake.pipelines import JobContext, step

#: How long a gated step waits for its release file; a pool whose worker was killed waits for
#: the surviving worker to end, so this must stay well under the tests' guards.
BOUND = 60.0


class Scale(BaseModel):
    factor: int = 1


def _copy(job: JobContext) -> dict[str, Any]:
    import numpy as np

    values = np.asarray(job.open_zarr(job.source, "ecephys.zarr")[:], dtype="int32")
    total = sum(int(np.asarray(job.open_zarr(s, "ecephys.zarr")[:]).sum()) for s in job.sources)
    job.output.write_array("out.zarr", "scaled", values * job.parameters.factor)
    return {"sum": total * job.parameters.factor}


@step(
    label="copy", version="1.0.0", sources={"modality": "ecephys", "level": "raw"}, parameters=Scale
)
def copy(job: JobContext) -> dict[str, Any]:
    """Scale the source's array (a trivial step)."""
    return _copy(job)


@step(
    label="copy",
    version="2.0.0",
    sources={"modality": "ecephys", "level": "raw"},
    parameters=Scale,
    name="copy",
)
def copy_v2(job: JobContext) -> dict[str, Any]:
    """The same step, a new version."""
    return _copy(job)


@step(
    label="pooled",
    version="1.0.0",
    sources={"modality": "ecephys", "level": "raw"},
    group_by="subject_id",
)
def pooled(job: JobContext) -> dict[str, Any]:
    """One output per subject over all its sessions."""
    return {"sessions": len(job.sources), **_copy_default(job)}


def _copy_default(job: JobContext) -> dict[str, Any]:
    import numpy as np

    total = sum(int(np.asarray(job.open_zarr(s, "ecephys.zarr")[:]).sum()) for s in job.sources)
    job.output.write_array("out.zarr", "total", [total])
    return {"sum": total}


class Flaky(BaseModel):
    unless: str = ""


@step(
    label="flaky",
    version="1.0.0",
    sources={"modality": "ecephys", "level": "raw"},
    parameters=Flaky,
)
def flaky(job: JobContext) -> dict[str, Any]:
    """Fails unless the file ``unless`` exists (so a test can make it succeed later)."""
    if not Path(job.parameters.unless).exists():
        raise RuntimeError(f"flaky step: {job.parameters.unless} is missing")
    job.output.write_array("out.zarr", "ok", [1])
    return {}


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + BOUND
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)


@step(label="gated", version="1.0.0", sources={"modality": "ecephys", "level": "raw"})
def gated(job: JobContext) -> dict[str, Any]:
    """Starts once the file $GATE_DIR/go exists; records which process ran it."""
    folder = Path(os.environ["GATE_DIR"])
    (folder / f"ran-{job.source.name}-{os.getpid()}").touch()
    _wait_for(folder / "go")
    return _copy_default(job)


@step(label="hang", version="1.0.0", sources={"modality": "ecephys", "level": "raw"})
def hang(job: JobContext) -> dict[str, Any]:
    """Says it started (file $GATE_DIR/started-<pid>), then waits for $GATE_DIR/release."""
    folder = Path(os.environ["GATE_DIR"])
    (folder / f"started-{os.getpid()}").touch()
    _wait_for(folder / "release")
    return _copy_default(job)


@step(label="usurped", version="1.0.0", sources={"modality": "ecephys", "level": "raw"})
def usurped(job: JobContext) -> dict[str, Any]:
    """Acts out another worker claiming this job as attempt 2 while attempt 1 still runs."""
    from assetlake.store import JOBS_PREFIX

    (key,) = job.store.list_dirs(f"{JOBS_PREFIX}usurped/")
    job.store.put(f"{JOBS_PREFIX}usurped/{key}/attempt-0002.json", b'{"host": "other"}')
    return _copy_default(job)


@step(label="threads", version="1.0.0", sources={"modality": "ecephys", "level": "raw"})
def threads(job: JobContext) -> dict[str, Any]:
    """How many threads the native libraries of this worker may use."""
    import numcodecs.blosc
    from threadpoolctl import threadpool_info

    job.output.write_array("out.zarr", "one", [1])
    return {
        "pid": os.getpid(),
        "blosc_threads": numcodecs.blosc.use_threads,
        "omp": os.environ.get("OMP_NUM_THREADS"),
        "pools": sorted({pool["num_threads"] for pool in threadpool_info()}),
    }
