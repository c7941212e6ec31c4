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


def score_documents(docs: Sequence[dict], removed: Sequence[Sequence[Sequence[int]]]) -> Metrics:
    """``docs`` in the gold shape (text, promo_spans); ``removed``: removed (start, end) per doc."""
    tp = fp = fn = content = promo = lossy = 0
    kind_total: dict[str, int] = defaultdict(int)
    kind_hit: dict[str, int] = defaultdict(int)
    for doc, rem in zip(docs, removed):
        text = doc["text"]
        n = len(text)
        visible = np.array([not c.isspace() for c in text], dtype=bool) if n else np.zeros(0, bool)
        gold = _mask(n, doc["promo_spans"])
        pred = _mask(n, rem)
        tp += int((gold & pred & visible).sum())
        fp += int((~gold & pred & visible).sum())
        fn += int((gold & ~pred & visible).sum())
        content += int((~gold & visible).sum())
        promo += int((gold & visible).sum())
        for s, e, kind in doc["promo_spans"]:
            v = visible[s:e]
            kind_total[kind] += int(v.sum())
            kind_hit[kind] += int((v & pred[s:e]).sum())
        # a content word (run of visible non-promo chars with a word char) removed entirely
        lost = False
        run_start = None
        for i in range(n + 1):
            inside = i < n and visible[i] and not gold[i]
            if inside and run_start is None:
                run_start = i
            elif not inside and run_start is not None:
                if pred[run_start:i].all() and _WORD.search(text, run_start, i):
                    lost = True
                    break
                run_start = None
        lossy += lost
    precision = tp / (tp + fp) if tp + fp else (1.0 if promo == 0 else 0.0)
    recall = tp / promo if promo else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Metrics(
        precision=precision, recall=recall, f1=f1,
        content_loss=fp / content if content else 0.0,
        lossy_docs=lossy / len(docs) if docs else 0.0,
        docs=len(docs), promo_chars=promo, content_chars=content,
        per_kind_recall={k: kind_hit[k] / kind_total[k] for k in sorted(kind_total) if kind_total[k]},
    )


def threshold_sweep(docs: Sequence[dict], spans_per_doc: Sequence[Sequence], thresholds: Iterable[float],
                    remove_for) -> list[tuple[float, Metrics]]:
    """Metrics at each threshold; ``remove_for(spans, threshold)`` gives the removed ranges."""
    return [(t, score_documents(docs, [remove_for(s, t) for s in spans_per_doc])) for t in thresholds]
