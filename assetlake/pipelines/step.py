"""A pipeline step, declared once: what it is called, which sources it takes, which parameters.

A step is a Python function decorated with :func:`step`. Its identity in the lake is its
``name``; its output is a derived asset ``<first source>_<label>_<YYYY-MM-DD>_<HH-MM-SS>``; its
``version`` and full parameters are recorded in the output's ``processing.json``, and a new version
or other parameters make every source due again.

>>> @step(label="spikes", version="1.0.0", sources={"modality": "ecephys", "level": "raw"},
...       parameters=SpikeParameters)                                    # doctest: +SKIP
... def spikes(job: JobContext) -> dict:
...     traces = job.read_nwb(job.source)...
...     job.output.write_array("spikes.zarr", "times", times)
...     return {"spikes": int(times.size)}
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any

from assetlake.errors import UsageError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from assetlake.builder import AssetBuilder
    from assetlake.catalogue import Record
    from assetlake.store import Store

#: The filters of ``Catalogue.find`` a source selector (and ``populate --where``) may use.
FIND_FILTERS = (
    "subject",
    "modality",
    "project",
    "after",
    "before",
    "level",
    "derived_from",
    "species",
    "genotype",
    "text",
)
#: Filters on record fields that ``find`` has no keyword for, applied to its results.
RECORD_FILTERS = ("label",)
SELECTOR_KEYS = FIND_FILTERS + RECORD_FILTERS
#: Record fields a multi-source step may group its sources by.
GROUP_FIELDS = ("subject_id", "project", "source")
_NAME = re.compile(r"^[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*$")


@dataclass
class JobContext:
    """What a step's function gets: its sources, its parameters and the output being built."""

    sources: list[Record]
    parameters: BaseModel
    output: AssetBuilder
    store: Store

    @property
    def source(self) -> Record:
        """The first source, the one the output is named after."""
        return self.sources[0]

    def url(self, record: Record, path: str) -> str:
        """The fsspec URL of ``path`` inside a source, for zarr or hdmf-zarr to read in place."""
        return self.store.fsspec_url(f"{record.name}/{path}")

    def open_zarr(self, record: Record, path: str) -> Any:
        """A Zarr group or array of a source, opened read-only in place."""
        import zarr

        options = self.store.storage_options
        return zarr.open(self.url(record, path), mode="r", **_options(options))

    def read_nwb(self, record: Record, path: str = "ecephys.nwb.zarr") -> Any:
        """An hdmf-zarr reader of a source's NWB-Zarr file (use it as a context manager)."""
        from hdmf_zarr.nwb import NWBZarrIO

        return NWBZarrIO(self.url(record, path), mode="r", **_options(self.store.storage_options))


def _options(options: dict[str, Any]) -> dict[str, Any]:
    return {"storage_options": options} if options else {}


StepFunction = Callable[[JobContext], "dict[str, Any] | None"]
KeyMaker = Callable[[Iterable[str]], str]


@dataclass(frozen=True)
class Step:
    """A declared step; call :meth:`parameters_of` for validated parameters."""

    name: str
    label: str
    version: str
    function: StepFunction
    sources: Mapping[str, Any] = field(default_factory=dict)
    parameters: type[BaseModel] | None = None
    group_by: str | None = None
    description: str = ""

    @property
    def reference(self) -> str:
        """The import path a worker process resolves the step by (the decorated name)."""
        return f"{self.function.__module__}:{self.function.__name__}"

    @property
    def code(self) -> str:
        """Where the function lives, ``module:qualname``."""
        return f"{self.function.__module__}:{self.function.__qualname__}"

    def parameters_of(self, values: Mapping[str, Any] | BaseModel | None = None) -> BaseModel:
        """The step's parameters model filled from ``values`` (defaults for the rest)."""
        from pydantic import BaseModel, ValidationError, create_model

        model = self.parameters or create_model(f"{self.name}-parameters")
        if isinstance(values, BaseModel):
            if not isinstance(values, model):
                raise UsageError(
                    f"step {self.name}: parameters must be a {model.__name__}, not "
                    f"{type(values).__name__}"
                )
            return values
        try:
            return model(**dict(values or {}))
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "parameters"
            raise UsageError(
                f"step {self.name}: parameter {where}: {first['msg']}; see 'assetlake steps' "
                "for the step's parameters"
            ) from None

    def selector_text(self) -> str:
        """The source selector as ``find`` options read, for ``assetlake steps``."""
        parts = [f"{key}={_show(value)}" for key, value in self.sources.items()]
        if self.group_by:
            parts.append(f"grouped by {self.group_by}")
        return " ".join(parts) or "(every asset)"


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def step(
    *,
    label: str,
    version: str,
    sources: Mapping[str, Any],
    parameters: type[BaseModel] | None = None,
    group_by: str | None = None,
    name: str | None = None,
) -> Callable[[StepFunction], Step]:
    """Declare a step: ``sources`` takes ``find``'s filters (plus ``label`` of the source);
    ``group_by`` (a record field such as ``subject_id``) makes one job of every group."""

    def declare(function: StepFunction) -> Step:
        declared = Step(
            name=name or label,
            label=label,
            version=version,
            function=function,
            sources=dict(sources),
            parameters=parameters,
            group_by=group_by,
            description=(function.__doc__ or "").strip().split("\n")[0],
        )
        check_step(declared)
        return declared

    return declare


def check_step(declared: Step) -> None:
    """Refuse a declaration that could never run: bad name or label, unknown filter or group."""
    for what, value in (("name", declared.name), ("label", declared.label)):
        if not _NAME.match(value):
            raise UsageError(
                f"step {declared.name!r}: {what} {value!r} must be letters, digits and inner '-' "
                "(it becomes part of asset names and job keys)"
            )
    check_selector(declared.sources, f"step {declared.name}")
    if declared.group_by is not None and declared.group_by not in GROUP_FIELDS:
        raise UsageError(
            f"step {declared.name}: group_by {declared.group_by!r} is not known; use one of "
            f"{', '.join(GROUP_FIELDS)}"
        )


def check_selector(selector: Mapping[str, Any], what: str) -> None:
    unknown = [key for key in selector if key not in SELECTOR_KEYS]
    if unknown:
        raise UsageError(
            f"{what}: unknown filter {unknown[0]!r}; use one of {', '.join(SELECTOR_KEYS)}"
        )


#: One encoder for every key: building one per call costs more than the encoding.
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode


def canonical(value: Any) -> str:
    """The JSON a job key hashes a value as: sorted keys, no spaces (so ``5`` and ``5.0`` differ)."""
    return _encode(value)


def key_maker(step_name: str, version: str, parameters: Mapping[str, Any]) -> KeyMaker:
    """The job key function of one (step, version, parameters): the SHA-256 of the canonical JSON
    ``{"parameters", "sources" (sorted), "step", "version"}``, with everything but the sources
    encoded once (the to-do list computes it for every source of the lake)."""
    head = '{"parameters":' + canonical(parameters) + ',"sources":'
    tail = ',"step":' + canonical(step_name) + ',"version":' + canonical(version) + "}"

    def key(sources: Iterable[str]) -> str:
        # The JSON of a list of strings, spelled out: the same bytes as _encode, in C per name.
        text = head + "[" + ",".join(map(encode_basestring_ascii, sorted(sources))) + "]" + tail
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    return key


def job_key(step_name: str, version: str, parameters: Mapping[str, Any], sources: list[str]) -> str:
    """The identity of a job: (step, version, full parameters, sorted sources), hashed."""
    return key_maker(step_name, version, parameters)(sources)
