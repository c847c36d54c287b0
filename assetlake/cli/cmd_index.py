"""``assetlake index``: crawl a lake into the local catalogue, and optionally publish it."""

from __future__ import annotations

from pathlib import Path

import click

from assetlake.cli.options import catalogue_option, lake_option, workers

#: What Ctrl-C leaves: a crawl is written in one transaction, and published files are replaced
#: with catalogue.json last.
INTERRUPTED = "the catalogue holds the whole crawl or none of it: run the same command again"


@click.command("index")
@lake_option
@catalogue_option
@click.option(
    "--publish",
    is_flag=True,
    help="Also write the catalogue into the lake (assetlake-catalogue/) for everyone to fetch.",
)
@click.option("--full", is_flag=True, help="Re-read every asset, not only the new ones.")
@workers(32, "Concurrent requests.")
def command(
    lake: str | None, catalogue_file: Path | None, publish: bool, full: bool, workers: int
) -> None:
    """Catalogue every committed asset of a lake (only new ones, unless --full).

    \b
    Examples:
      assetlake index --lake s3://my-lab-data
      assetlake index --lake s3://my-lab-data --publish   # share it: find works anywhere
    """
    from assetlake.catalogue import Catalogue, default_catalogue_path
    from assetlake.catalogue.publish import publish_catalogue
    from assetlake.cli.progress import interruptible
    from assetlake.index import index_lake
    from assetlake.store import open_store

    store = open_store(lake)
    path = catalogue_file or default_catalogue_path(store.url)
    with interruptible(INTERRUPTED), Catalogue(path) as catalogue:
        stats = index_lake(store, catalogue, full=full, workers=workers)
        click.echo(stats.line())
        if publish:
            click.echo(publish_catalogue(catalogue, store).line())
