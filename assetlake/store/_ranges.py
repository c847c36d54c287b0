"""Listing a large lake in parallel over name ranges, so that listing does not serialise a crawl.

S3 lists 1,000 names per request, one page after another: 1,000 pages (30 s at 30 ms) for a
million assets. Ranges are listed at once instead: each range ``(after, upto]`` starts with
``StartAfter=after``; a range that fills its page is split into smaller ranges at points between
its last name and its end, concentrated under the common prefix of the names seen (a lab's names
share long prefixes such as ``ecephys_6``), so the split adapts to any distribution of names.
A small lake costs its one plain request. The result is exactly the plain listing: same names,
same order (ranges are disjoint and kept in order).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

#: ``page(after) -> (up to a page of names greater than after, in order; whether more follow)``.
Page = Callable[[str], tuple[list[str], bool]]
#: Pieces a full range is split into.
FAN = 8
_LOW, _HIGH = 0x20, 0x7E  # split points use printable ASCII only
_BASE = _HIGH - _LOW + 1
#: Sorts after every name (the largest code point), bounding "everything under a prefix".
_TOP = "\U0010ffff"


def list_in_ranges(page: Page, workers: int = 32) -> list[str]:
    """Every name ``page`` can list, in order, with up to ``workers`` pages in flight."""
    names, more = page("")
    if not more or not names:
        return names
    chunks: dict[str, list[str]] = {"": names}
    with ThreadPoolExecutor(workers, thread_name_prefix="assetlake-list") as pool:
        pending: set[Future[list[tuple[str, str | None]]]] = set()

        def submit(after: str, upto: str | None, first: str) -> None:
            for low, high in _split(after, upto, first):
                pending.add(pool.submit(one, low, high))

        def one(after: str, upto: str | None) -> list[tuple[str, str | None]]:
            found, more = page(after)
            kept = [name for name in found if after < name and (upto is None or name <= upto)]
            chunks[after] = kept
            if more and kept and (upto is None or found[-1] < upto):
                return _split(kept[-1], upto, kept[0])
            return []

        submit(names[-1], None, names[0])
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                for low, high in future.result():
                    pending.add(pool.submit(one, low, high))
    return [name for after in sorted(chunks) for name in chunks[after]]


def _split(after: str, upto: str | None, first: str) -> list[tuple[str, str | None]]:
    """Disjoint ranges covering ``(after, upto]``: FAN pieces under the prefix ``after`` shares
    with ``first`` (where the next names most likely are), and one range for the rest."""
    common = _common(first, after)
    bound = common + _TOP if common else None
    if upto is not None and (bound is None or bound > upto):
        bound = upto
    width = len(_common(after, bound or "")) + 3
    low = _number(after, width)
    high = _number(bound, width) if bound is not None else _BASE**width - 1
    points = sorted({_text(low + (high - low) * step // FAN, width) for step in range(1, FAN)})
    points = [p for p in points if after < p and (bound is None or p < bound)]
    edges = [after, *points, bound]
    ranges: list[tuple[str, str | None]] = [
        (edges[i], edges[i + 1])
        for i in range(len(edges) - 1)  # type: ignore[misc]
    ]
    if bound is not None and (upto is None or bound < upto):
        ranges.append((bound, upto))
    return ranges


def _number(text: str, width: int) -> int:
    value = 0
    for position in range(width):
        code = ord(text[position]) if position < len(text) else _LOW
        value = value * _BASE + min(max(code, _LOW), _HIGH) - _LOW
    return value


def _text(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, _BASE)
        digits.append(chr(_LOW + digit))
    return "".join(reversed(digits))


def _common(a: str, b: str) -> str:
    """The longest string both start with (character by character, as S3 compares keys)."""
    size = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        size += 1
    return a[:size]
