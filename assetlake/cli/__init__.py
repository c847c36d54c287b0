"""The ``assetlake`` command: a thin layer that parses options, calls the library, prints results.

Each command lives in ``cmd_<name>.py``, imports only click and the standard library at the top,
and imports heavy libraries inside its function, so ``assetlake find`` starts in milliseconds.
Library errors become one line on stderr and an exit code; nothing prints a traceback unless
``ASSETLAKE_DEBUG=1``. Everything written, results and errors alike, goes through the one
sanitiser in :mod:`assetlake.cli.output`, so no value from a lake can control the terminal.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from assetlake import __version__
from assetlake.cli.output import one_line, sanitised_output
from assetlake.errors import AssetLakeError

COMMANDS = (
    "name",
    "validate",
    "schema",
    "upload",
    "verify",
    "download",
    "index",
    "find",
    "show",
    "lineage",
    "serve",
    "watch",
    "transfers",
    "steps",
    "populate",
    "jobs",
    "demo",
)


class LazyGroup(click.Group):
    """Loads ``assetlake.cli.cmd_<name>`` only when that command runs (or help is asked for)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module = importlib.import_module(f"assetlake.cli.cmd_{cmd_name}")
        return module.command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="assetlake")
def cli() -> None:
    """assetlake: find, upload and verify immutable neurophysiology data assets in S3.

    \b
    Examples:
      assetlake demo                               # the whole flow on a loopback S3
      assetlake validate examples/ecephys_...      # check an asset folder
      assetlake upload SESSION --lake s3://bucket  # commit it
      assetlake index --lake s3://bucket           # catalogue the lake
      assetlake find --subject 123456 --modality ecephys
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning every failure into one line and an exit code."""
    with sanitised_output():
        _run(argv)


def _run(argv: list[str] | None) -> None:
    try:
        # Without standalone mode click returns ctx.exit()'s code instead of raising it.
        code = cli.main(args=argv, prog_name="assetlake", standalone_mode=False)
    except click.ClickException as error:
        ctx = getattr(error, "ctx", None)
        where = ctx.command_path if ctx else "assetlake"
        hint = f" (see '{where} --help')" if isinstance(error, click.UsageError) else ""
        _fail(f"{where}: error: {error.format_message()}{hint}", error.exit_code)
    except AssetLakeError as error:
        _fail(f"assetlake: error: {error}", error.exit_code)
    except (KeyboardInterrupt, click.Abort):  # click turns Ctrl-C into Abort
        _fail("assetlake: interrupted", 130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    except Exception as error:
        if os.environ.get("ASSETLAKE_DEBUG"):
            raise
        _fail(
            f"assetlake: error: unexpected {type(error).__name__}: {error} "
            "(set ASSETLAKE_DEBUG=1 for the traceback)",
            1,
        )
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    click.echo(one_line(message), err=True)  # one line, whatever a value in it holds
    sys.exit(code)
