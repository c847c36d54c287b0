"""The to-do list of a step: a pure function of catalogue records, existing outputs and the step.

A job is one (step, version, parameters, sources) tuple; it is due when no committed output records
that same tuple. Nothing here reads the lake or the clock, so the decision is tested on plain
records; :mod:`assetlake.pipelines.populate` does the I/O around it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING, Any

from assetlake.pipelines.step import RECORD_FILTERS, key_maker

if TYPE_CHECKING:
    from assetlake.catalogue import Record
    from assetlake.pipelines.step import Step


@dataclass(frozen=True)
class Job:
    """One unit of work: the sources (first one names the output) and the job's identity."""

    step: str
    version: str
    key: str
    parameters: dict[str, Any]
    sources: tuple[Record, ...]

    @property
    def source_names(self) -> list[str]:
        return [record.name for record in self.sources]

    def describe(self) -> str:
        """The sources in one short phrase: the first name, and how many more."""
        more = f" (+{len(self.sources) - 1} more)" if len(self.sources) > 1 else ""
        return self.sources[0].name + more


@dataclass
class ToDo:
    """Jobs due, sources skipped (with the reason) and how many jobs are already done."""

    jobs: list[Job] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    done: int = 0


#: Where an output's metadata document records the job that made it: its last data process (step
#: name, version, parameters) and its ``source_data``, as JSON paths the catalogue picks in SQL.
_LAST = "$.processing.processing_pipeline.data_processes[#-1]"
MADE_BY = {
    "step": f"{_LAST}.name",
    "version": f"{_LAST}.software_version",
    "parameters": f"{_LAST}.parameters",
    "sources": "$.data_description.source_data",
}


@dataclass(frozen=True)
class Made:
    """The job an output records having made it."""

    step: str
    version: str
    parameters: dict[str, Any]
    sources: tuple[str, ...]


def made_by(values: Mapping[str, Any]) -> Made | None:
    """The job an output records (the values at :data:`MADE_BY` of its metadata), or None when
    they do not say (a foreign or hand-made derived asset, a damaged document)."""
    step, version = values.get("step"), values.get("version")
    parameters, sources = values.get("parameters"), values.get("sources")
    if not (
        isinstance(step, str)
        and isinstance(version, str)
        and isinstance(parameters, dict)
        and isinstance(sources, list)
    ):
        return None
    return Made(step, version, parameters, tuple(map(str, sources)))


def matches(record: Record, selector: Mapping[str, Any]) -> bool:
    """Whether a record passes the selector filters ``find`` has no keyword for."""
    for key in RECORD_FILTERS:
        if key in selector:
            wanted = selector[key]
            allowed = {wanted} if isinstance(wanted, str) else set(wanted)
            if getattr(record, key) not in allowed:
                return False
    return True


def plan(
    declared: Step,
    parameters: dict[str, Any],
    sources: Iterable[Record],
    made: Iterable[Made],
    *,
    limit: int | None = None,
) -> ToDo:
    """The jobs due for a step: every source (or group of sources) that passes the selector, is
    valid, and has no output that ``made`` says this (step, version, parameters) made from it.
    The step's own outputs are never its sources, so a broad selector cannot feed a step its own
    results. Only due jobs are keyed: a done one is known by its sources, not its hash."""
    todo = ToDo()
    done = _done(declared, parameters, made)
    usable: list[Record] = []
    # matches() per record only when the selector has a filter find has no keyword for.
    selects = any(key in declared.sources for key in RECORD_FILTERS)
    for record in sources:
        if record.label == declared.label or (selects and not matches(record, declared.sources)):
            continue
        if record.status == "invalid":
            reason = record.problems[0].get("message", "invalid") if record.problems else "invalid"
            todo.skipped.append((record.name, f"source is invalid: {reason}"))
        else:
            usable.append(record)
    key_of = key_maker(declared.name, declared.version, parameters)
    for group in _groups(usable, declared.group_by):
        names = (group[0].name,) if len(group) == 1 else tuple(sorted(r.name for r in group))
        if names in done:
            todo.done += 1
        elif limit is None or len(todo.jobs) < limit:
            key = key_of(names)
            todo.jobs.append(Job(declared.name, declared.version, key, parameters, tuple(group)))
    return todo


def _done(declared: Step, parameters: dict[str, Any], made: Iterable[Made]) -> set[tuple[str, ...]]:
    """The sorted sources of every output of this (step, version, parameters): the same test as
    equal job keys (parameters compared as the canonical JSON the key hashes, so 5 and 5.0
    differ), without hashing."""
    return {
        m.sources if len(m.sources) == 1 else tuple(sorted(m.sources))
        for m in made
        if m.step == declared.name
        and m.version == declared.version
        and _same(m.parameters, parameters)
    }


def _same(a: Any, b: Any) -> bool:
    """Whether two JSON values have the same canonical JSON (5 and 5.0 differ, so do 1 and True,
    0.0 and -0.0), compared without encoding either: the to-do list compares every output's."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return a.keys() == b.keys() and all(_same(value, b[key]) for key, value in a.items())
    if type(a) is list:
        return len(a) == len(b) and all(map(_same, a, b))
    if type(a) is float:
        return repr(a) == repr(b)  # how JSON spells it: equal floats of other spellings differ
    return bool(a == b)


def _groups(records: list[Record], group_by: str | None) -> Iterable[list[Record]]:
    """One group per record, or per value of ``group_by``, each in acquisition order."""
    if group_by is None:
        return ([record] for record in sorted(records, key=lambda r: r.name))

    def group_of(record: Record) -> str:
        return str(getattr(record, group_by) or "")

    ordered = sorted(records, key=lambda r: (group_of(r), r.acquired or "", r.name))
    return (list(members) for _, members in groupby(ordered, key=group_of))
