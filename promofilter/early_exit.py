"""Early exit from stage 2's trees when stripping.

Stripping asks of most segments only whether their score reaches the lowest threshold that can
remove them (``policy.StripNeeds.floor``), and most segments of an article are plainly content
after the first third of the trees. A model's metadata can hold, for a grid of floors, a bound on
the sum of its first trees, calibrated on generated documents: every calibration segment whose
full score reached the floor had a partial sum at least the margin over the bound. When
stripping, a segment whose partial sum is under the bound stops there; its score (that of the
partial sum) is under the floor, so it is kept. Every other segment gets its exact score, so the
scores and kinds reported for what is removed are those of all the trees. Detecting (every
segment's score) never stops early.

The bound is measured, not proven: a segment could stop whose full score would have reached the
floor, and a promo the full model removes would then be kept (never the reverse). The margin
is there for that; ``training/calibrate_early_exit.py`` counts the removals lost on other
generated documents, and a floor that loses any gets no bound (``training/README.md``,
experiments EE and EE2). Bounds belong to one model: they are stored with a fingerprint of it
and ignored by any other.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["EarlyExit", "calibrate", "lost_removals", "EXIT_KEY", "FLOORS", "TREES_SHARE", "MARGIN"]

EXIT_KEY = "early_exit"  # its key in a model's metadata (model.json)
# the floors calibrated: a floor between two uses the bound of the one under it
FLOORS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
TREES_SHARE = 0.3  # of stage 2's trees, summed for every segment
# in log-odds, under the lowest partial sum of a calibration segment that reached the floor
# (experiment EE2 in training/README.md: from generated tuning documents)
MARGIN = 2.5
# a bound stays this far under its floor's log-odds: a partial sum just under a bound at the
# log-odds could round up to the floor itself, and be removed
SLACK = 1e-6


def fingerprint(classifier, trees: int) -> str:
    """What the bounds of a ``scoring.CompiledClassifier`` depend on: stage 2's trees and the
    inputs it is given (stage 1, the scaler, the hashing and shape settings), and how many trees
    are summed before the exit."""
    h = hashlib.sha256()
    stage2, words = classifier.stage2, classifier.words
    for array in (stage2.nodes, stage2.roots, classifier.stage1.coef, classifier.stage1.intercept,
                  classifier.mean, classifier.scale):
        h.update(array.tobytes())
    h.update(repr((float(stage2.baseline), words.n_features, words.tokens.pattern, words.max_n, words.norm,
                   classifier.max_distance, int(trees))).encode())
    return h.hexdigest()


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def _count(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


@dataclass(frozen=True)
class EarlyExit:
    """Calibrated bounds on the sum of stage 2's first ``trees`` trees, one per floor."""

    trees: int
    bounds: tuple[tuple[float, float], ...]  # (floor, bound), floors ascending
    fingerprint: str
    margin: float = MARGIN
    documents: int = 0  # calibration documents
    segments: int = 0

    def bound_for(self, floor: float) -> float | None:
        """The bound that holds for a floor: that of the highest calibrated floor at or under it
        (None: no calibrated floor is)."""
        found = None
        for f, bound in self.bounds:
            if f <= floor:
                found = bound
        return found

    def without(self, floors) -> EarlyExit:
        """These bounds without those of ``floors`` (their scores stay exact)."""
        drop = set(floors)
        return EarlyExit(self.trees, tuple(b for b in self.bounds if b[0] not in drop), self.fingerprint,
                         self.margin, self.documents, self.segments)

    def to_metadata(self) -> dict:
        return {"trees": self.trees, "bounds": [list(b) for b in self.bounds], "sha256": self.fingerprint,
                "margin": self.margin, "documents": self.documents, "segments": self.segments}

    @classmethod
    def from_metadata(cls, entry) -> EarlyExit | None:
        """The bounds a model file holds, or None when they are malformed (model.json is data a
        user may edit: nothing in it is trusted). Malformed too: a bound not ``SLACK`` under its
        floor's log-odds (a segment that stopped there could reach the floor, and be removed),
        and bounds that do not rise with their floors."""
        try:
            trees, sha = entry["trees"], entry["sha256"]
            bounds = tuple((float(f), float(b)) for f, b in entry["bounds"])
            margin = float(entry.get("margin", MARGIN))
        except (TypeError, KeyError, ValueError, OverflowError, AttributeError):
            return None
        if (not isinstance(trees, int) or isinstance(trees, bool) or trees < 1 or not isinstance(sha, str)
                or not all(0 < f < 1 and math.isfinite(b) and b <= _logit(f) - SLACK for f, b in bounds)
                or any(f1 >= f2 or b1 > b2 for (f1, b1), (f2, b2) in zip(bounds, bounds[1:]))):
            return None
        return cls(trees, bounds, sha, margin, _count(entry.get("documents")), _count(entry.get("segments")))

    def usable_with(self, classifier) -> bool:
        """Whether these bounds were made for this compiled classifier."""
        return 0 < self.trees < len(classifier.stage2.roots) and self.fingerprint == fingerprint(classifier, self.trees)


def partial_and_full(classifier, texts: Sequence[str]):
    """Each segment's raw stage-2 sum over the first trees and over all of them, for ``texts``
    segmented and scored as stripping does (documents alone), in batches."""
    import numpy as np

    from .signals import segment_columns

    trees = classifier.stage2
    first = max(1, min(len(trees.roots) - 1, round(TREES_SHARE * len(trees.roots))))
    partial, full = [], []
    for a in range(0, len(texts), 256):
        table, _ = segment_columns(texts[a:a + 256])
        if not len(table["doc"]):
            continue
        matrix, _ = classifier.stage2_inputs(table, *classifier.inputs(table))
        matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        p = trees._sums(matrix, trees.roots[:first])
        partial.append(p)
        full.append(trees._sums(matrix, trees.roots[first:], p))
    empty = np.zeros(0)
    return first, (np.concatenate(partial) if partial else empty), (np.concatenate(full) if full else empty)


def calibrate(classifier, texts: Sequence[str], margin: float = MARGIN,
              floors: Sequence[float] = FLOORS) -> EarlyExit | None:
    """Bounds for a compiled single model (``scoring.CompiledClassifier``) from generated
    ``texts``; None for other scorers, or when no calibration segment reaches any floor."""
    from .scoring import CompiledClassifier

    if not isinstance(classifier, CompiledClassifier) or len(classifier.stage2.roots) < 2:
        return None
    first, partial, full = partial_and_full(classifier, list(texts))
    bounds = []
    for floor in sorted(floors):
        reached = full >= _logit(floor)
        if not reached.any():
            continue  # (nothing to calibrate on: that floor keeps every score exact)
        # a segment that stops scores under the floor: the bound stays under the floor's log-odds
        bound = min(float(partial[reached].min()) - margin, _logit(floor) - SLACK)
        bounds.append((float(floor), bound))  # (they rise with the floor: fewer segments reach it)
    if not bounds:
        return None
    return EarlyExit(first, tuple(bounds), fingerprint(classifier, first), float(margin), len(texts), int(len(full)))


def lost_removals(classifier, exit: EarlyExit, texts: Sequence[str]) -> dict:
    """For each calibrated floor, how many segments of ``texts`` reach it with all the trees but
    would stop early (removals the early exit would lose), and the share of segments that stop."""
    import numpy as np

    first, partial, full = partial_and_full(classifier, list(texts))
    assert first == exit.trees
    out = {}
    for floor, bound in exit.bounds:
        stops = partial < bound
        out[floor] = {"lost": int((stops & (full >= _logit(floor))).sum()),
                      "stopped": float(np.mean(stops)) if len(stops) else 0.0}
    return out
