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

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from .results import Segment
from .segment import segment

__all__ = ["reusing", "segments_of", "key_rows", "MAX_CHARS"]

# about 25-50 MB held at most (a text of generated articles keeps ~2x its size in segments and keys)
MAX_CHARS = 25_000_000
SEGMENT_CHARS = 100  # what a Segment object costs, in characters


class _Store:
    def __init__(self) -> None:
        self.segments: dict[str, list[Segment]] = {}
        self.keys: dict[tuple[str, str], bytes] = {}  # a row of key hashes, as bytes
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


def key_rows(texts: Sequence[str], sites: Sequence[str],
             compute: Callable[[list[str], list[str]], np.ndarray]) -> np.ndarray:
    """``compute(texts, sites)`` (one row of repetition key hashes per segment text, uint64),
    each row kept within ``reusing()``: only the texts not seen before are computed."""
    store = _STORE.get()
    if store is None or not texts:
        return compute(list(texts), list(sites))
    pairs = list(zip(texts, sites))
    rows = [store.keys.get(pair) for pair in pairs]
    missing = [i for i, row in enumerate(rows) if row is None]
    if missing:
        found = compute([texts[i] for i in missing], [sites[i] for i in missing])
        for i, row in zip(missing, found):
            rows[i] = row = row.tobytes()
            cost = len(texts[i]) + len(row)
            if store.size + cost <= MAX_CHARS:
                store.keys[pairs[i]] = row
                store.size += cost
        if len(missing) == len(rows):
            return found
    return np.frombuffer(b"".join(rows), dtype=np.uint64).reshape(len(rows), len(rows[0]) // 8)
