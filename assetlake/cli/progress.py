"""The one progress bar: the library reports :class:`~assetlake.progress.Progress`, the CLI draws
it (a tqdm bar of bytes with a file count, imported only when a bar is shown)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from assetlake.cli.output import drawing_stream

if TYPE_CHECKING:
    from assetlake.progress import Progress


class ProgressBar:
    """A callable for a ``progress=`` callback (upload, download); a bar appears with the first
    report of each asset and closes when the next asset starts or the block ends."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._name: str | None = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def __call__(self, state: Progress) -> None:
        if self._bar is None or state.name != self._name:
            from tqdm import tqdm

            if self._bar is not None:
                self._bar.close()
            self._name = state.name
            self._bar = tqdm(
                total=state.bytes_total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=state.name,  # a validated asset name, safe for the raw stream
                file=drawing_stream(),
                dynamic_ncols=True,
            )
        self._bar.update(state.bytes_done - self._bar.n)
        self._bar.set_postfix_str(f"{state.files_done}/{state.files_total} files", refresh=False)


@contextlib.contextmanager
def transfer(show: bool | None, interrupted: str) -> Iterator[ProgressBar | None]:
    """A bar when ``show`` (default: when stderr is a terminal), and Ctrl-C ending the command
    as :func:`interruptible` does."""
    if show is None:
        show = sys.stderr.isatty()
    with interruptible(interrupted), ProgressBar() if show else contextlib.nullcontext() as bar:
        yield bar


@contextlib.contextmanager
def interruptible(interrupted: str) -> Iterator[None]:
    """Ctrl-C ending the command with exit 130 and one line saying what state it leaves."""
    try:
        yield
    except (KeyboardInterrupt, click.Abort):
        click.echo(f"assetlake: interrupted; {interrupted}", err=True)
        raise SystemExit(130) from None
