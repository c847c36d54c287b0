"""The one sanitiser of everything the CLI writes for people.

Values come from sidecars that careless or hostile tools wrote. A control character that reaches
a terminal is an instruction to it: OSC 52 writes the clipboard, OSC 0 sets the window title,
CSI sequences clear the screen or move the cursor to forge lines, a bare CR overwrites a line, C1
controls do the same in one byte, and bidi overrides reorder what is read (the set is
:data:`assetlake.document.UNSAFE`, which strict validation also refuses). So :func:`main`
routes stdout and stderr through :class:`Sanitised` for the whole run, piped or not: whatever
path a value takes (a table, ``show``, a lineage tree, a problem, an error message), it arrives
as a visible ``\\u001b`` and never as the character. ``\\uXXXX`` is also a valid JSON escape,
so a JSON document stays valid and decodes to the original value.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

from assetlake.document import UNSAFE, UNSAFE_CHARACTERS

#: :data:`~assetlake.document.UNSAFE` and also line breaks and tabs, for a value printed inside
#: one line.
UNSAFE_IN_LINE = re.compile(f"[\t\n{UNSAFE_CHARACTERS}]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def clean(text: str) -> str:
    """``text`` with every unsafe character written as a visible ``\\uXXXX`` escape."""
    return UNSAFE.sub(_escape, text)


def one_line(value: object) -> str:
    """A value for one line of output: :func:`clean`, and its own line breaks and tabs escaped
    too, so a value cannot forge another line of the output."""
    return UNSAFE_IN_LINE.sub(_escape, str(value))


def sources_text(names: Sequence[str]) -> str:
    """A job's first source and how many more, so that a job stays one line."""
    more = f" (+{len(names) - 1} more)" if len(names) > 1 else ""
    return (names[0] if names else "?") + more


class Sanitised:
    """A text stream that cleans what is written to it, otherwise the stream it wraps."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(clean(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        # flush, isatty, fileno, encoding...; never a binary buffer, which would bypass clean().
        if name == "buffer":
            raise AttributeError(name)
        return getattr(self.stream, name)


@contextlib.contextmanager
def sanitised_output() -> Iterator[None]:
    """Route ``sys.stdout`` and ``sys.stderr`` through :class:`Sanitised` for the block."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Sanitised(saved[0]), Sanitised(saved[1])  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def drawing_stream() -> TextIO:
    """stderr as it is, for the CLI's own progress drawing (which needs its carriage returns);
    only text the CLI composed from validated names may be written to it."""
    stream = sys.stderr
    return stream.stream if isinstance(stream, Sanitised) else stream


def end_output() -> None:
    """End stdout early: a reader of the pipe (``| head``, ``$(...)``) sees the end of the
    output while the command goes on with work that prints nothing (a catalogue build)."""
    sys.stdout.flush()
    try:
        if sys.stdout.fileno() != 1:
            return
    except (AttributeError, OSError, ValueError):  # not a file (tests capture it); nothing to end
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
    finally:
        os.close(null)
