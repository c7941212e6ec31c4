"""Early exit from stage 2's trees when stripping.

Stripping asks of most segments only whether their score reaches the lowest threshold that can
remove them (``policy.StripNeeds.floor``), and most segments of an article are plainly content
after the first third of the trees. A model's metadata can hold, for a grid of floors, a bound on
the sum of its first trees, calibrated on generated documents: every calibration segment whose
full score reached the floor had a partial sum at least ``MARGIN`` over the bound. When stripping,
a segment whose partial sum is under the bound stops there; its score (that of the partial sum)
is under the floor, so it is kept. Every other segment gets its exact score, so what is removed,
and the scores and kinds reported for it, are those of all the trees; only the unreported scores
of kept segments differ. Detecting (every segment's score) never stops early.

The bound is empirical, not a proof: a segment could reach the floor from under the bound. The
margin is there for that, and the calibration and a second set of generated documents report how
many removals would change (``training/README.md``). A bound belongs to one set of trees: it is
stored with their fingerprint and ignored by any other.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["EarlyExit", "calibrate", "EXIT_KEY", "FLOORS", "TREES_SHARE", "MARGIN"]

EXIT_KEY = "early_exit"  # its key in a model's metadata (model.json)
# the floors calibrated: a floor between two uses the bound of the one under it
FLOORS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
TREES_SHARE = 0.3  # of stage 2's trees, summed for every segment
MARGIN = 1.0  # in log-odds, under the lowest partial sum of a calibration segment that reached the floor


def fingerprint(trees) -> str:
    """What identifies a ``scoring._Trees``: its nodes, roots and baseline."""
    h = hashlib.sha256()
    h.update(trees.nodes.tobytes())
    h.update(trees.roots.tobytes())
    h.update(repr(float(trees.baseline)).encode())
    return h.hexdigest()


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class EarlyExit:
    """Calibrated bounds on the sum of stage 2's first ``trees`` trees, one per floor."""

    trees: int
    bounds: tuple[tuple[float, float], ...]  # (floor, bound), floors ascending
    fingerprint: str
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

    def to_metadata(self) -> dict:
        return {"trees": self.trees, "bounds": [list(b) for b in self.bounds], "trees_sha256": self.fingerprint,
                "documents": self.documents, "segments": self.segments, "margin": MARGIN}

    @classmethod
    def from_metadata(cls, entry) -> EarlyExit | None:
        """The bounds a model file holds, or None when they are malformed (model.json is data a
        user may edit: nothing in it is trusted). A bound over its floor's log-odds is malformed:
        a segment that stopped there could score over the floor, and be removed."""
        try:
            trees = entry["trees"]
            bounds = tuple((float(f), float(b)) for f, b in entry["bounds"])
            sha = entry["trees_sha256"]
        except (TypeError, KeyError, ValueError):
            return None
        if (not isinstance(trees, int) or isinstance(trees, bool) or trees < 1 or not isinstance(sha, str)
                or not all(0 < f < 1 and math.isfinite(b) and b <= _logit(f) for f, b in bounds)
                or [f for f, _ in bounds] != sorted(f for f, _ in bounds)):
            return None
        return cls(trees, bounds, sha, int(entry.get("documents", 0) or 0), int(entry.get("segments", 0) or 0))

    def usable_with(self, trees) -> bool:
        return 0 < self.trees < len(trees.roots) and self.fingerprint == fingerprint(trees)


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


def calibrate(classifier, texts: Sequence[str], floors: Sequence[float] = FLOORS) -> EarlyExit | None:
    """Bounds for a compiled single model (``scoring.CompiledClassifier``) from generated
    ``texts``; None for other scorers, or when no calibration segment reaches any floor."""
    import numpy as np

    from .scoring import CompiledClassifier

    if not isinstance(classifier, CompiledClassifier) or len(classifier.stage2.roots) < 2:
        return None
    first, partial, full = partial_and_full(classifier, list(texts))
    bounds = []
    for floor in sorted(floors):
        reached = full >= _logit(floor)
        if not reached.any():
            continue  # (nothing to calibrate on: that floor keeps every score exact)
        # a segment that stops scores under the floor: the bound never passes the floor's log-odds
        bounds.append((float(floor), float(min(partial[reached].min() - MARGIN, _logit(floor)))))
    if not bounds:
        return None
    return EarlyExit(first, tuple(bounds), fingerprint(classifier.stage2), len(texts), int(len(full)))


def changed_removals(classifier, exit: EarlyExit, texts: Sequence[str], floors: Sequence[float] = FLOORS) -> dict:
    """For each floor, how many segments of ``texts`` reach it with all the trees but would stop
    early (removals the early exit would lose), and the share of segments that stop."""
    import numpy as np

    first, partial, full = partial_and_full(classifier, list(texts))
    assert first == exit.trees
    out = {}
    for floor in floors:
        bound = exit.bound_for(floor)
        if bound is None:
            continue
        stops = partial < bound
        out[floor] = {"lost": int((stops & (full >= _logit(floor))).sum()), "stopped": float(np.mean(stops)) if len(stops) else 0.0}
    return out
