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
        # (document, site): its number of segments and their key hashes, as bytes
        self.keys: dict[tuple[str, str], tuple[int, bytes]] = {}
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


def key_rows(documents: Sequence[str], sites: Sequence[str], segment_texts: Sequence[Sequence[str]],
             compute: Callable[[list[str], list[str]], np.ndarray]) -> np.ndarray:
    """``compute(texts, sites)`` (one row of repetition key hashes per segment text, uint64) of
    the segment texts of every document (``segment_texts``: each document's, in order), each
    with its document's site; each document's rows kept within ``reusing()``: only documents not
    seen before are computed. (Kept per document, not per segment: one lookup a document, and a
    segment's keys cost less to compute again than to look up one by one.)"""
    def flat(which: Sequence[int]) -> tuple[list[str], list[str]]:
        return ([text for d in which for text in segment_texts[d]],
                [sites[d] for d in which for _ in segment_texts[d]])

    store = _STORE.get()
    if store is None or not documents:
        return compute(*flat(range(len(documents))))
    keys = list(zip(documents, sites))
    kept = [store.keys.get(key) for key in keys]
    # a document's kept rows serve only as many segments as it had when they were computed
    blocks = [None if k is None or k[0] != len(texts) else k[1] for k, texts in zip(kept, segment_texts)]
    missing = [d for d, block in enumerate(blocks) if block is None]
    if missing:
        found = compute(*flat(missing))
        at = 0
        for d in missing:
            n = len(segment_texts[d])
            blocks[d] = block = found[at:at + n].tobytes()
            at += n
            cost = len(documents[d]) + len(block)
            if kept[d] is None and store.size + cost <= MAX_CHARS:
                store.keys[keys[d]] = (n, block)
                store.size += cost
        if len(missing) == len(documents):
            return found
    total = sum(map(len, segment_texts))
    if total == 0:
        return compute([], [])
    rows = np.frombuffer(b"".join(blocks), dtype=np.uint64)
    return rows.reshape(total, len(rows) // total)
