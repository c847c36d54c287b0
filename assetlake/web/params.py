"""HTTP query parameters and the catalogue's one :class:`~assetlake.catalogue.Query`: the parser,
the links, the search form and the OpenAPI parameters, all generated from the Query's field
declarations, so the site cannot drift from ``find`` or the Python API.

Repeating a list filter means OR within it, as repeating the CLI option does; empty values (an
empty form field) are ignored. Pages are keyset pages (:meth:`Catalogue.page`): the cursor names
the last asset shown, so a page never repeats or skips an asset however the catalogue grows.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from enum import EnumMeta
from typing import Any
from urllib.parse import urlencode

from assetlake.catalogue.query import DEFAULT_LIMIT, Query

#: The largest page one request may ask for.
MAX_LIMIT = 1000
#: What ``find`` does without the option, so the command leaves it out.
_CLI_DEFAULTS = {"limit": DEFAULT_LIMIT}


def parse_query(pairs: Iterable[tuple[str, str]]) -> Query:
    """The query of a URL's ``(name, value)`` pairs, its limit as given (None when absent);
    raises :class:`QueryError` with a one-line reason."""
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return Query.from_params(params, max_limit=MAX_LIMIT)


def paged(query: Query, limit: int) -> Query:
    """``query`` with ``limit`` unless it names its own."""
    return query if query.limit is not None else replace(query, limit=limit)


def query_string(query: Query, **changes: Any) -> str:
    """``query`` (with ``changes``) as a URL's query string."""
    return urlencode(replace(query, **changes).to_params(), doseq=True)


def link(path: str, query: Query, **changes: Any) -> str:
    """The URL of ``query`` (with ``changes``) at ``path``: what a sort header or a next link is."""
    params = query_string(query, **changes)
    return f"{path}?{params}" if params else path


def find_command(query: Query) -> str:
    """The ``assetlake find`` line that runs the same search in a shell."""
    words = ["assetlake", "find"]
    for spec in fields(Query):
        value = getattr(query, spec.name)
        if not spec.metadata["cli"] or value in (spec.default, _CLI_DEFAULTS.get(spec.name)):
            continue
        if spec.name == "text":
            words += shlex.split(value) if _splits(value) else [value]
            continue
        option = "--" + spec.name.replace("_", "-")
        if value is True:
            words.append(option)
        else:
            for item in value if spec.metadata["many"] else [value]:
                words += [option, str(item)]
    return " ".join(shlex.quote(word) for word in words)


def _splits(text: str) -> bool:
    try:
        shlex.split(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class FormField:
    """One filter as a form control: ``widget`` is search, text, date, select, multiple or
    checkbox; ``value`` what the current query holds (a list for ``multiple``)."""

    name: str
    label: str
    widget: str
    value: Any
    example: str | None
    choices: list[str]


def form_fields(query: Query | None) -> list[FormField]:
    """The search form's controls for every filter of the Query, filled from ``query``."""
    params = query.to_params() if query is not None else {}
    controls = []
    for spec in fields(Query):
        meta = spec.metadata
        if meta["paging"]:
            continue
        choices = [str(c) for c in meta["choices"] or ()]
        if spec.name == "text":
            widget = "search"
        elif spec.type == "bool":
            widget = "checkbox"
        elif choices:
            widget = "multiple" if meta["many"] else "select"
            if isinstance(meta["choices"], dict):
                choices.sort(key=str.lower)
        elif meta["metavar"] == "DATE":
            widget = "date"
        else:
            widget = "text"
        given = params.get(spec.name, [] if widget == "multiple" else "")
        if isinstance(given, list) and widget != "multiple":
            given = given[0] if given else ""
        if widget == "date":
            given = given[:10]
        label = spec.name.replace("_", " ") + (" only" if widget == "checkbox" else "")
        controls.append(FormField(spec.name, label, widget, given, meta["example"], choices))
    return controls


def kept_fields(query: Query | None) -> dict[str, str]:
    """The paging parts a new search from the form keeps (sort and page size), as hidden fields."""
    params = query.to_params() if query is not None else {}
    return {
        spec.name: str(params[spec.name])
        for spec in fields(Query)
        if spec.metadata["paging"] and spec.metadata["cli"] and spec.name in params
    }


def openapi_parameters() -> list[dict[str, Any]]:
    """The search's query parameters as OpenAPI describes them, one per Query field."""
    parameters = []
    for spec in fields(Query):
        meta = spec.metadata
        schema: dict[str, Any] = {"type": "string"}
        if spec.type == "bool":
            schema = {"type": "boolean"}
        elif spec.type == "int | None":
            schema = {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
            schema["default"] = DEFAULT_LIMIT
        elif isinstance(meta["choices"], EnumMeta):
            schema["enum"] = [str(choice) for choice in meta["choices"]]
        if meta["many"]:
            schema = {"type": "array", "items": schema}
        parameters.append(
            {
                "name": spec.name,
                "in": "query",
                "required": False,
                "description": meta["help"],
                "schema": schema,
                "style": "form",
                "explode": True,
            }
        )
    return parameters
