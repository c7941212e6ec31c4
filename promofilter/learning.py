"""Quick corrections, like sa-learn: ``learn`` promo or keep examples, ``forget`` them, and an
incremental retrain that folds them into a model in seconds.

Learned examples are stored as segment rows in ``$PROMOFILTER_HOME/learned.jsonl`` together with
the *base* model they correct (the model that was current when the first one was learned). Every
retrain starts again from that base, so forgetting an example really removes its effect.

The retrain updates stage 1 of the classifier around the base: stage 1 is linear in its features,
so a correction ``w`` is fitted by weighted logistic regression with the base model's margins as
a fixed offset and an L2 prior that keeps ``w`` near zero, then added to the base coefficients.
The learned rows are weighted up; a replay of segments from freshly generated corpus documents
(labels known) holds the model to what it already did right. Stage 2 and the kind model are
kept: they read stage 1's score and the segment's context, which do not need relearning.
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .results import Kind
from .textio import write_text

__all__ = ["LearnedSample", "learned_store", "learned_samples", "add_learned", "forget_learned",
           "retrain_with", "LEARNED_WEIGHT"]

# Each learned row weighs as much as this many replayed rows: a handful of examples must move
# the model, and the replay must still hold the rest of it in place.
LEARNED_WEIGHT = 25.0
PRIOR = 1.0  # L2 strength of the correction, relative to one replayed row
REPLAY_DOCS = 300
# words or bigrams found in more than this share of replayed segments are not corrected
MAX_REPLAY_DF = 0.001


@dataclass(frozen=True)
class LearnedSample:
    text: str
    label: str  # "promo" or "content"
    kind: str  # a promo kind for promo rows, "content" otherwise
    learned_at: str

    def to_dict(self) -> dict:
        return {"text": self.text, "label": self.label, "kind": self.kind, "learned_at": self.learned_at}


def learned_store() -> Path:
    from .registry import models_root

    return models_root().parent / "learned.jsonl"


def _read_store() -> tuple[str | None, list[LearnedSample]]:
    path = learned_store()
    if not path.is_file():
        return None, []
    base, samples = None, []
    for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if "base" in row:
                base = row["base"]
            else:
                samples.append(LearnedSample(row["text"], row["label"], row["kind"], row.get("learned_at", "")))
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{path}:{no}: not a learned example ({type(e).__name__}: {e}); "
                             "fix or delete that line") from None
    return base, samples


def _write_store(base: str | None, samples: list[LearnedSample]) -> None:
    path = learned_store()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ([json.dumps({"base": base})] if base else []) + [json.dumps(s.to_dict(), ensure_ascii=False) for s in samples]
    write_text(str(path), "".join(line + "\n" for line in lines))


def learned_samples() -> tuple[str | None, list[LearnedSample]]:
    """(the base model path, the learned samples), oldest first."""
    return _read_store()


def add_learned(texts: list[str], label: str, kind: str | None, base: str) -> list[LearnedSample]:
    """Store examples (``label`` promo or content); ``base`` is recorded with the first ones."""
    if label not in ("promo", "content"):
        raise ValueError("label must be promo or content")
    if label == "promo":
        kind = Kind(kind or "ad").value
        if kind == Kind.CONTENT.value:
            raise ValueError("a promo example needs a promo kind")
    else:
        kind = Kind.CONTENT.value
    stored_base, samples = _read_store()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    added = []
    for text in texts:
        if not text.strip():
            raise ValueError("an empty example teaches nothing")
        # the newest label of a text wins: learning it again replaces the old row
        samples = [s for s in samples if s.text.strip() != text.strip()]
        added.append(LearnedSample(text.strip(), label, kind, stamp))
    samples += added
    _write_store(stored_base or base, samples)
    return added


def forget_learned(texts: list[str] | None) -> tuple[str | None, list[LearnedSample], int]:
    """Remove the given examples (all of them with None); returns (base, remaining, removed)."""
    base, samples = _read_store()
    if texts is None:
        kept = []
    else:
        wanted = {t.strip() for t in texts}
        kept = [s for s in samples if s.text not in wanted]
    _write_store(base if kept else None, kept)
    return base, kept, len(samples) - len(kept)


def _replay_documents(n_docs: int, seed: int) -> list[dict]:
    from .corpus import generate, load_corpus

    return generate(load_corpus(), n_docs, seed=seed, prefix="replay")


def _sample_documents(samples: list[LearnedSample]) -> list[dict]:
    """Each learned row as a one-segment document, the shape training labels."""
    return [{"text": s.text, "promo_spans": [[0, len(s.text), s.kind]] if s.label == "promo" else []}
            for s in samples]


def _fit_correction(Z, y, offset, weights, prior: float) -> np.ndarray:
    """Minimise sum(weights * logloss(y, offset + Z w)) + prior/2 |w|^2 over w.

    No intercept: a correction must only move segments that share words with the examples."""
    from scipy.optimize import minimize

    sign = 2.0 * y - 1.0

    def loss(w):
        margin = sign * (offset + Z @ w)
        # log(1 + exp(-m)) and its derivative, stably
        value = np.logaddexp(0.0, -margin)
        g = -sign * weights / (1.0 + np.exp(np.clip(margin, -50, 50)))
        return float((weights * value).sum() + 0.5 * prior * w @ w), Z.T @ g + prior * w

    return minimize(loss, np.zeros(Z.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 300}).x


def _correct_stage1(clf, table, y: np.ndarray, weights: np.ndarray, n_replay: int) -> None:
    """Add to ``clf``'s stage-1 word weights a correction fit on ``table`` (replay rows first)."""
    Z, _ = clf._features(table)
    Z = Z.tocsr()
    stage1 = clf.stage1_
    offset = stage1.decision_function(Z)
    # only the hashed word columns are corrected, not the shape columns after them: a correction
    # is about wording, and must not shift every segment of a shape
    words = Z[:, :clf.n_features].tocsc()
    # ... and only the words and bigrams of the examples that are rare in ordinary text: common
    # words ("in", "since", "has been") stay as the base model weighs them
    replay_df = np.diff(words[:n_replay].tocsc().indptr) / max(n_replay, 1)
    in_examples = np.diff(words[n_replay:].tocsc().indptr) > 0
    columns = np.flatnonzero(in_examples & (replay_df <= MAX_REPLAY_DF))
    w = _fit_correction(words[:, columns].tocsr(), y, offset, weights, PRIOR)
    stage1 = copy.deepcopy(stage1)
    stage1.coef_ = stage1.coef_.copy()
    stage1.coef_[0, columns] += w
    clf.stage1_ = stage1


def retrain_with(base, samples: list[LearnedSample], seed: int = 0, replay_docs: int = REPLAY_DOCS):
    """A copy of ``base`` (a PromoFilter) whose stage 1 is corrected by ``samples``."""
    from .stripping import MEMORY_KEY, PromoFilter
    from .training import label_documents

    model = copy.deepcopy(base)
    clf = model.classifier = model.estimator()
    if not samples:
        return model
    replay = _replay_documents(replay_docs, seed)
    table, labels = label_documents(replay + _sample_documents(samples))
    y = (labels != Kind.CONTENT.value).astype(float)
    n_replay = int((table["doc"] < len(replay)).sum())
    weights = np.ones(len(y))
    weights[n_replay:] = LEARNED_WEIGHT
    # an averaged model's members are each corrected the same way, from their own scores
    for member in getattr(clf, "members_", None) or [clf]:
        _correct_stage1(member, table, y, weights, n_replay)
    model.metadata = dict(model.metadata)
    # ... and remembered as they are: lines worded like an example are decided like it even where
    # stage 2's context keeps the corrected score low (see promofilter.memory)
    model.metadata[MEMORY_KEY] = [{"text": s.text, "label": s.label, "kind": s.kind} for s in samples]
    model.metadata["learned"] = {"samples": len(samples), "promo": sum(s.label == "promo" for s in samples),
                                 "content": sum(s.label == "content" for s in samples),
                                 "replay_docs": replay_docs, "weight": LEARNED_WEIGHT}
    return PromoFilter(classifier=clf, threshold=model.threshold, metadata=model.metadata,
                       run_threshold=model.run_threshold)


EVAL_DOCS = 300
EVAL_SEED = 7919  # held-out documents: another seed than the replay's


def apply_learned(base_path: str, samples: list[LearnedSample], max_loss_rise: float = 0.0005,
                  force: bool = False, command: str = "") -> dict:
    """Retrain ``base_path``'s model with ``samples``, measure it beside its base on held-out
    generated documents, write it as a new version, and make it current unless it loses more
    article text than the base (beyond ``max_loss_rise``) or misses its own examples, or
    ``force``. Returns a summary: version name and path, metrics, verdict, made_current."""
    from . import load_model
    from .card import write_card
    from .persist import save_model
    from .registry import new_version_dir, set_current
    from .training import metrics_at, scored_documents

    started = time.time()
    base = load_model(base_path)
    model = retrain_with(base, samples)
    held_out = [d for d in _replay_documents(EVAL_DOCS, EVAL_SEED)]
    before = metrics_at(held_out, scored_documents(base, held_out), base.threshold,
                        run_threshold=base.run_threshold).to_dict()
    after = metrics_at(held_out, scored_documents(model, held_out), model.threshold,
                       run_threshold=model.run_threshold).to_dict()
    # each example on its own, as a trailer line after an ordinary paragraph
    misses = []
    for s in samples:
        lo = len(EXAMPLE_CONTEXT)
        own = [sp for sp in model.detect(EXAMPLE_CONTEXT + s.text + "\n") if sp.end > lo]
        if not own or any(sp.removed != (s.label == "promo") for sp in own):
            misses.append(s.text)
    verdict = f"{len(misses)} example(s) not handled as taught" if misses else None
    if after["content_loss"] > before["content_loss"] + max_loss_rise:
        verdict = (f"it loses more article text than its base ({after['content_loss']:.4%} > "
                   f"{before['content_loss']:.4%} + {max_loss_rise:.4%})")
    out = new_version_dir()
    # the base's card describes the base: keep its provenance, not its measurements
    card = {k: v for k, v in model.metadata.items()
            if k not in ("realworld", "test_batch_documents", "metrics", "parent", "out_dir", "plots")}
    card.update(
        command=command, trained_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        train_seconds=round(time.time() - started, 1), threshold=model.threshold,
        parent={"path": str(base_path), "threshold": base.threshold, "test": before},
        metrics={"note": f"held-out: {EVAL_DOCS} generated documents (seed {EVAL_SEED}), base and new model",
                 "test": after},
        learned_examples=[s.to_dict() for s in samples], examples_missed=misses,
    )
    model.metadata = dict(card)
    save_model(model, out)
    write_card(out, card, plots=False)
    made_current = force or verdict is None
    if made_current:
        set_current(out.name)
    return {"name": out.name, "path": str(out), "before": before, "after": after, "verdict": verdict,
            "made_current": made_current, "misses": misses, "seconds": round(time.time() - started, 1)}


EXAMPLE_CONTEXT = ("The council approved the budget on Tuesday after a long debate about road repairs.\n"
                   "Members said the plan would be reviewed again in the spring.\n")
