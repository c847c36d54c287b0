"""Options shared by several commands, declared once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from assetlake.catalogue import Catalogue

F = TypeVar("F", bound=Callable[..., Any])

lake_option = click.option(
    "--lake",
    envvar="ASSETLAKE_LAKE",
    metavar="URL",
    help="The lake: s3://bucket[/prefix] or a local folder (default: $ASSETLAKE_LAKE). "
    "Example: --lake s3://my-lab-data",
)
#: The most of anything ``--workers`` runs at once.
MAX_WORKERS = 1024


def workers(
    default: int | None = None,
    help: str = "Objects in flight at once [default: on S3, the hundreds of requests that hide "
    "its latency; on a local lake, 16]. Large files stream at most 16 at once, each sending its "
    "parts in parallel.",
) -> Callable[[F], F]:
    """``--workers N`` (1 to :data:`MAX_WORKERS`); each command says what it runs at once."""
    return click.option(
        "--workers",
        type=click.IntRange(1, MAX_WORKERS),
        default=default,
        show_default=default is not None,
        metavar="N",
        help=help,
    )


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
catalogue_option = click.option(
    "--catalogue",
    "catalogue_file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="The SQLite catalogue file, instead of the lake's own under $ASSETLAKE_CACHE. "
    "Example: --catalogue lab.sqlite",
)


def open_catalogue(catalogue_file: Path | None, lake: str | None) -> Catalogue:
    """The catalogue a command reads: ``--catalogue FILE``, else the lake's (fetched if needed)."""
    from assetlake.catalogue import Catalogue, default_catalogue_path
    from assetlake.errors import UsageError

    if catalogue_file is not None:
        catalogue = Catalogue(catalogue_file, readonly=True)
        if lake:
            try:
                catalogue.check_lake(lake)
            except UsageError:
                catalogue.close()
                raise
        return catalogue
    if not lake:
        raise UsageError(
            "no catalogue given: pass --lake URL (or set ASSETLAKE_LAKE) or --catalogue FILE"
        )
    from assetlake.catalogue.publish import ensure_catalogue

    path = ensure_catalogue(lake, default_catalogue_path(lake))
    return Catalogue(path, readonly=True)
