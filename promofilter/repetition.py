"""Batch repetition: how many documents of a batch contain each segment, as features.

Trailers are templates: a site glues the same line, or the same line with another title, URL or
number, onto many of its articles, while article sentences rarely repeat. In a batch, each
segment gets counts of the *other* documents that contain its normal form (lower-cased, digits
and URLs masked) and its template (names, titles, numbers, URLs and handles masked too, see
``mining.template_of``), in the whole batch and among the documents of its own site.

Counting is a separate first pass (``RepetitionCounter.add``), so the counts, and therefore the
output, are the same however the batch is later split into chunks, jobs or partitions. Counters
of parts merge (``merge``) before they are frozen. Keys are 64-bit hashes of the forms, each
document contributing a key once; memory is bounded by the number of distinct keys (the raw keys
are folded into (key, count) arrays every ``COMPACT_EVERY`` keys).

>>> counter = RepetitionCounter()
>>> counter.add(["Rates rose. The post Rates rose appeared first on Ledger.",
...              "Oil fell. The post Oil fell appeared first on Ledger."])
>>> counts = counter.freeze()
>>> counts.documents
2
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from . import native
from .mining import template_of
from .reuse import key_rows, segments_of

__all__ = ["RepetitionCounter", "RepetitionCounts", "normal_form", "REPETITION_FEATURE_NAMES",
           "repetition_features", "split_key_ranges", "add_up_key_range"]

REPETITION_FEATURE_NAMES = (
    "rep_batch", "rep_norm_docs", "rep_tmpl_docs", "rep_norm_site", "rep_tmpl_site",
    "rep_tmpl_site_share", "rep_norm_site_share", "rep_log_site_docs", "rep_prefix_site_share",
    "rep_suffix_site_share", "rep_doc_share",
)
# a segment's start and end make its prefix and suffix keys: "Related: {headline}" and
# "{caption}. Source: {provider}" repeat at one end even when titles do not fold. The prefix is a
# leading label ("Magazine:", "ALSO READ -") when there is one, else the first words.
AFFIX_WORDS = 2
_LABEL = re.compile(r"^\W*((?:\S+ ){0,3}?\S*?)\s*[:|»›>–—-]+(?:\s|$)")
COMPACT_EVERY = 500_000
# distinct keys a counter holds in memory (12 bytes each) before it spills them to disk
MAX_KEYS_IN_MEMORY = 2_000_000
# a document count fits in 32 bits (four billion documents); keys are 64-bit hashes
COUNT_DTYPE = np.uint32
# spilled runs are indexed by a grid of equal key ranges; they are added up a few cells at a time
GRID_CELLS = 4096
_GRID_STARTS = np.array([i * (2**64 // GRID_CELLS) for i in range(GRID_CELLS)], dtype=np.uint64)
_RUN_DTYPE = np.dtype([("key", np.uint64), ("count", COUNT_DTYPE)])
N_KEYS = 6

_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_SEP = "\x1f"


def normal_form(text: str) -> str:
    """Lower-cased, whitespace collapsed, URLs and digit runs masked."""
    compiled = native.core()
    found = compiled.normal_form(text) if compiled is not None else None
    if found is not None:  # (None: a URL to mask, done below)
        return found
    t = _URL.sub("u", text.strip()) if ("http" in text or "www." in text) else text.strip()
    return _SPACE.sub(" ", _DIGITS.sub("0", t.lower()))


def _keys(text: str, site: str) -> tuple[str, ...]:
    """The six counted forms of a segment: normal form and template in the batch and in its
    site, and its first and last words in its site."""
    norm = normal_form(text)
    tmpl = template_of(text).lower()
    words = norm.split(" ")
    label = _LABEL.match(norm)
    if label and label.group(1):
        prefix = label.group(1) + ":"
    else:
        prefix = " ".join(words[:AFFIX_WORDS])
    suffix = " ".join(words[-AFFIX_WORDS:])  # a short segment's affixes are the segment itself
    return ("n" + _SEP + norm, "t" + _SEP + tmpl, "n" + _SEP + site + _SEP + norm,
            "t" + _SEP + site + _SEP + tmpl, "p" + _SEP + site + _SEP + prefix, "s" + _SEP + site + _SEP + suffix)


def _key_hashes(texts: list[str], sites: list[str]) -> np.ndarray:
    """``_hash`` of the ``_keys`` of each segment text (with the site at the same place), one row
    of N_KEYS per text; by the compiled core for the texts it restates."""
    out = np.empty((len(texts), N_KEYS), dtype=np.uint64)
    compiled = native.core()
    if compiled is not None:
        done = np.empty(len(texts), dtype=np.uint8)
        compiled.repetition_keys(texts, sites, _LABEL, _HASH_KEY, out, done)
        rest = np.flatnonzero(done == 0).tolist()
    else:
        rest = list(range(len(texts)))
    if rest:
        out[rest] = _hash([key for i in rest for key in _keys(texts[i], sites[i])]).reshape(-1, N_KEYS)
    return out


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


# the key of pandas' string hash (pandas.core.util.hashing._default_hash_key)
_HASH_KEY = b"0123456789123456"


def _hash(strings: list[str]) -> np.ndarray:
    # pandas' hash is a keyed SipHash with a fixed key: stable across processes and runs, unlike
    # Python's hash(); a string holding undecodable input bytes (lone surrogates) is hashed as its
    # raw bytes, so different bytes stay different keys. The compiled core computes the same
    # numbers (workers with and without it count the same keys).
    compiled = native.core()
    if compiled is not None:
        out = np.empty(len(strings), dtype=np.uint64)
        compiled.hash_keys(strings, _HASH_KEY, out)
        return out
    values = np.array([s if s.isascii() or _encodable(s) else s.encode("utf-8", "surrogatepass").decode("latin-1")
                       for s in strings], dtype=object)
    import pandas as pd  # only batch mode hashes: a single text is stripped without pandas

    return pd.util.hash_array(values, categorize=False).astype(np.uint64)


def _site_keys(sites: Sequence[str]) -> np.ndarray:
    """The key of each site's document count (each distinct site hashed once)."""
    distinct = list(dict.fromkeys(sites))
    hashed = dict(zip(distinct, _hash([_SEP + "site" + _SEP + site for site in distinct]).tolist()))
    return np.array([hashed[site] for site in sites], dtype=np.uint64)


def _segment_texts(text: str) -> list[str]:
    return [text[s.content_start:s.content_end] for s in segments_of(text) if s.content_end > s.content_start]


class RepetitionCounts:
    """Frozen document counts of the keys found in two or more documents (a key of one document
    says nothing: its count of *other* documents is 0, as for a key never seen); ``lookup``."""

    def __init__(self, keys: np.ndarray, counts: np.ndarray, documents: int):
        self.keys, self.counts, self.documents = keys, counts, documents

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        if len(self.keys) == 0:
            return np.zeros(len(keys), dtype=np.int64)
        at = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return np.where(self.keys[at] == keys, self.counts[at], 0).astype(np.int64)

    @property
    def nbytes(self) -> int:
        return int(self.keys.nbytes + self.counts.nbytes)


def _fold(keys: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and their summed counts."""
    distinct, inverse = np.unique(keys, return_inverse=True)
    return distinct, np.bincount(inverse.ravel(), weights=counts, minlength=len(distinct)).astype(COUNT_DTYPE)


class RepetitionCounter:
    """Accumulates, for a batch of documents, how many documents contain each key.

    At most ``max_keys`` distinct keys are held in memory; beyond that the sorted counts are
    spilled to a temporary file and counting starts afresh, and ``freeze`` adds the spilled runs
    up one key range at a time. Memory is bounded whatever the batch size; the counts are exact.
    """

    def __init__(self, max_keys: int = MAX_KEYS_IN_MEMORY):
        self.max_keys = max_keys
        self._pending: list[np.ndarray] = []  # keys not yet folded in, with their counts
        self._pending_counts: list[np.ndarray] = []
        self._pending_size = 0
        self._keys = np.zeros(0, dtype=np.uint64)
        self._counts = np.zeros(0, dtype=COUNT_DTYPE)
        self._runs: list[tuple[str, np.ndarray]] = []  # spilled runs sorted by key, with grid offsets
        self._spill_dir = None  # a textio.ScratchDirectory once the counter spills
        self._closed = False
        self.documents = 0

    def add(self, texts: Iterable[str], sites: Iterable[str | None] | None = None) -> None:
        """Count the segments of ``texts`` (with one site, or None, per text)."""
        texts = list(texts)
        sites = [None] * len(texts) if sites is None else list(sites)
        if len(sites) != len(texts):
            raise ValueError("sites must have one entry per text")
        sites = [site or "" for site in sites]
        segment_texts = [_segment_texts(text) for text in texts]
        rows = key_rows(texts, sites, segment_texts, _key_hashes)
        # each document counts a key once: (document, key) pairs, sorted, without repeats; with the
        # keys that count the documents of the batch and of each site
        docs = np.repeat(np.arange(len(texts)), [N_KEYS * len(segs) for segs in segment_texts])
        keys = np.concatenate([rows.ravel(), np.repeat(_hash([_SEP + "site"]), len(texts)),
                               _site_keys(sites)])
        docs = np.concatenate([docs, np.arange(len(texts)), np.arange(len(texts))])
        if len(keys):
            order = np.lexsort((keys, docs))
            keys, docs = keys[order], docs[order]
            first = np.ones(len(keys), dtype=bool)
            first[1:] = (keys[1:] != keys[:-1]) | (docs[1:] != docs[:-1])
            keys = keys[first]
            self._add(keys, np.ones(len(keys), dtype=COUNT_DTYPE))
        self.documents += len(texts)

    def add_counts(self, keys: np.ndarray, counts: np.ndarray, documents: int) -> None:
        """Add the counts of another part of the batch, as ``totals`` gives them (documents not
        counted here)."""
        self._add(np.asarray(keys, dtype=np.uint64), np.asarray(counts, dtype=COUNT_DTYPE))
        self.documents += documents

    def _add(self, keys: np.ndarray, counts: np.ndarray) -> None:
        self._check_open()
        self._pending.append(keys)
        self._pending_counts.append(counts)
        self._pending_size += len(keys)
        if self._pending_size >= COMPACT_EVERY:
            self._compact()

    def _compact(self) -> None:
        if self._pending:
            # fold the pending keys alone, then merge them into the sorted counts: a few copies of
            # the pending keys and one of the counts, where a sort of everything would take six
            keys, counts = _fold(np.concatenate(self._pending), np.concatenate(self._pending_counts))
            self._pending, self._pending_counts, self._pending_size = [], [], 0
            at = np.searchsorted(self._keys, keys)
            found = at < len(self._keys)
            found[found] = self._keys[at[found]] == keys[found]
            self._counts[at[found]] += counts[found]
            new = ~found
            self._keys = np.insert(self._keys, at[new], keys[new])
            self._counts = np.insert(self._counts, at[new], counts[new])
        if len(self._keys) > self.max_keys:
            self._spill()

    def _spill(self) -> None:
        if self._spill_dir is None:
            from .textio import ScratchDirectory

            self._spill_dir = ScratchDirectory("promofilter-counts")
        path = os.path.join(self._spill_dir.name, f"run{len(self._runs)}.bin")
        run = np.empty(len(self._keys), dtype=_RUN_DTYPE)
        run["key"], run["count"] = self._keys, self._counts
        run.tofile(path)
        # where each cell of the key grid starts in this run: ranges are read back by offset
        self._runs.append((path, np.r_[np.searchsorted(self._keys, _GRID_STARTS), len(self._keys)]))
        self._keys, self._counts = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=COUNT_DTYPE)

    def totals(self) -> tuple[np.ndarray, np.ndarray, int]:
        """Every key counted so far with its count (keys of one document too), and the number
        of documents: a part of a batch, to be added to another counter with ``add_counts``. The
        part's keys are all held in memory (spilled runs are read back)."""
        self._check_open()
        self._compact()
        if self._runs:
            self._spill()
            try:
                [(self._keys, self._counts)] = list(_add_up_runs(self._runs, 1, min_count=1))
            finally:
                self._drop_runs()
        return self._keys.copy(), self._counts.copy(), self.documents

    def merge(self, other: "RepetitionCounter") -> "RepetitionCounter":
        """Add the counts of another part of the same batch (documents must not overlap)."""
        self.add_counts(*other.totals())
        return self

    def freeze(self) -> RepetitionCounts:
        """The counts of the keys found in two or more documents."""
        self._check_open()
        self._compact()
        if not self._runs:
            keep = self._counts >= 2
            return RepetitionCounts(self._keys[keep], self._counts[keep], self.documents)
        self._spill()
        try:
            total = sum(int(offsets[-1]) for _, offsets in self._runs)
            # a fold takes ~6 copies of its part: add up key ranges of ~COMPACT_EVERY entries
            n_ranges = max(1, -(-total // COMPACT_EVERY))
            # twice over the runs: first the sizes, then into arrays of the final size (holding
            # every range and then their concatenation would take twice the memory)
            size = sum(len(k) for k, _ in _add_up_runs(self._runs, n_ranges, min_count=2))
            keys, counts = np.empty(size, dtype=np.uint64), np.empty(size, dtype=COUNT_DTYPE)
            at = 0
            for k, c in _add_up_runs(self._runs, n_ranges, min_count=2):
                keys[at:at + len(k)], counts[at:at + len(k)] = k, c
                at += len(k)
        finally:
            self._drop_runs()
        # what is left are the keys of two or more documents: counting on would be wrong
        self._closed = True
        return RepetitionCounts(keys, counts, self.documents)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("this counter spilled to disk and was frozen: it holds only repeated keys now")

    def _drop_runs(self) -> None:
        if self._spill_dir is not None:
            self._spill_dir.cleanup()
        self._spill_dir, self._runs = None, []


def _range_edges(n: int) -> list:
    """``n`` equal ranges of the 64-bit key space (keys are uniform hashes), as bounds for
    ``np.searchsorted``: None for the open ends."""
    edges = [np.uint64(i * (2**64 // n)) for i in range(1, n)]
    return list(zip([None, *edges], [*edges, None]))


def _range_slice(keys: np.ndarray, lo, hi) -> slice:
    return slice(0 if lo is None else int(np.searchsorted(keys, lo)),
                 len(keys) if hi is None else int(np.searchsorted(keys, hi)))


def _add_up_runs(runs: list[tuple[str, np.ndarray]], n_ranges: int,
                 min_count: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Sorted runs on disk added up one key range at a time: (keys, counts) of each range, keys
    counted at least ``min_count`` times only. Ranges are whole cells of the key grid, read with
    plain reads (a memory map would keep every page read resident in this process)."""
    n_ranges = min(n_ranges, GRID_CELLS)
    for r in range(n_ranges):
        first, last = r * GRID_CELLS // n_ranges, (r + 1) * GRID_CELLS // n_ranges
        pieces = []
        for path, offsets in runs:
            a, b = int(offsets[first]), int(offsets[last])
            pieces.append(np.fromfile(path, dtype=_RUN_DTYPE, count=b - a, offset=a * _RUN_DTYPE.itemsize))
        piece = np.concatenate(pieces)
        yield _repeated(piece["key"], piece["count"], min_count)


def _repeated(keys: np.ndarray, counts: np.ndarray, min_count: int = 2) -> tuple[np.ndarray, np.ndarray]:
    keys, counts = _fold(keys, counts)
    keep = counts >= min_count
    return keys[keep], counts[keep]


def split_key_ranges(keys: np.ndarray, counts: np.ndarray, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Sorted (keys, counts) cut into ``n`` key ranges (see ``add_up_key_range``)."""
    return [(keys[sl], counts[sl]) for sl in (_range_slice(keys, lo, hi) for lo, hi in _range_edges(n))]


def add_up_key_range(pieces: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """One key range of several parts' counts added up, keys of two or more documents only: a
    distributed count reduces each range on its own, so no task holds every key."""
    if not pieces:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=COUNT_DTYPE)
    return _repeated(np.concatenate([k for k, _ in pieces]), np.concatenate([c for _, c in pieces]))


def count_batch(texts: Sequence[str], sites: Sequence[str | None] | None = None) -> RepetitionCounts:
    counter = RepetitionCounter()
    counter.add(texts, sites)
    return counter.freeze()


def repetition_features(table, counts: RepetitionCounts | None,
                        sites: Sequence[str | None] | None = None,
                        documents: Sequence[str] | None = None) -> np.ndarray:
    """One row of ``REPETITION_FEATURE_NAMES`` per segment of ``table`` (zeros without counts).
    ``documents``: the texts the table was made of (``doc`` indexes them), whose keys the
    counting pass may have kept (``reuse.key_rows``).

    Counts exclude the segment's own document: a segment alone in the batch scores 0."""
    n = len(table["doc"])
    out = np.zeros((n, len(REPETITION_FEATURE_NAMES)))
    if counts is None or n == 0:
        return out
    docs = np.asarray(table["doc"])
    seg_sites = [((sites[d] if sites is not None else None) or "") for d in docs]
    texts = list(table["text"])
    if documents is None:
        rows = _key_hashes(texts, seg_sites)
    else:
        # each document's segments are contiguous rows of the table, in order
        ends = np.cumsum(np.bincount(docs, minlength=len(documents))).tolist()
        doc_sites = [((sites[d] if sites is not None else None) or "") for d in range(len(documents))]
        rows = key_rows(documents, doc_sites, [texts[a:b] for a, b in zip([0] + ends[:-1], ends)], _key_hashes)
    found = counts.lookup(rows.ravel()).reshape(-1, N_KEYS)
    site_docs = counts.lookup(_site_keys(seg_sites))
    others = np.maximum(found - 1, 0).astype(float)
    site_others = np.maximum(site_docs - 1, 0).astype(float)
    out[:, 0] = 1.0
    out[:, 1:5] = np.log1p(others[:, :4])
    out[:, 5] = others[:, 3] / np.maximum(site_others, 1)
    out[:, 6] = others[:, 2] / np.maximum(site_others, 1)
    out[:, 7] = np.log1p(site_others)
    out[:, 8] = others[:, 4] / np.maximum(site_others, 1)
    out[:, 9] = others[:, 5] / np.maximum(site_others, 1)
    # share of the document's segments found in other documents: near 1 for a syndicated or
    # duplicated story, where repetition says nothing about promos
    repeated = (others[:, 0] > 0).astype(float)
    _, doc_index = np.unique(docs, return_inverse=True)
    per_doc = np.bincount(doc_index, weights=repeated) / np.bincount(doc_index)
    out[:, 10] = per_doc[doc_index]
    return out
