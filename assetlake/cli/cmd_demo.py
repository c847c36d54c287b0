"""``assetlake demo``: the whole flow on a loopback S3 server (or any lake), printed as it runs."""

from __future__ import annotations

import shlex
import time

import click


@click.command("demo")
@click.option(
    "--lake",
    metavar="URL",
    help="Run against this lake instead of a loopback S3 "
    "server, e.g. --lake /tmp/demo-lake or --lake s3://my-test-bucket.",
)
@click.option(
    "--keep",
    is_flag=True,
    help="Leave the loopback S3 server and lake up after the "
    "demo and print how to query them; stop with Ctrl-C.",
)
@click.option(
    "--serve",
    is_flag=True,
    help="Afterwards keep the website (assetlake serve) up on the demo lake, on a free port "
    "of 127.0.0.1; stop with Ctrl-C.",
)
def command(lake: str | None, keep: bool, serve: bool) -> None:
    """Upload, derive, index, find, verify and open assets, with no setup and no cloud account.

    Starts an S3 endpoint on 127.0.0.1 (a moto server it owns and stops), creates the bucket
    assetlake-demo, and runs the flow a lab runs. Takes well under a minute.

    \b
    Examples:
      assetlake demo
      assetlake demo --lake /tmp/demo-lake     # a local folder lake
      assetlake demo --keep                    # then query it from another shell
      assetlake demo --serve                   # then browse it
    """
    from assetlake.cli import cli
    from assetlake.demo import (
        DEMO_BUCKET,
        LOOPBACK_ENV,
        demo_lake,
        environment,
        run_demo,
        work_folder,
    )
    from assetlake.errors import AssetLakeError

    def run(args: list[str]) -> int:
        # Plain text: every byte written passes the sanitiser (cli/output.py), which shows escapes.
        click.echo(f"   $ assetlake {shlex.join(args)}")
        try:
            return cli.main(args=args, prog_name="assetlake", standalone_mode=False) or 0
        except AssetLakeError as error:
            click.echo(f"   assetlake: error: {error}")
            return error.exit_code

    started = time.perf_counter()
    with demo_lake(lake) as (url, endpoint), work_folder() as work:
        where = f" (moto S3 server on {endpoint})" if endpoint else ""
        click.echo(f"assetlake demo: the life of an asset in {url}{where}")
        with environment({"ASSETLAKE_CACHE": str(work / "cache")}):
            run_demo(url, work, click.echo, run)
            if serve:
                click.echo("\nThe lake's website, until Ctrl-C:")
                run(["serve", "--lake", url, "--port", "0", "--refresh", "0"])
        click.echo(f"\ndone in {time.perf_counter() - started:.1f} s")
        if keep:
            exports = {**LOOPBACK_ENV, "AWS_ENDPOINT_URL": endpoint} if endpoint else {}
            exports["ASSETLAKE_LAKE"] = url
            click.echo("\nThe lake stays up until Ctrl-C. In another shell:")
            click.echo("  export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in exports.items()))
            click.echo("  assetlake find --modality ecephys")
            click.echo(
                "  assetlake show $(assetlake find --level derived --format names | head -1)"
            )
            if endpoint:
                click.echo(f"  aws --endpoint-url {endpoint} s3 ls s3://{DEMO_BUCKET}/")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                click.echo("stopped")
