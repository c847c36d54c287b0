"""``populate``: bring a step up to date over the whole lake, each job exactly once.

Refresh the catalogue, compute the to-do list (:func:`~assetlake.pipelines.todo.plan`), then let
an engine run the jobs; each worker claims its job in the lake before running it, so populates
racing on several machines never compute the same job twice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetlake.pipelines.run import LEASE, Outcome
from assetlake.pipelines.step import FIND_FILTERS, Step, check_selector
from assetlake.pipelines.todo import MADE_BY, Made, ToDo, made_by, matches, plan

if TYPE_CHECKING:
    from pydantic import BaseModel

    from assetlake.catalogue import Catalogue, Record
    from assetlake.store import Store


@dataclass
class PopulateResult:
    """What a populate found to do and how each job ended."""

    step: Step
    todo: ToDo
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def failed(self) -> bool:
        return self.count("error") > 0

    def summary(self) -> str:
        if not self.todo.jobs:
            return (
                f"populate {self.step.name}: nothing to do ({self.todo.done} up to date, "
                f"{len(self.todo.skipped)} sources skipped)"
            )
        return (
            f"populate {self.step.name}: {self.count('done')} done, {self.count('error')} failed, "
            f"{self.count('skipped')} skipped, {self.todo.done} already up to date in "
            f"{self.seconds:.1f} s"
        )


def populate(
    step: str | Step,
    lake: str | Store,
    *,
    where: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | BaseModel | None = None,
    limit: int | None = None,
    workers: int | None = None,
    client: Any = None,
    scheduler: str | None = None,
    dry_run: bool = False,
    retry_failed: bool = False,
    lease: float = LEASE,
    catalogue: Path | None = None,
    on_plan: Callable[[ToDo], None] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> PopulateResult:
    """Run every job of ``step`` that the lake lacks. ``client`` (a ``distributed.Client``) or
    ``scheduler`` (its address) runs them on Dask, else ``workers`` local processes (default:
    one per core). Failures of the step become error records, never exceptions."""
    from assetlake.catalogue import Catalogue, default_catalogue_path
    from assetlake.index import index_lake
    from assetlake.pipelines.engines import connect, run_dask, run_local
    from assetlake.pipelines.registry import resolve
    from assetlake.store import open_store

    declared = step if isinstance(step, Step) else resolve(step)
    reference = step if isinstance(step, str) else declared.reference
    check_selector(where or {}, "--where")
    values = declared.parameters_of(parameters).model_dump(mode="json")
    started = time.perf_counter()
    store = open_store(lake) if isinstance(lake, str) else lake
    with Catalogue(catalogue or default_catalogue_path(store.url)) as cat:
        index_lake(store, cat)
        sources = select(cat, declared.sources, where or {})
        made = outputs(cat, declared.label)
    todo = plan(declared, values, sources, made, limit=limit)
    result = PopulateResult(declared, todo)
    if on_plan:
        on_plan(todo)
    if dry_run or not todo.jobs:
        return result
    options = {"lease": lease, "retry_failed": retry_failed}
    if client is None and scheduler:
        client = connect(scheduler)
        owned = client
    else:
        owned = None
    try:
        if client is not None:
            ran = run_dask(reference, todo.jobs, store.url, client=client, **options)
        else:
            count = workers or os.cpu_count() or 1
            ran = run_local(reference, todo.jobs, store.url, workers=count, **options)
        for outcome in ran:
            result.outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)
    finally:
        if owned is not None:
            owned.close()
    result.seconds = time.perf_counter() - started
    return result


def select(
    catalogue: Catalogue, selector: Mapping[str, Any], where: Mapping[str, Any]
) -> list[Record]:
    """The records that pass both the step's selector and the user's ``--where``."""
    found = catalogue.find(**{k: v for k, v in selector.items() if k in FIND_FILTERS})
    found = [record for record in found if matches(record, selector)]
    if not where:
        return found
    narrowed = catalogue.find(**{k: v for k, v in where.items() if k in FIND_FILTERS})
    names = {record.name for record in narrowed if matches(record, where)}
    return [record for record in found if record.name in names]


def outputs(catalogue: Catalogue, label: str) -> list[Made]:
    """The job each committed derived asset with the step's label records having made it (only
    those few values of each metadata document are read, not whole records)."""
    picked = catalogue.pick(MADE_BY, level="derived", label=label)
    return [made for _, values in picked if (made := made_by(values)) is not None]
