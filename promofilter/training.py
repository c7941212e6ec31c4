"""Training: labelled documents -> segment labels -> a fitted, evaluated PromoFilter.

Documents use the gold shape (``text`` and ``promo_spans``). A segment is labelled promo when
most of its visible characters lie inside promo spans, with the kind of the span covering most
of it. The threshold is chosen on validation documents (never the test split) as the one with
the best F1 whose content loss stays within a budget.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from .evaluate import Metrics, score_documents
from .features import build_table
from .model import PromoClassifier
from .policy import choose_removals
from .results import Kind, StripConfig
from .stripping import PromoFilter

__all__ = ["label_documents", "fit_filter", "scored_documents", "metrics_at", "choose_threshold",
           "evaluate_model", "THRESHOLDS"]

THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.05, 0.96, 0.05))


def label_documents(docs: Sequence[dict]):
    """Segment table and one label (``content`` or a kind) per segment."""
    table, segments = build_table([d["text"] for d in docs])
    # documents that may share articles or promo styles share a group (see corpus.split_folds)
    doc_groups = [str(d.get("group", f"doc{i}")) for i, d in enumerate(docs)]
    table["group"] = [doc_groups[i] for i in table["doc"]]
    labels = []
    for doc, segs in zip(docs, segments):
        text = doc["text"]
        spans = doc.get("promo_spans") or []
        for seg in segs:
            covered: Counter = Counter()
            visible = 0
            for i in range(seg.content_start, seg.content_end):
                if not text[i].isspace():
                    visible += 1
            for s, e, kind in spans:
                lo, hi = max(s, seg.content_start), min(e, seg.content_end)
                if lo < hi:
                    covered[kind] += sum(1 for c in text[lo:hi] if not c.isspace())
            total = sum(covered.values())
            labels.append(covered.most_common(1)[0][0] if visible and total * 2 > visible else Kind.CONTENT.value)
    return table, np.asarray(labels, dtype=object)


def fit_filter(docs: Sequence[dict], threshold: float = 0.5, metadata: dict | None = None,
               **params) -> PromoFilter:
    table, labels = label_documents(docs)
    classifier = PromoClassifier(**params).fit(table, labels)
    return PromoFilter(classifier=classifier, threshold=threshold, metadata=dict(metadata or {}))


def scored_documents(model: PromoFilter, docs: Sequence[dict]):
    """Score every document once so many thresholds can be evaluated cheaply."""
    texts = [d["text"] for d in docs]
    scored = []
    for i in range(0, len(texts), 512):
        scored += model.score_batch(texts[i:i + 512])
    return scored


def metrics_at(docs: Sequence[dict], scored, threshold: float, config: StripConfig | None = None) -> Metrics:
    config = config or StripConfig()
    removed = []
    for doc, (segs, scores, kinds) in zip(docs, scored):
        spans = choose_removals(doc["text"], segs, scores, kinds, config, threshold)
        removed.append([(s.start, s.end) for s in spans if s.removed])
    return score_documents(docs, removed)


def choose_threshold(docs: Sequence[dict], scored, max_content_loss: float = 0.002) -> tuple[float, list]:
    """Best-F1 threshold whose content loss is within budget (else the lowest-loss one)."""
    sweep = [(t, metrics_at(docs, scored, t)) for t in THRESHOLDS]
    ok = [(t, m) for t, m in sweep if m.content_loss <= max_content_loss]
    if ok:
        best = max(ok, key=lambda tm: (tm[1].f1, tm[0]))
    else:
        best = min(sweep, key=lambda tm: (tm[1].content_loss, -tm[0]))
    return best[0], sweep


def evaluate_model(model: PromoFilter, docs: Sequence[dict], threshold: float | None = None,
                   sweep: bool = False) -> dict:
    """A model's figures on gold documents: metrics at ``threshold`` (default: the model's own)
    and, with ``sweep``, at every threshold of ``THRESHOLDS``."""
    scored = scored_documents(model, docs)
    threshold = model.threshold if threshold is None else threshold
    out = {"threshold": threshold, "metrics": metrics_at(docs, scored, threshold).to_dict()}
    if sweep:
        out["sweep"] = [{"threshold": t, **metrics_at(docs, scored, t).to_dict()} for t in THRESHOLDS]
    return out
