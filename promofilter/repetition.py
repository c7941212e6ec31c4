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

import re
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from .mining import template_of

__all__ = ["RepetitionCounter", "RepetitionCounts", "normal_form", "REPETITION_FEATURE_NAMES",
           "repetition_features"]

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
COMPACT_EVERY = 1_000_000
N_KEYS = 6

_URL = re.compile(r"(?:https?://|www\.)\S+", re.I)
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
_SEP = "\x1f"


def normal_form(text: str) -> str:
    """Lower-cased, whitespace collapsed, URLs and digit runs masked."""
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


def _encodable(s: str) -> bool:
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _hash(strings: list[str]) -> np.ndarray:
    # pandas' hash is a keyed SipHash with a fixed key: stable across processes and runs, unlike
    # Python's hash(); a string holding undecodable input bytes (lone surrogates) is hashed as its
    # raw bytes, so different bytes stay different keys
    values = np.array([s if s.isascii() or _encodable(s) else s.encode("utf-8", "surrogatepass").decode("latin-1")
                       for s in strings], dtype=object)
    return pd.util.hash_array(values, categorize=False).astype(np.uint64)


def _segment_texts(text: str) -> list[str]:
    from .segment import segment

    return [text[s.content_start:s.content_end] for s in segment(text) if s.content_end > s.content_start]


class RepetitionCounts:
    """Frozen document counts of keys; look up with ``features``."""

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


class RepetitionCounter:
    """Accumulates, for a batch of documents, how many documents contain each key."""

    def __init__(self):
        self._pending: list[np.ndarray] = []  # keys not yet folded in, with their counts
        self._pending_counts: list[np.ndarray] = []
        self._pending_size = 0
        self._keys = np.zeros(0, dtype=np.uint64)
        self._counts = np.zeros(0, dtype=np.int64)
        self.documents = 0

    def add(self, texts: Iterable[str], sites: Iterable[str | None] | None = None) -> None:
        """Count the segments of ``texts`` (with one site, or None, per text)."""
        texts = list(texts)
        sites = [None] * len(texts) if sites is None else list(sites)
        if len(sites) != len(texts):
            raise ValueError("sites must have one entry per text")
        strings: list[str] = []
        for text, site in zip(texts, sites):
            site = site or ""
            # a set: each document counts a key once
            keys = {_SEP + "site", _SEP + "site" + _SEP + site}
            for seg in _segment_texts(text):
                keys.update(_keys(seg, site))
            strings += keys
        self.documents += len(texts)
        if not strings:
            return
        keys = _hash(strings)
        self._pending.append(keys)
        self._pending_counts.append(np.ones(len(keys), dtype=np.int64))
        self._pending_size += len(keys)
        if self._pending_size >= COMPACT_EVERY:
            self._compact()

    def add_counts(self, keys: np.ndarray, counts: np.ndarray, documents: int) -> None:
        """Add the frozen counts of another part of the batch (``RepetitionCounts.keys`` and
        ``.counts`` of documents not counted here)."""
        self._pending.append(np.asarray(keys, dtype=np.uint64))
        self._pending_counts.append(np.asarray(counts, dtype=np.int64))
        self._pending_size += len(keys)
        self.documents += documents
        if self._pending_size >= COMPACT_EVERY:
            self._compact()

    def _compact(self) -> None:
        if self._pending:
            self._fold(np.concatenate(self._pending), np.concatenate(self._pending_counts))
            self._pending, self._pending_counts, self._pending_size = [], [], 0

    def _fold(self, keys: np.ndarray, counts: np.ndarray) -> None:
        all_keys = np.concatenate([self._keys, keys])
        self._keys, inverse = np.unique(all_keys, return_inverse=True)
        weights = np.concatenate([self._counts, counts])
        self._counts = np.bincount(inverse.ravel(), weights=weights, minlength=len(self._keys)).astype(np.int64)

    def merge(self, other: "RepetitionCounter") -> "RepetitionCounter":
        """Add the counts of another part of the same batch (documents must not overlap)."""
        other._compact()
        self._compact()
        self._fold(other._keys, other._counts)
        self.documents += other.documents
        return self

    def freeze(self) -> RepetitionCounts:
        self._compact()
        return RepetitionCounts(self._keys.copy(), self._counts.copy(), self.documents)


def count_batch(texts: Sequence[str], sites: Sequence[str | None] | None = None) -> RepetitionCounts:
    counter = RepetitionCounter()
    counter.add(texts, sites)
    return counter.freeze()


def repetition_features(table: pd.DataFrame, counts: RepetitionCounts | None,
                        sites: Sequence[str | None] | None = None) -> np.ndarray:
    """One row of ``REPETITION_FEATURE_NAMES`` per segment of ``table`` (zeros without counts).

    Counts exclude the segment's own document: a segment alone in the batch scores 0."""
    out = np.zeros((len(table), len(REPETITION_FEATURE_NAMES)))
    if counts is None or len(table) == 0:
        return out
    docs = table["doc"].to_numpy()
    seg_sites = [((sites[d] if sites is not None else None) or "") for d in docs]
    strings = []
    for text, site in zip(table["text"], seg_sites):
        strings += _keys(text, site)
    found = counts.lookup(_hash(strings)).reshape(-1, N_KEYS)
    site_docs = counts.lookup(_hash([_SEP + "site" + _SEP + s for s in seg_sites]))
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
