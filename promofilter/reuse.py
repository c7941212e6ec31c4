"""What batch mode's two passes share: each document is segmented, and each segment's repetition
keys are computed, in the counting pass and again when the document is scored. Within
``reusing()``, the first pass keeps both and the second takes them back (about a fifth of batch
mode's time for an in-memory list).

The store lives in a context variable: nothing is kept once the ``with`` block ends, and threads
or tasks in batch mode at the same time each have their own. It holds at most ``MAX_SEGMENTS``
segments (about 1 KB each); beyond that, later documents are computed twice, as without it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from .results import Segment
from .segment import segment

__all__ = ["reusing", "segments_of", "keys_of", "MAX_SEGMENTS"]

MAX_SEGMENTS = 100_000


class _Store:
    def __init__(self) -> None:
        self.segments: dict[str, list[Segment]] = {}
        self.keys: dict[tuple[str, str], tuple[str, ...]] = {}
        self.size = 0  # segments held, counting each document's and each key tuple


_STORE: ContextVar[_Store | None] = ContextVar("promofilter_reuse", default=None)


@contextmanager
def reusing() -> Iterator[None]:
    """Keep segments and repetition keys from one pass over the documents for the next."""
    token = _STORE.set(_Store())
    try:
        yield
    finally:
        _STORE.reset(token)


def segments_of(text: str) -> list[Segment]:
    """``segment(text)``, kept within ``reusing()``. The list is shared: do not change it."""
    store = _STORE.get()
    if store is None:
        return segment(text)
    found = store.segments.get(text)
    if found is None:
        found = segment(text)
        if store.size < MAX_SEGMENTS:
            store.segments[text] = found
            store.size += len(found)
    return found


def keys_of(text: str, site: str, compute: Callable[[str, str], tuple[str, ...]]) -> tuple[str, ...]:
    """``compute(text, site)`` (a segment's repetition keys), kept within ``reusing()``."""
    store = _STORE.get()
    if store is None:
        return compute(text, site)
    found = store.keys.get((text, site))
    if found is None:
        found = compute(text, site)
        if store.size < MAX_SEGMENTS:
            store.keys[(text, site)] = found
            store.size += 1
    return found
