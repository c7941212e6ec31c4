"""Evaluation: compare removed spans with gold promo spans, counted on non-whitespace characters.

The metrics follow the team's scorer (``shared/bench/score.py``) for span predictions: recall
and precision over promo characters, content loss over editorial characters, and the share of
documents that lose at least one whole editorial word.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Metrics", "score_documents", "threshold_sweep"]

_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class Metrics:
    precision: float
    recall: float
    f1: float
    content_loss: float
    lossy_docs: float
    docs: int
    promo_chars: int
    content_chars: int
    per_kind_recall: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _mask(n: int, spans: Iterable[Sequence]) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    for s in spans:
        m[s[0]:s[1]] = True
    return m


_WHITESPACE = np.array(sorted(ord(c) for c in map(chr, range(0x3000 + 1)) if c.isspace()), dtype=np.uint32)


def _visible(text: str) -> np.ndarray:
    """True for every non-whitespace character (vectorised over code points)."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return ~np.isin(codes, _WHITESPACE)


def _loses_a_word(text: str, content: np.ndarray, pred: np.ndarray) -> bool:
    """Whether a whole content word (maximal run of visible content chars with a \\w) was removed."""
    if not content.any():
        return False
    padded = np.r_[False, content, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    starts, ends = edges[::2], edges[1::2]
    cumulative = np.r_[0, np.cumsum(pred, dtype=np.int64)]
    removed = cumulative[ends] - cumulative[starts]
    for start, end, r in zip(starts, ends, removed):
        if r == end - start and _WORD.search(text, start, end):
            return True
    return False


def score_documents(docs: Sequence[dict], removed: Sequence[Sequence[Sequence[int]]]) -> Metrics:
    """``docs`` in the gold shape (text, promo_spans); ``removed``: removed (start, end) per doc."""
    tp = fp = content_total = promo_total = lossy = 0
    kind_total: dict[str, int] = defaultdict(int)
    kind_hit: dict[str, int] = defaultdict(int)
    for doc, rem in zip(docs, removed):
        text = doc["text"]
        n = len(text)
        visible = _visible(text)
        gold = _mask(n, doc["promo_spans"])
        pred = _mask(n, rem)
        tp += int((gold & pred & visible).sum())
        fp += int((~gold & pred & visible).sum())
        content = ~gold & visible
        content_total += int(content.sum())
        promo_total += int((gold & visible).sum())
        for s, e, kind in doc["promo_spans"]:
            v = visible[s:e]
            kind_total[kind] += int(v.sum())
            kind_hit[kind] += int((v & pred[s:e]).sum())
        lossy += _loses_a_word(text, content, pred)
    precision = tp / (tp + fp) if tp + fp else (1.0 if promo_total == 0 else 0.0)
    recall = tp / promo_total if promo_total else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Metrics(
        precision=precision, recall=recall, f1=f1,
        content_loss=fp / content_total if content_total else 0.0,
        lossy_docs=lossy / len(docs) if docs else 0.0,
        docs=len(docs), promo_chars=promo_total, content_chars=content_total,
        per_kind_recall={k: kind_hit[k] / kind_total[k] for k in sorted(kind_total) if kind_total[k]},
    )


def threshold_sweep(docs: Sequence[dict], spans_per_doc: Sequence[Sequence], thresholds: Iterable[float],
                    remove_for) -> list[tuple[float, Metrics]]:
    """Metrics at each threshold; ``remove_for(spans, threshold)`` gives the removed ranges."""
    return [(t, score_documents(docs, [remove_for(s, t) for s in spans_per_doc])) for t in thresholds]
