"""What batch mode's two passes share: each document is segmented, and each segment's repetition
keys are computed, in the counting pass and again when the document is scored. Within
``reusing()``, the first pass keeps both and the second takes them back (about a fifth of batch
mode's time for an in-memory list).

Each ``reusing()`` block has a store of its own, in a context variable: nothing is kept once the
block ends, and calls in other threads have their own (threads started inside a block share its
store, which is safe: what it holds is a pure function of its keys). It holds what fits in
``MAX_CHARS`` characters (texts, keys, and ``SEGMENT_CHARS`` per segment object); later documents
are computed twice, as without it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from .results import Segment
from .segment import segment

__all__ = ["reusing", "segments_of", "keys_of", "MAX_CHARS"]

# about 25-50 MB held at most (a text of generated articles keeps ~2x its size in segments and keys)
MAX_CHARS = 25_000_000
SEGMENT_CHARS = 100  # what a Segment object costs, in characters


class _Store:
    def __init__(self) -> None:
        self.segments: dict[str, list[Segment]] = {}
        self.keys: dict[tuple[str, str], tuple[str, ...]] = {}
        self.size = 0  # characters held (see MAX_CHARS)


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
        cost = len(text) + SEGMENT_CHARS * len(found)
        if store.size + cost <= MAX_CHARS:
            store.segments[text] = found
            store.size += cost
    return found


def keys_of(text: str, site: str, compute: Callable[[str, str], tuple[str, ...]]) -> tuple[str, ...]:
    """``compute(text, site)`` (a segment's repetition keys), kept within ``reusing()``."""
    store = _STORE.get()
    if store is None:
        return compute(text, site)
    found = store.keys.get((text, site))
    if found is None:
        found = compute(text, site)
        cost = len(text) + sum(map(len, found))
        if store.size + cost <= MAX_CHARS:
            store.keys[(text, site)] = found
            store.size += cost
    return found
