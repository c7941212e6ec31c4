"""Training: labelled documents -> segment labels -> a fitted, evaluated PromoFilter.

Documents use the gold shape (``text`` and ``promo_spans``). A segment is labelled promo when
most of its visible characters lie inside promo spans, with the kind of the span covering most
of it. The threshold is chosen on validation documents (never the test split) as the one with
the best F1 whose content loss stays within a budget.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from contextlib import nullcontext

import numpy as np

from .evaluate import Metrics, score_documents
from .features import build_table
from .model import AveragedClassifier, PromoClassifier
from .policy import choose_removals
from .repetition import REPETITION_FEATURE_NAMES, count_batch, repetition_features
from .results import Kind, StripConfig
from .reuse import reusing
from .stripping import PromoFilter

__all__ = ["MEMBER_KEY", "label_documents", "fit_filter", "scored_documents", "metrics_at", "choose_threshold",
           "run_threshold_for", "evaluate_model", "THRESHOLDS", "THRESHOLD_CHOICES", "RUN_THRESHOLD"]

# The key of a training document naming the member of an averaged model it trains (see fit_filter).
MEMBER_KEY = "_member"
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.05, 0.96, 0.05))
# the thresholds the validation rule chooses from: THRESHOLDS, and every 0.01 above 0.85, where
# the content-loss budget is met and one coarse step (0.90 -> 0.95) cost 0.04-0.08 real-world F1
THRESHOLD_CHOICES = tuple(sorted(set(THRESHOLDS) | {round(0.85 + 0.01 * i, 2) for i in range(1, 15)}))
# A segment right after a removed one, or right before it on its line, is removed from this
# score on (StripConfig.run_threshold: promos come in runs, and the other lines of a run score a
# little under the threshold). Fixed, not chosen on the validation documents: generated
# documents rarely hold runs of mid-score promo lines, so they cannot measure what a run threshold
# is worth (training/README: H, H85 and RL).
RUN_THRESHOLD = 0.85


def add_repetition_features(table, docs: Sequence[dict]) -> None:
    """Batch repetition columns for the segment table of ``docs``: documents with a ``batch`` key
    are counted with the other documents of their batch (per ``site``), the rest are alone."""
    features = np.zeros((len(table), len(REPETITION_FEATURE_NAMES)))
    batches: dict[str, list[int]] = {}
    for i, d in enumerate(docs):
        if d.get("batch") is not None:
            batches.setdefault(str(d["batch"]), []).append(i)
    if batches:
        doc_of_row = table["doc"].to_numpy()
        sites = [d.get("site") if isinstance(d.get("site"), str) else None for d in docs]
        for members in batches.values():
            counts = count_batch([docs[i]["text"] for i in members], [sites[i] for i in members])
            rows = np.flatnonzero(np.isin(doc_of_row, members))
            features[rows] = repetition_features(table.iloc[rows], counts, sites)
    for j, name in enumerate(REPETITION_FEATURE_NAMES):
        table[name] = features[:, j]


def label_documents(docs: Sequence[dict]):
    """Segment table (with batch repetition columns) and one label (``content`` or a kind) per
    segment."""
    table, segments = build_table([d["text"] for d in docs])
    add_repetition_features(table, docs)
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
               members: int = 1, **params) -> PromoFilter:
    """Fit a PromoClassifier on ``docs``; with ``members`` above 1, an AveragedClassifier whose
    member k trains on the documents whose ``MEMBER_KEY`` is k (a build's per-member draws)."""
    table, labels = label_documents(docs)
    if members > 1:
        member_of_doc = np.asarray([d[MEMBER_KEY] for d in docs], dtype=int)
        if set(member_of_doc.tolist()) != set(range(members)):
            raise ValueError(f"documents for {members} members name members {sorted(set(member_of_doc.tolist()))}")
        table["member"] = member_of_doc[table["doc"].to_numpy()]
        classifier = AveragedClassifier(PromoClassifier(**params)).fit(table, labels)
    else:
        classifier = PromoClassifier(**params).fit(table, labels)
    return PromoFilter(classifier=classifier, threshold=threshold, metadata=dict(metadata or {}))


def scored_documents(model: PromoFilter, docs: Sequence[dict], batch: bool = True):
    """Score every document once so many thresholds can be evaluated cheaply.

    Documents with a ``batch`` key are scored in batch mode with the rest of their batch (unless
    ``batch`` is False); the others alone."""
    scored: list = [None] * len(docs)
    groups: dict = {}
    for i, d in enumerate(docs):
        key = d.get("batch") if batch and model.uses_repetition else None
        groups.setdefault(None if key is None else str(key), []).append(i)
    for key, members in groups.items():
        texts = [docs[i]["text"] for i in members]
        sites = [docs[i].get("site") if isinstance(docs[i].get("site"), str) else None for i in members]
        with reusing() if key is not None else nullcontext():  # the counting pass's work serves scoring
            counts = model.count_repetition(texts, sites) if key is not None else None
            for lo in range(0, len(members), 512):
                part = members[lo:lo + 512]
                for i, s in zip(part, model.score_batch(texts[lo:lo + 512], counts, sites[lo:lo + 512])):
                    scored[i] = s
    return scored


def metrics_at(docs: Sequence[dict], scored, threshold: float, config: StripConfig | None = None,
               run_threshold: float | None = None) -> Metrics:
    config = config or StripConfig()
    removed = []
    for doc, s in zip(docs, scored):
        spans = choose_removals(doc["text"], s.segments, s.scores, s.kinds, config, threshold, learned=s.learned,
                                kept=False, run_threshold=run_threshold)
        removed.append([(s.start, s.end) for s in spans if s.removed])
    return score_documents(docs, removed)


def choose_threshold(docs: Sequence[dict], scored, max_content_loss: float = 0.002) -> tuple[float, list]:
    """Best-F1 threshold of ``THRESHOLD_CHOICES`` whose content loss is within budget (else the
    lowest-loss one), and the sweep it was chosen from."""
    sweep = [(t, metrics_at(docs, scored, t)) for t in THRESHOLD_CHOICES]
    ok = [(t, m) for t, m in sweep if m.content_loss <= max_content_loss]
    if ok:
        best = max(ok, key=lambda tm: (tm[1].f1, tm[0]))
    else:
        best = min(sweep, key=lambda tm: (tm[1].content_loss, -tm[0]))
    return best[0], sweep


def run_threshold_for(threshold: float) -> float | None:
    """The run threshold a model with ``threshold`` ships with: ``RUN_THRESHOLD`` when it is
    below the threshold, else None (no runs)."""
    return RUN_THRESHOLD if RUN_THRESHOLD < threshold else None


def evaluate_model(model: PromoFilter, docs: Sequence[dict], threshold: float | None = None,
                   sweep: bool = False) -> dict:
    """A model's figures on gold documents: metrics at ``threshold`` (default: the model's own)
    and, with ``sweep``, at every threshold of ``THRESHOLDS``. Documents with a ``batch`` key are
    scored in batch mode with the rest of their batch."""
    scored = scored_documents(model, docs)
    # as with `strip --threshold`: a threshold of your own is the whole policy (no runs)
    run = model.run_threshold if threshold is None else None
    threshold = model.threshold if threshold is None else threshold
    out = {"threshold": threshold, "metrics": metrics_at(docs, scored, threshold, run_threshold=run).to_dict()}
    if sweep:
        out["sweep"] = [{"threshold": t, **metrics_at(docs, scored, t).to_dict()} for t in THRESHOLDS]
    return out
