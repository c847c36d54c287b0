"""The to-do list and the claim decisions are pure functions: tested on plain records and times."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from assetlake.catalogue import Catalogue, Record
from assetlake.errors import UsageError
from assetlake.pipelines import step
from assetlake.pipelines.claims import decide, state_of
from assetlake.pipelines.step import Step, job_key
from assetlake.pipelines.todo import MADE_BY, Made, made_by, plan

A1 = "ecephys_1001_2024-03-01_10-00-00"
A2 = "ecephys_1001_2024-03-02_10-00-00"
B1 = "ecephys_1002_2024-03-01_11-00-00"


def raw(name: str, subject: str, acquired: str, status: str = "valid") -> Record:
    return Record(
        name=name,
        url=f"s3://lake/{name}",
        level="raw",
        modalities=["ecephys"],
        subject_id=subject,
        acquired=acquired,
        status=status,
        problems=[{"message": "subject.json: missing"}] if status == "invalid" else [],
    )


SOURCES = [
    raw(A2, "1001", "2024-03-02T10:00:00"),
    raw(A1, "1001", "2024-03-01T10:00:00"),
    raw(B1, "1002", "2024-03-01T11:00:00"),
]


def declared(name: str, version: str, **options) -> Step:
    """A step of the given name and version (its function is never called here)."""
    return step(name=name, label="x", version=version, **{"sources": {}, **options})(lambda job: {})


def output(sources: list[str], name: str, version: str, parameters: dict) -> Made:
    """What the catalogue reads of an output made by (name, version, parameters) from sources."""
    made = made_by({"step": name, "version": version, "parameters": parameters, "sources": sources})
    assert made is not None
    return made


def test_every_source_is_due_until_its_output_exists() -> None:
    todo = plan(declared("x", "1"), {"k": 1}, SOURCES, [])
    assert [job.source_names for job in todo.jobs] == [[A1], [A2], [B1]]
    done = [output([A1], "x", "1", {"k": 1})]
    todo = plan(declared("x", "1"), {"k": 1}, SOURCES, done)
    assert [job.source_names for job in todo.jobs] == [[A2], [B1]] and todo.done == 1


def test_a_new_version_or_new_parameters_make_every_source_due_again() -> None:
    done = [output([s.name], "x", "1", {"k": 1}) for s in SOURCES]
    assert plan(declared("x", "1"), {"k": 1}, SOURCES, done).jobs == []
    assert len(plan(declared("x", "2"), {"k": 1}, SOURCES, done).jobs) == 3
    assert len(plan(declared("x", "1"), {"k": 2}, SOURCES, done).jobs) == 3
    assert len(plan(declared("y", "1"), {"k": 1}, SOURCES, done).jobs) == 3
    assert len(plan(declared("x", "1"), {"k": 1.0}, SOURCES, done).jobs) == 3, "as the key: 1.0"


def test_grouped_sources_make_one_job_per_group_in_acquisition_order() -> None:
    todo = plan(declared("x", "1", group_by="subject_id"), {}, SOURCES, [])
    assert [job.source_names for job in todo.jobs] == [[A1, A2], [B1]]
    assert todo.jobs[0].key == job_key("x", "1", {}, [A2, A1]), "the key ignores source order"
    done = [output([A2, A1], "x", "1", {})]
    assert [
        j.source_names
        for j in plan(declared("x", "1", group_by="subject_id"), {}, SOURCES, done).jobs
    ] == [[B1]]
    # A new session of the subject makes its group a new job.
    more = [*SOURCES, raw("ecephys_1001_2024-03-03_10-00-00", "1001", "2024-03-03T10:00:00")]
    assert len(plan(declared("x", "1", group_by="subject_id"), {}, more, done).jobs) == 2


def test_invalid_sources_are_skipped_with_their_reason_and_label_filters() -> None:
    sources = [*SOURCES, raw("ecephys_1003_2024-03-01_10-00-00", "1003", "2024-03-01", "invalid")]
    todo = plan(declared("x", "1"), {}, sources, [], limit=2)
    assert len(todo.jobs) == 2
    assert todo.skipped == [
        ("ecephys_1003_2024-03-01_10-00-00", "source is invalid: subject.json: missing")
    ]
    derived = Record(
        name=f"{A1}_spikes_2024-03-05_00-00-00", url="", level="derived", label="spikes"
    )
    other = Record(name=f"{A1}_rates_2024-03-05_00-00-00", url="", level="derived", label="rates")
    todo = plan(declared("x", "1", sources={"label": "spikes"}), {}, [derived, other], [])
    assert [job.source_names for job in todo.jobs] == [[derived.name]]
    own = Record(name=f"{A1}_x_2024-03-05_00-00-00", url="", level="derived", label="x")
    assert plan(declared("x", "1"), {}, [own], []).jobs == [], "never its own outputs"


def derived(name: str, metadata: dict) -> Record:
    return Record(name=name, url="", level="derived", label="x", metadata=metadata)


def test_the_catalogue_reads_the_job_an_output_records_and_none_of_a_foreign_one(
    tmp_path: Path,
) -> None:
    process = {"name": "x", "software_version": "1", "parameters": {"k": 1.5}, "notes": "n"}
    made = {
        "data_description": {"source_data": [A2, A1]},
        "processing": {"processing_pipeline": {"data_processes": [{"name": "old"}, process]}},
    }
    damaged = json.loads(json.dumps(made))
    damaged["processing"]["processing_pipeline"]["data_processes"] = ["not a dict"]
    records = [
        derived(f"{A1}_x_2024-04-01_00-00-00", made),
        derived(f"{A1}_x_2024-04-02_00-00-00", {}),
        derived(f"{A1}_x_2024-04-03_00-00-00", damaged),
        Record(
            name=f"{A1}_y_2024-04-01_00-00-00", url="", level="derived", label="y", metadata=made
        ),
    ]
    with Catalogue(tmp_path / "c.sqlite") as catalogue:
        catalogue.upsert(records)
        picked = catalogue.pick(MADE_BY, level="derived", label="x")
    assert [name for name, _ in picked] == [r.name for r in records[:3]]
    assert [made_by(values) for _, values in picked] == [
        Made("x", "1", {"k": 1.5}, (A2, A1)),
        None,
        None,
    ]
    assert plan(declared("x", "1"), {"k": 1.5}, SOURCES, [made_by(picked[0][1])]).done == 0
    grouped = declared("x", "1", group_by="subject_id")
    assert plan(grouped, {"k": 1.5}, SOURCES, [made_by(picked[0][1])]).done == 1


NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def claim_document(expires: datetime) -> dict:
    return {
        "host": "h",
        "pid": 7,
        "started": NOW.isoformat(),
        "expires": expires.isoformat(),
        "sources": [A1],
    }


def test_claims_live_expire_fail_and_finish() -> None:
    assert decide(state_of("x", "k", {}, NOW), retry_failed=False).attempt == 1
    live = {"attempt-0001.json": claim_document(NOW + timedelta(seconds=5))}
    state = state_of("x", "k", live, NOW)
    assert state.status == "reserved" and not decide(state, retry_failed=True).claim
    assert "reserved by h pid 7" in decide(state, retry_failed=False).reason
    # A renewed lease outlives the claim's own expiry; a lapsed one frees the job.
    renewed = {
        **live,
        "attempt-0001.lease.json": {"expires": (NOW + timedelta(minutes=9)).isoformat()},
    }
    assert state_of("x", "k", renewed, NOW + timedelta(minutes=5)).status == "reserved"
    expired = state_of("x", "k", live, NOW + timedelta(seconds=6))
    assert expired.status == "expired" and decide(expired, retry_failed=False).attempt == 2
    failed = {
        **live,
        "attempt-0001.error.json": {"error": "RuntimeError: no", "time": NOW.isoformat()},
    }
    state = state_of("x", "k", failed, NOW)
    assert state.status == "error" and not decide(state, retry_failed=False).claim
    assert decide(state, retry_failed=True).attempt == 2
    done = {**failed, "done.json": {"output": "out", "attempt": 2}}
    assert not decide(state_of("x", "k", done, NOW), retry_failed=True).claim


def test_hostile_job_records_are_read_as_typed_values() -> None:
    documents = {
        "attempt-0001.json": {"host": 5, "pid": "x", "expires": "never", "sources": [1, "a"]}
    }
    state = state_of("x", "k", documents, NOW)
    assert (state.host, state.pid, state.sources, state.status) == (None, None, ["a"], "expired")
    documents["attempt-0001.json"]["host"] = "evil\x1b[2J\nhost"
    documents["attempt-0001.error.json"] = {"error": "E: a\nb", "traceback": "line 1\nline\x07 2"}
    state = state_of("x", "k", documents, NOW)
    assert state.host == "evil\\x1b[2J\\x0ahost" and state.error == "E: a\\x0ab"
    assert state.traceback == "line 1\nline\\x07 2"


def test_a_declaration_that_cannot_run_is_refused() -> None:
    def body(job):
        return {}

    with pytest.raises(UsageError, match="unknown filter 'colour'"):
        step(label="x", version="1", sources={"colour": "red"})(body)
    with pytest.raises(UsageError, match="label 'a_b'"):
        step(name="ok", label="a_b", version="1", sources={})(body)
    with pytest.raises(UsageError, match="group_by 'genotype'"):
        step(label="x", version="1", sources={}, group_by="genotype")(body)


def test_the_job_key_is_the_hash_of_the_canonical_job_document() -> None:
    """Keys are stored in the lake: they must stay the same across versions of assetlake."""
    import hashlib
    import json

    sources = ["ecephys_1_2024-01-01_00-00-00", "behavior_1_2024-01-01_00-00-00", 'odd "é"']
    document = {
        "step": "s",
        "version": "1",
        "parameters": {"b": [1, 2.5], "a": "x"},
        "sources": sorted(sources),
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    assert (
        job_key("s", "1", {"b": [1, 2.5], "a": "x"}, sources)
        == hashlib.sha256(text.encode()).hexdigest()[:24]
    )


def test_parameters_are_the_same_exactly_when_their_canonical_json_is() -> None:
    from itertools import product

    from assetlake.pipelines.step import canonical
    from assetlake.pipelines.todo import _same

    values = [
        5, 5.0, -0.0, 0.0, 0, True, 1, False, None, "5", "", 1e300, 2**63,
        [], [5], [5.0], [1, 2], [2, 1], {}, {"a": 5}, {"a": 5.0}, {"b": 5},
        {"a": 1, "b": [1, {"c": None}]}, {"b": [1, {"c": None}], "a": 1}, {"a": [1, {"c": 0}]},
    ]  # fmt: skip
    for a, b in product(values, repeat=2):
        assert _same(a, b) == (canonical(a) == canonical(b)), (a, b)
