"""What batch mode's two passes share: each document is segmented, and each segment's repetition
keys are computed, in the counting pass and again when the document is scored. Within
``reusing()``, the first pass keeps both and the second takes them back (about a fifth of batch
mode's time for an in-memory list).

Each ``reusing()`` block has a store of its own, in a context variable: nothing is kept once the
block ends, and calls in other threads have their own (threads started inside a block share its
store, which is safe: what it holds is a pure function of its keys). It holds what fits in
``MAX_CHARS`` characters (texts, keys, and ``SEGMENT_CHARS`` per segment object); later documents
are computed twice, as without it. Keys are kept per document (one block of rows), segments per
text.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from .results import Segment
from .segment import segment

__all__ = ["reusing", "active", "segments_of", "document_key_rows", "MAX_CHARS"]

# about 25-50 MB held at most (a text of generated articles keeps ~2x its size in segments and keys)
MAX_CHARS = 25_000_000
SEGMENT_CHARS = 100  # what a Segment object costs, in characters


class _Store:
    def __init__(self) -> None:
        self.segments: dict[str, list[Segment]] = {}
        self.keys: dict[tuple[str, str], bytes] = {}  # a document's rows of key hashes, as bytes
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


def active() -> bool:
    """Whether a ``reusing()`` block is open here (else nothing is kept)."""
    return _STORE.get() is not None


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


def document_key_rows(texts: Sequence[str], sites: Sequence[str], n_keys: int,
                      segment_texts: Callable[[int], list[str]],
                      compute: Callable[[list[str], list[str]], np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """The rows of ``n_keys`` repetition key hashes (uint64) of every segment of ``texts``, in
    order, and each text's number of rows: ``compute`` over ``segment_texts(i)`` (the non-empty
    segment texts of ``texts[i]``) with its site. Within ``reusing()`` each document's rows are
    kept as one block, so the second pass looks up a document, not each of its segments (a lookup
    per segment cost about as much as computing the keys again)."""
    store = _STORE.get()
    blocks = [None] * len(texts) if store is None else [store.keys.get(pair) for pair in zip(texts, sites)]
    missing = [i for i, block in enumerate(blocks) if block is None]
    if missing:
        pieces = [segment_texts(i) for i in missing]
        found = compute([seg for segs in pieces for seg in segs],
                        [sites[i] for i, segs in zip(missing, pieces) for _ in segs])
        if len(missing) == len(blocks) and store is None:
            return found, [len(segs) for segs in pieces]
        raw, pos, width = found.tobytes(), 0, 8 * n_keys
        for i, segs in zip(missing, pieces):
            blocks[i] = block = raw[pos:pos + width * len(segs)]
            pos += len(block)
            pair = (texts[i], sites[i])
            cost = len(texts[i]) + len(block)
            if store is not None and pair not in store.keys and store.size + cost <= MAX_CHARS:
                store.keys[pair] = block
                store.size += cost
        if len(missing) == len(blocks):
            return found, [len(segs) for segs in pieces]
    rows = np.frombuffer(b"".join(blocks), dtype=np.uint64).reshape(-1, n_keys)
    return rows, [len(block) // (8 * n_keys) for block in blocks]
