"""Listing a large lake in parallel over name ranges, so that listing does not serialise a crawl.

S3 lists 1,000 names per request, one page after another: 1,000 pages (30 s at 30 ms) for a
million assets. Ranges are listed at once instead: each range ``(after, upto]`` starts with
``StartAfter=after``; a range that fills its page is followed by ranges as wide as the names its page
covered (measured over the characters the names use), so ranges hold about a page each where the
names are as dense, and the split adapts to any distribution of names.
A small lake costs its one plain request. The result is exactly the plain listing: same names,
same order (ranges are disjoint and kept in order).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait

from assetlake.store._pool import Pool

#: ``page(after) -> (up to a page of names greater than after, in order; whether more follow)``.
Page = Callable[[str], tuple[list[str], bool]]
#: Pieces a full range is split into.
FAN = 8
#: Sorts after every name (the largest code point), bounding "everything under a prefix".
_TOP = "\U0010ffff"


def list_in_ranges(page: Page, workers: int = 32) -> list[str]:
    """Every name ``page`` can list, in order, with up to ``workers`` pages in flight."""
    names, more = page("")
    if not more or not names:
        return names
    chunks: dict[str, list[str]] = {"": names}
    with Pool(workers, "assetlake-list") as pool:  # Ctrl-C never waits for a held page

        def one(after: str, upto: str | None) -> list[tuple[str, str | None]]:
            found, more = page(after)
            kept = [name for name in found if after < name and (upto is None or name <= upto)]
            chunks[after] = kept
            if more and kept and (upto is None or found[-1] < upto):
                return _split(kept[0], kept[-1], upto)
            return []

        pending: set[Future[list[tuple[str, str | None]]]] = {
            pool.submit(one, low, high) for low, high in _split(names[0], names[-1], None)
        }
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                for low, high in future.result():
                    pending.add(pool.submit(one, low, high))
    return [name for after in sorted(chunks) for name in chunks[after]]


def _split(first: str, last: str, upto: str | None) -> list[tuple[str, str | None]]:
    """Disjoint ranges covering ``(last, upto]`` after a full page ``first..last``: FAN - 1 ranges
    as wide as that page (so about a page each where the names are as dense), then the rest.
    Widths are measured over the characters the names use, so a lake of digits is not split
    into ranges of letters that hold nothing."""
    alphabet = sorted(set(first + last + (upto or "")))
    width = len(_common(first, last)) + 3
    low, high = _number(first, width, alphabet), _number(last, width, alphabet)
    step = max(high - low, 1)
    points = [_text(high + step * j, width, alphabet) for j in range(1, FAN)]
    edges = [last]
    for point in points:
        if point > edges[-1] and (upto is None or point < upto):
            edges.append(point)
    return [*itertools.pairwise(edges), (edges[-1], upto)]


def _number(text: str, width: int, alphabet: list[str]) -> int:
    """``text`` as a number in base ``len(alphabet)``: monotone, so order is kept."""
    value, base = 0, len(alphabet)
    for position in range(width):
        digit = bisect.bisect_right(alphabet, text[position]) - 1 if position < len(text) else 0
        value = value * base + max(digit, 0)
    return value


def _text(value: int, width: int, alphabet: list[str]) -> str:
    base, digits = len(alphabet), []
    for _ in range(width):
        value, digit = divmod(value, base)
        digits.append(alphabet[digit])
    if value:  # past the largest number of this width: beyond every name of the alphabet
        return alphabet[-1] * width + _TOP
    return "".join(reversed(digits))


def _common(a: str, b: str) -> str:
    """The longest string both start with (character by character, as S3 compares keys)."""
    size = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        size += 1
    return a[:size]
