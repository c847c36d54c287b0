"""Job records in the lake: create-only claims with leases, error records and done markers.

Every job of every step has a folder ``assetlake-jobs/<step>/<key>/`` (a prefix no asset name can
take, so the indexer never sees it):

* ``attempt-0001.json``: a claim, written create-only (S3 ``If-None-Match``): host, process, start
  time and lease. Of two workers racing for a job, exactly one writes attempt ``n``.
* ``attempt-0001.lease.json``: the lease renewed while the job runs (the one kind of object here
  that is replaced). A worker that dies stops renewing, and once the lease has expired the job is
  claimed again as attempt ``n + 1``.
* ``attempt-0001.error.json``: what the attempt raised (exception, traceback, time, host).
* ``done.json``: written create-only once the output is committed; it names the output.

Which state a job is in, and whether a worker may claim it, are pure functions of those documents
and the time (:func:`state_of`, :func:`decide`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from assetlake.asset import moment
from assetlake.document import UNSAFE_CHARACTERS
from assetlake.errors import ObjectExistsError
from assetlake.store import JOBS_PREFIX

if TYPE_CHECKING:
    from assetlake.pipelines.todo import Job
    from assetlake.store import Store

VERSION = "1"
DONE = "done.json"
_ATTEMPT = re.compile(r"^attempt-(\d{4,})(\.lease|\.error)?\.json$")
#: A job record is small; anything larger was not written by populate and is not read.
MAX_RECORD_BYTES = 1 << 20
STATUSES = ("reserved", "expired", "error", "done")
#: What a job record's text shows as escapes: the UNSAFE characters and tabs (and newlines).
_CONTROL = re.compile(f"[\t{UNSAFE_CHARACTERS}]")
_CONTROL_OR_NEWLINE = re.compile(f"[\t\n{UNSAFE_CHARACTERS}]")
#: What populate writes as step folders and job keys; anything else under the prefix is ignored.
_STEP = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")
_KEY = re.compile(r"^[0-9a-f]{24}$")


def job_prefix(step: str, key: str) -> str:
    return f"{JOBS_PREFIX}{step}/{key}/"


def attempt_key(step: str, key: str, attempt: int, kind: str = "") -> str:
    return f"{job_prefix(step, key)}attempt-{attempt:04d}{kind}.json"


@dataclass
class JobState:
    """What the lake says about one job (what ``assetlake jobs`` lists)."""

    step: str
    key: str
    status: str
    attempts: int = 0
    sources: list[str] = field(default_factory=list)
    host: str | None = None
    pid: int | None = None
    started: str | None = None
    expires: str | None = None
    error: str | None = None
    traceback: str | None = None
    output: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Decision:
    """Whether to claim a job, as which attempt, or why not."""

    claim: bool
    attempt: int = 0
    reason: str = ""


def state_of(
    step: str, key: str, documents: dict[str, dict[str, Any]], now: datetime
) -> JobState | None:
    """The state of a job from its record documents (file name -> parsed JSON), or None when
    there are none. A live lease is ``reserved``, a lapsed one ``expired``."""
    if DONE in documents:
        done = documents[DONE]
        return JobState(
            step,
            key,
            "done",
            attempts=_int(done.get("attempt")),
            sources=_names(done.get("sources")),
            host=_text(done.get("host")),
            started=_text(done.get("finished")),
            output=_text(done.get("output")),
        )
    attempts = sorted(
        int(m.group(1)) for name in documents if (m := _ATTEMPT.match(name)) and not m.group(2)
    )
    if not attempts:
        return None
    last = attempts[-1]
    claim = documents[f"attempt-{last:04d}.json"]
    state = JobState(
        step,
        key,
        "reserved",
        attempts=last,
        sources=_names(claim.get("sources")),
        host=_text(claim.get("host")),
        pid=_int(claim.get("pid")) or None,
        started=_text(claim.get("started")),
    )
    error = documents.get(f"attempt-{last:04d}.error.json")
    if error is not None:
        state.status = "error"
        state.error = _text(error.get("error"))
        state.traceback = _text(error.get("traceback"), 20_000, lines=True)
        state.started = _text(error.get("time")) or state.started
        return state
    lease = documents.get(f"attempt-{last:04d}.lease.json", {})
    # A lease time without an offset is no time: whose clock it was is unknown.
    expires = moment(lease.get("expires"), naive=None) or moment(claim.get("expires"), naive=None)
    state.expires = expires.isoformat() if expires else None
    if expires is None or expires <= now:
        state.status = "expired"
    return state


def decide(state: JobState | None, *, retry_failed: bool) -> Decision:
    """Claim a job that was never claimed, whose lease expired, or that failed (with
    ``retry_failed``); leave a done or reserved one alone."""
    if state is None:
        return Decision(True, 1)
    if state.status == "done":
        return Decision(False, reason=f"already done: {state.output}")
    if state.status == "reserved":
        return Decision(
            False,
            reason=f"reserved by {state.host} pid {state.pid} until {state.expires}",
        )
    if state.status == "error" and not retry_failed:
        return Decision(
            False, reason=f"failed before ({state.error}); --retry-failed runs it again"
        )
    return Decision(True, state.attempts + 1)


def read_documents(store: Store, step: str, key: str) -> dict[str, dict[str, Any]]:
    """Every record document of a job, by file name (unreadable or foreign ones left out)."""
    prefix = job_prefix(step, key)
    documents: dict[str, dict[str, Any]] = {}
    for info in store.list(prefix):
        name = info.key[len(prefix) :]
        if (name == DONE or _ATTEMPT.match(name)) and info.size <= MAX_RECORD_BYTES:
            document = _parse(store.get(info.key))
            if document is not None:
                documents[name] = document
    return documents


def read_state(store: Store, step: str, key: str, now: datetime | None = None) -> JobState | None:
    return state_of(step, key, read_documents(store, step, key), now or _now())


def claim(store: Store, job: Job, *, lease: float, retry_failed: bool) -> Decision:
    """Claim a job create-only; a claim lost to another worker is a Decision not to run it.

    The to-do list comes from a freshly refreshed catalogue, so a job is nearly always new: its
    first attempt is written straight away, one request, since the create-only write alone
    decides a race. Only when attempt 1 exists are the job's records read, to decide whether its
    lease expired or it failed and may be claimed as the next attempt."""
    if store.put_once(attempt_key(job.step, job.key, 1), _claim_document(job, 1, lease)):
        # No attempt existed, so no worker can have written a done marker: nothing to check.
        return Decision(True, 1)
    decision = decide(read_state(store, job.step, job.key), retry_failed=retry_failed)
    if not decision.claim:
        return decision
    key = attempt_key(job.step, job.key, decision.attempt)
    if not store.put_once(key, _claim_document(job, decision.attempt, lease)):
        return Decision(False, reason="claimed by another worker at the same moment")
    if store.head(job_prefix(job.step, job.key) + DONE) is not None:
        return Decision(False, reason="done by another worker meanwhile")
    return decision


def _claim_document(job: Job, attempt: int, lease: float) -> bytes:
    """A claim: who holds the job, since when, and the lease it starts with."""
    started = _now()
    return _dump(
        {
            **_who(),
            "schema_version": VERSION,
            "step": job.step,
            "version": job.version,
            "key": job.key,
            "parameters": job.parameters,
            "sources": job.source_names,
            "attempt": attempt,
            "started": started.isoformat(),
            "lease_seconds": lease,
            "expires": (started + timedelta(seconds=lease)).isoformat(),
        }
    )


def renew(store: Store, job: Job, attempt: int, lease: float) -> None:
    """Push the lease of a running attempt forward (the one overwrite under the jobs prefix)."""
    expires = _now() + timedelta(seconds=lease)
    document = {**_who(), "expires": expires.isoformat()}
    store.put(attempt_key(job.step, job.key, attempt, ".lease"), _dump(document), overwrite=True)


def superseded(store: Store, job: Job, attempt: int) -> bool:
    """Whether another worker took the job over while this one ran. Attempts are claimed one
    after another, so a take-over shows as attempt ``n + 1``; a done marker can only come from
    an earlier attempt that finished after all, so attempt 1 needs one look, not a listing (which
    costs more than a look, and on some servers grows with the bucket)."""
    if store.head(attempt_key(job.step, job.key, attempt + 1)) is not None:
        return True
    return attempt > 1 and store.head(job_prefix(job.step, job.key) + DONE) is not None


def record_error(store: Store, job: Job, attempt: int, error: BaseException, trace: str) -> None:
    document = {
        **_who(),
        "schema_version": VERSION,
        "attempt": attempt,
        "error": f"{type(error).__name__}: {error}"[:2000],
        "traceback": trace[-20_000:],
        "time": _now().isoformat(),
    }
    with contextlib.suppress(ObjectExistsError):
        store.put(attempt_key(job.step, job.key, attempt, ".error"), _dump(document))


def record_done(store: Store, job: Job, attempt: int, output: str) -> None:
    document = {
        **_who(),
        "schema_version": VERSION,
        "attempt": attempt,
        "sources": job.source_names,
        "output": output,
        "finished": _now().isoformat(),
    }
    with contextlib.suppress(ObjectExistsError):
        store.put(job_prefix(job.step, job.key) + DONE, _dump(document))


def list_jobs(store: Store, step: str | None = None, now: datetime | None = None) -> list[JobState]:
    """Every job the lake has records of (of one step), sorted by step and start time."""
    moment = now or _now()
    steps = [step] if step else store.list_dirs(JOBS_PREFIX)
    states = []
    for name in filter(_STEP.match, steps):
        for key in filter(_KEY.match, store.list_dirs(f"{JOBS_PREFIX}{name}/")):
            state = read_state(store, name, key, moment)
            if state is not None:
                states.append(state)
    return sorted(states, key=lambda s: (s.step, s.started or "", s.key))


@dataclass
class OpenJobs:
    """The jobs that are not done: the first ``limit`` read in full, all of them counted."""

    jobs: list[JobState]
    total: int
    failed: int


def open_jobs(store: Store, limit: int, now: datetime | None = None) -> OpenJobs:
    """Jobs not done (reserved, expired or error) from ONE recursive listing of the records.

    A done job costs no GET, so the cost grows with the listing (about three objects per job), not
    with reads of finished work; whether a job failed shows in the listing (its last attempt has an
    error record), so both counts are exact however many jobs there are. Failed jobs come first.
    """
    folders: dict[tuple[str, str], set[str]] = {}
    done: set[tuple[str, str]] = set()
    for info in store.list(JOBS_PREFIX):
        parts = info.key[len(JOBS_PREFIX) :].split("/", 2)
        if len(parts) != 3 or not (_STEP.match(parts[0]) and _KEY.match(parts[1])):
            continue
        step, key, name = parts
        if name == DONE:
            done.add((step, key))
            folders.pop((step, key), None)
        elif (step, key) not in done and _ATTEMPT.match(name):
            folders.setdefault((step, key), set()).add(name)
    folders = {job: names for job, names in folders.items() if _last_attempt(names)}
    failed = {job for job, names in folders.items() if _error_name(_last_attempt(names)) in names}
    order = sorted(folders, key=lambda job: (job not in failed, job))
    moment = now or _now()
    jobs = [
        state
        for step, key in order[:limit]
        if (state := read_state(store, step, key, moment)) is not None
    ]
    return OpenJobs(jobs, total=len(folders), failed=len(failed))


def _last_attempt(names: set[str]) -> int:
    """The number of a job's last claim, from its file names (0: no claim)."""
    return max((int(m.group(1)) for n in names if (m := _ATTEMPT.match(n)) and not m.group(2)),
               default=0)  # fmt: skip


def _error_name(attempt: int) -> str:
    return f"attempt-{attempt:04d}.error.json"


def _who() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _now() -> datetime:
    return datetime.now(UTC)


def _dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=1, sort_keys=True, default=str).encode() + b"\n"


def _parse(data: bytes | None) -> dict[str, Any] | None:
    try:
        document = json.loads(data) if data is not None else None
    except (ValueError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None


def _text(value: Any, limit: int = 500, *, lines: bool = False) -> str | None:
    """A string from the bucket, bounded, with control characters made visible (newlines too,
    unless ``lines``), so it cannot rewrite a terminal."""
    if not isinstance(value, str):
        return None
    pattern = _CONTROL if lines else _CONTROL_OR_NEWLINE
    return pattern.sub(_escape, value[:limit])


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _names(value: Any) -> list[str]:
    return (
        [v[:300] for v in value[:10_000] if isinstance(v, str)] if isinstance(value, list) else []
    )
