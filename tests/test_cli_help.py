"""Every command and option can be learnt from ``--help``: help text, and an example per command."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from assetlake import __version__
from assetlake.cli import COMMANDS
from assetlake.cli import cli as root
from assetlake.units import format_size


def leaf_commands() -> list[tuple[str, click.Command]]:
    found = []
    ctx = click.Context(root)
    for name in COMMANDS:
        command = root.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            found += [(f"{name} {sub}", command.commands[sub]) for sub in command.commands]
        else:
            found.append((name, command))
    return found


@pytest.mark.parametrize(("path", "command"), leaf_commands(), ids=lambda x: str(x))
def test_every_command_and_option_has_help_and_an_example(
    path: str, command: click.Command
) -> None:
    assert command.help and "Example" in command.help, f"assetlake {path} needs an example"
    for param in command.params:
        if isinstance(param, click.Option) and param.name != "help":
            assert param.help, f"assetlake {path} {param.opts[0]} has no help text"


def test_help_lists_every_command_and_version(cli) -> None:
    result = cli("--help")
    assert result.code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.out
    assert cli("--version").out.strip() == f"assetlake, version {__version__}"


def test_unknown_command_and_option_are_one_line(cli) -> None:
    result = cli("frobnicate")
    assert result.code == 2 and result.err.count("\n") == 1
    assert "No such command 'frobnicate'" in result.err
    result = cli("find", "--frobnicate")
    assert result.code == 2 and result.err.count("\n") == 1
    assert result.err.startswith("assetlake find: error: No such option")


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (30_200, "30.2 kB"),
        (3_149_999, "3.1 MB"),
        (2 * 10**12, "2.0 TB"),
    ],
)
def test_sizes_are_shown_in_decimal_units(count: int, shown: str) -> None:
    assert format_size(count) == shown


#: What no command's --help may import (the CLI starts fast; these load inside the commands).
HEAVY = (
    "pydantic",
    "boto3",
    "botocore",
    "s3fs",
    "zarr",
    "numpy",
    "pyarrow",
    "pandas",
    "pynwb",
    "matplotlib",
    "starlette",
    "uvicorn",
    "watchdog",
    "dask",
    "one",
    "tqdm",
    "yaml",
)


def test_every_help_imports_no_heavy_library() -> None:
    """One fresh interpreter asks every command for --help and says what each one pulled in."""
    code = (
        "import sys\n"
        "from assetlake.cli import COMMANDS, main\n"
        f"heavy = {HEAVY!r}\n"
        "for name in COMMANDS:\n"
        "    try:\n"
        "        main([name, '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    found = sorted(m for m in heavy if m in sys.modules)\n"
        "    print(f'{name}: {found}', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.splitlines() == [f"{name}: []" for name in COMMANDS]
