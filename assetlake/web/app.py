"""The Starlette application: routes, templates, static files, figures, and safety headers.

Every response forbids scripts but our own (``script-src 'self'``), framing and MIME sniffing, so
even a value that escaped escaping could not run (the escaping itself is :mod:`html`'s).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from assetlake.errors import AssetLakeError, AssetNotFoundError
from assetlake.web import api, pages
from assetlake.web.html import templates
from assetlake.web.site import Site

HERE = Path(__file__).parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
#: Figures are objects of immutable assets: a browser may keep them for a year.
FIGURE_CACHE = "public, max-age=31536000, immutable"


def figure(request: Request) -> Response:
    """A PNG of a derived asset, read through the store; only paths the asset's listing holds."""
    site: Site = request.app.state.site
    try:
        name = api.checked_name(request.path_params["name"])
        with site.catalogue() as catalogue:
            known = catalogue.get(name) is not None
        found = site.figure(name, request.path_params["path"]) if known else None
    except AssetLakeError as error:
        return pages.failure(request, error)
    if found is None:
        return pages.failure(request, AssetNotFoundError(f"asset {name} has no such figure"))
    info, data = found
    etag = '"' + (info.etag or f"{info.size}").strip('"') + '"'
    headers = {"Cache-Control": FIGURE_CACHE, "ETag": etag}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="image/png", headers=headers)


def not_found(request: Request, exc: Exception) -> Response:
    error = AssetNotFoundError(f"no page at {request.url.path}; start from the search page /")
    if request.url.path.startswith("/api/"):
        return api._json_error(error)
    return pages.failure(request, error)


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every HTTP response (plain ASGI, so streaming is kept)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for header, value in SECURITY_HEADERS.items():
                    headers.setdefault(header, value)
            await send(message)

        await self.app(scope, receive, sending)


def create_app(site: Site) -> Starlette:
    """The site over ``site``; its refresh loop runs while the application does."""

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        site.start()
        try:
            yield
        finally:
            site.stop()

    app = Starlette(
        routes=[
            *api.ROUTES,
            Route("/assets/{name}/figures/{path:path}", figure),
            *pages.ROUTES,
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={404: not_found},
        lifespan=lifespan,
    )
    app.state.site = site
    app.state.templates = templates()

    return app
