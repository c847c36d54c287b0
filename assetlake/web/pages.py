"""The HTML pages: search, one asset, one subject, the lake overview; each a shareable URL.

Every page has a JSON twin under ``/api/``. Templates auto-escape every value (see ``app``), so
metadata from the lake is only ever text on a page, never markup, a script or a link scheme.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from assetlake.errors import AssetLakeError, AssetNotFoundError, QueryError
from assetlake.web.api import checked_name, error_status, search
from assetlake.web.overview import COLUMNS
from assetlake.web.params import (
    find_command,
    form_fields,
    kept_fields,
    link,
    paged,
    parse_query,
)
from assetlake.web.site import Site

if TYPE_CHECKING:
    from assetlake.catalogue import Page, Query

PAGE_SIZE = 50
#: Result columns that sort (the table itself is declared in the templates' macros).
SORTABLE = ("name", "subject", "acquired", "size")
#: At most this many derived assets are listed for figures on one page.
FIGURE_ASSETS = 12
SUBJECT_ASSETS = 1000
_OPENERS = {
    "zarr": 'zarr.open("{url}", mode="r")',
    "ome-zarr": 'zarr.open("{url}", mode="r")',
    "nwb-zarr": 'NWBZarrIO("{url}", mode="r").read()',
}
_IMPORTS = {
    "zarr": "import zarr",
    "ome-zarr": "import zarr",
    "nwb-zarr": "from hdmf_zarr import NWBZarrIO",
}


def _site(request: Request) -> Site:
    return request.app.state.site


def render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    site = _site(request)
    context.update(request=request, notice=site.notice, lake=site.lake)
    return request.app.state.templates.TemplateResponse(
        request, template, context, status_code=status
    )


def failure(request: Request, error: AssetLakeError) -> Response:
    return render(request, "error.html", error_status(error), message=str(error))


def search_page(request: Request) -> Response:
    try:
        asked = parse_query(request.query_params.multi_items())
        query = paged(asked, PAGE_SIZE)
        page = search(_site(request), query)
    except AssetLakeError as error:
        return render(
            request,
            "search.html",
            error_status(error),
            message=str(error),
            records=[],
            **_search_links(None, None),
        )
    return render(request, "search.html", records=page.records, **_search_links(asked, page))


def _search_links(asked: Query | None, page: Page | None) -> dict[str, Any]:
    """The form, sort headers, first/next pages, the JSON twin and the ``find`` command."""
    controls = {"fields": form_fields(asked), "kept": kept_fields(asked)}
    if asked is None or page is None:
        return {**controls, "sort_links": {}, "next": None, "start": None, "sort": "acquired",
                "api": "/api/assets", "command": "assetlake find"}  # fmt: skip
    fresh = replace(asked, cursor=None)
    sort_links = {
        key: link("/", fresh, sort=f"-{key}" if asked.sort == key else key) for key in SORTABLE
    }
    query = paged(asked, PAGE_SIZE)
    return {
        **controls,
        "sort": asked.sort,
        "sort_links": sort_links,
        "next": link("/", asked, cursor=page.cursor) if page.cursor else None,
        "start": link("/", fresh) if asked.cursor else None,
        "api": link("/api/assets", query),
        "command": find_command(replace(query, cursor=None)),
    }


def asset_page(request: Request) -> Response:
    site = _site(request)
    try:
        name = checked_name(request.path_params["name"])
        with site.catalogue() as catalogue:
            record = catalogue.get(name)
            if record is None:
                raise AssetNotFoundError(
                    f"asset {name} is not in the catalogue; search for it on the search page"
                )
            lineage = catalogue.lineage(name)
    except AssetLakeError as error:
        return failure(request, error)
    descendants = _names(lineage.descendants)[1:]
    figured = ([name] if record.level == "derived" else []) + descendants[: FIGURE_ASSETS - 1]
    figures = [(owner, info) for owner in figured for info in site.figures(owner)]
    sources = list(getattr(record, "sources", None) or ([record.source] if record.source else []))
    sidecars = {key: value for key, value in record.metadata.items() if isinstance(value, dict)}
    return render(
        request,
        "asset.html",
        record=record,
        lineage=lineage,
        sources=sources,
        figures=figures,
        sidecars=sidecars,
        raw={
            key: json.dumps(value, indent=2, ensure_ascii=False) for key, value in sidecars.items()
        },
        snippets=open_snippets(record),
        commands=[
            f"assetlake show {name}",
            f"assetlake lineage {name}",
            f"assetlake find --derived-from {name}",
        ],
    )


def _names(node: Any) -> list[str]:
    """Names of a lineage tree, depth first (the node itself first)."""
    return [node.name, *(n for child in node.children for n in _names(child))]


def open_snippets(record: Any) -> list[str]:
    """Copy-paste Python that opens each readable entry in place (no assetlake needed)."""
    snippets = []
    for entry in record.contents:
        fmt = entry.get("format") if isinstance(entry, dict) else None
        if fmt in _OPENERS and isinstance(entry.get("path"), str):
            url = f"{record.url}/{entry['path']}"
            snippets.append(f"{_IMPORTS[fmt]}\n{_OPENERS[fmt].format(url=url)}")
    return snippets


def subject_page(request: Request) -> Response:
    site = _site(request)
    subject = request.path_params["subject_id"]
    try:
        if not subject or len(subject) > 200 or any(c in subject for c in "*?"):
            raise QueryError(f"subject id {subject!r} must be one exact id, without '*' or '?'")
        with site.catalogue() as catalogue:
            records = catalogue.find(subject=subject, limit=SUBJECT_ASSETS)
    except AssetLakeError as error:
        return failure(request, error)
    if not records:
        return failure(
            request,
            AssetNotFoundError(
                f"subject {subject} has no assets in the catalogue; search on the search page"
            ),
        )
    derived = [r.name for r in records if r.level == "derived"][-FIGURE_ASSETS:]
    figures = [(owner, info) for owner in derived for info in site.figures(owner)]
    days: dict[str, list[Any]] = {}
    for record in records:
        days.setdefault((record.acquired or "unknown")[:10], []).append(record)
    return render(
        request,
        "subject.html",
        subject=subject,
        records=records,
        days=days,
        figures=figures,
        truncated=len(records) == SUBJECT_ASSETS,
    )


def overview_page(request: Request) -> Response:
    try:
        with _site(request).catalogue() as catalogue:
            tallies = catalogue.counts()
            recent = catalogue.find(sort="-acquired", limit=10)
            invalid = catalogue.find(invalid=True, limit=50)
            total = catalogue.count()
    except AssetLakeError as error:
        return failure(request, error)
    months = tallies["month"]
    peak = max((n for _, n in months), default=1)
    return render(
        request,
        "overview.html",
        tallies=tallies,
        recent=recent,
        invalid=invalid,
        total=total,
        months=months,
        peak=peak,
        jobs=_site(request).jobs,
        job_columns=COLUMNS,
    )


ROUTES = [
    Route("/", search_page),
    Route("/assets/{name}", asset_page),
    Route("/subjects/{subject_id}", subject_page),
    Route("/overview", overview_page),
]
