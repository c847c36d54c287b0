"""The JSON API under ``/api/``: the search ``assetlake find --format json`` runs, one asset, its
lineage, and the OpenAPI document that describes them.

A search's body is byte for byte what ``find --format json`` prints for the same filters; the page
after it is named by the ``Link: <…>; rel="next"`` header (and ``X-Next-Cursor``), so the body
stays that list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from assetlake import __version__
from assetlake.catalogue.query import DEFAULT_LIMIT
from assetlake.errors import AssetLakeError, AssetNotFoundError, CatalogueError, UsageError
from assetlake.jsontext import indented
from assetlake.naming import parse_name
from assetlake.web.overview import MAX_SHOWN
from assetlake.web.params import openapi_parameters, paged, parse_query, query_string
from assetlake.web.site import Site

if TYPE_CHECKING:
    from assetlake.catalogue import Catalogue, Page, Query


def search(site: Site, query: Query) -> Page:
    """One page of records and the cursor of the next."""
    with site.catalogue() as catalogue:
        return catalogue.page(query)


def checked_name(name: str) -> str:
    """A name from a URL, refused unless the grammar accepts it (no way to other objects)."""
    parse_name(name)
    return name


def error_status(error: AssetLakeError) -> int:
    """The HTTP status of a library error: the request's fault, a missing asset, or ours."""
    if isinstance(error, AssetNotFoundError):
        return 404
    if isinstance(error, UsageError | ValueError):
        return 400
    if isinstance(error, CatalogueError):
        return 503
    return 502


def _json_error(error: AssetLakeError) -> JSONResponse:
    return JSONResponse({"error": str(error)}, status_code=error_status(error))


def _site(request: Request) -> Site:
    return request.app.state.site


def assets(request: Request) -> Response:
    try:
        query = paged(parse_query(request.query_params.multi_items()), DEFAULT_LIMIT)
        page = search(_site(request), query)
    except AssetLakeError as error:
        return _json_error(error)
    body = indented([record.without_metadata() for record in page.records]) + "\n"
    headers = {}
    if page.cursor is not None:
        url = request.url.replace(query=query_string(query, cursor=page.cursor))
        headers = {"Link": f'<{url}>; rel="next"', "X-Next-Cursor": page.cursor}
    return Response(body, media_type="application/json", headers=headers)


def _named(request: Request, read: Callable[[Catalogue, str], Any]) -> Response:
    """The JSON of ``read(catalogue, name)`` for the asset the URL names."""
    try:
        name = checked_name(request.path_params["name"])
        with _site(request).catalogue() as catalogue:
            found = read(catalogue, name)
    except AssetLakeError as error:
        return _json_error(error)
    return JSONResponse(found.to_dict())


def _record(catalogue: Catalogue, name: str) -> Any:
    record = catalogue.get(name)
    if record is None:
        raise AssetNotFoundError(f"asset {name} is not in the catalogue; search with /api/assets")
    return record


def asset(request: Request) -> Response:
    return _named(request, _record)


def lineage(request: Request) -> Response:
    return _named(request, lambda catalogue, name: catalogue.lineage(name))


def overview(request: Request) -> Response:
    """The overview page's data: counts, and the open populate jobs (null without a lake)."""
    site = _site(request)
    try:
        with site.catalogue() as catalogue:
            body = {"total": catalogue.count(), "counts": catalogue.counts()}
    except AssetLakeError as error:
        return _json_error(error)
    body["jobs"] = site.jobs.to_dict() if site.jobs is not None else None
    return JSONResponse(body)


def openapi(request: Request) -> Response:
    return JSONResponse(openapi_document())


def openapi_document() -> dict[str, Any]:
    """The API described for clients and generators, its search parameters generated from the
    :class:`Query` declarations."""
    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "An asset name, e.g. ecephys_123456_2024-03-01_14-05-09",
    }
    error = {
        "description": "One line saying what is wrong",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    parameters = openapi_parameters()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "assetlake",
            "version": __version__,
            "description": "Read-only search of a lake's catalogue of data assets.",
        },
        "paths": {
            "/api/assets": {
                "get": {
                    "summary": "Search assets (the result of `assetlake find --format json`)",
                    "parameters": parameters,
                    "responses": {
                        "200": {
                            "description": "Matching asset summaries; a Link header with rel=next "
                            "(and X-Next-Cursor) names the next page when there is one",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Asset"},
                                    }
                                }
                            },
                        },
                        "400": error,
                    },
                }
            },
            "/api/assets/{name}": {
                "get": {
                    "summary": "One asset with its whole metadata document",
                    "parameters": [name],
                    "responses": {
                        "200": {
                            "description": "The asset's record",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Asset"}
                                }
                            },
                        },
                        "400": error,
                        "404": error,
                    },
                }
            },
            "/api/overview": {
                "get": {
                    "summary": "Asset counts by modality, project, month and status, and the "
                    f"lake's pending and failed populate jobs ({MAX_SHOWN} listed, all counted)",
                    "responses": {
                        "200": {
                            "description": "total, counts and jobs (null when the site reads "
                            "a catalogue file, not a lake)",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                    },
                }
            },
            "/api/assets/{name}/lineage": {
                "get": {
                    "summary": "Where the asset comes from and the tree of its root "
                    "(`assetlake lineage --json`)",
                    "parameters": [name],
                    "responses": {
                        "200": {
                            "description": "ancestors and tree",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "400": error,
                        "404": error,
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "Asset": {
                    "type": "object",
                    "required": ["name", "url", "level", "status"],
                    "properties": {
                        "name": {"type": "string"},
                        "url": {"type": "string"},
                        "level": {"enum": ["raw", "derived"]},
                        "status": {"type": "string"},
                    },
                    "additionalProperties": True,
                },
            }
        },
    }


ROUTES = [
    Route("/api/assets", assets),
    Route("/api/assets/{name}/lineage", lineage),
    Route("/api/assets/{name}", asset),
    Route("/api/overview", overview),
    Route("/api/openapi.json", openapi),
]
