"""Learned examples as a memory: segments worded like an example are decided like it.

``promofilter learn`` folds examples into the classifier's stage 1 (see ``promofilter.learning``),
which moves the scores of segments sharing their rare words; but stage 2 also weighs a segment's
place in the document, so a promo style taught from a few examples can stay under the threshold
where its context looks editorial. The memory decides those directly: a segment whose word
bigrams (lower-cased; numbers, URLs, e-mails and handles masked, so other numbers and links do
not matter) overlap an example's by at least ``MIN_SIMILARITY`` (Jaccard) is removed
like a promo example (with its kind) or kept like a keep example. A keep example wins a tie.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .results import Kind

__all__ = ["ExampleMemory", "MIN_SIMILARITY", "shingles"]

# Jaccard similarity of word-bigram sets; 0.5 lets one or two words differ in a ten-word line
# (a brand, a product) and is far above what two unrelated sentences share.
MIN_SIMILARITY = 0.5
PROMO_SCORE, KEEP_SCORE = 0.999, 0.001
# segments with fewer distinct bigrams ("By Jane", one word) are left to the classifier
MIN_BIGRAMS = 2

_MASK = re.compile(r"(?:https?://|www\.)\S+|\b[\w.+-]+@[\w-]+\.[\w.-]+\b|(?<!\w)[@#]\w+|\d+(?:[.,:/]\d+)*")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


def shingles(text: str) -> frozenset[str]:
    """Word bigrams of ``text`` (single words for a one-word text), masked and lower-cased.

    Names are not masked: tried, it let credit examples ("Photo by {name} on {site}") match
    caption and byline text (content loss +0.04 points in benchmarks/adaptation.py)."""
    words = _WORD.findall(_MASK.sub(" 0 ", text).lower())
    if len(words) < 2:
        return frozenset(words)
    return frozenset(f"{a} {b}" for a, b in zip(words, words[1:]))


class ExampleMemory:
    """Promo and keep examples; ``apply`` overrides the scores of segments worded like one."""

    def __init__(self, examples: Sequence[dict]):
        # examples: {"text", "label": "promo" | "content", "kind"} rows, as learned
        self.examples = [(shingles(e["text"]), e["label"] == "promo", e.get("kind")) for e in examples
                         if e.get("text", "").strip()]
        self.examples = [e for e in self.examples if e[0]]
        # an inverted index: only segments sharing a bigram with some example are compared
        self._index: dict[str, list[int]] = {}
        for i, (grams, _, _) in enumerate(self.examples):
            for g in grams:
                self._index.setdefault(g, []).append(i)

    def __len__(self) -> int:
        return len(self.examples)

    def match(self, text: str) -> tuple[bool, str | None] | None:
        """(is_promo, kind) of the example most similar to ``text`` when similar enough, else None."""
        grams = shingles(text)
        if len(grams) < MIN_BIGRAMS:
            return None
        shared: dict[int, int] = {}
        for g in grams:
            for i in self._index.get(g, ()):
                shared[i] = shared.get(i, 0) + 1
        best = None
        for i, n in shared.items():
            example, is_promo, kind = self.examples[i]
            similarity = n / len(grams | example)
            if similarity >= MIN_SIMILARITY:
                key = (similarity, not is_promo)  # a keep example wins a tie
                if best is None or key > best[0]:
                    best = (key, is_promo, kind)
        return None if best is None else (best[1], best[2])

    def apply(self, texts: Sequence[str], scores: np.ndarray, kinds: list[Kind],
              line_ids: Sequence[int] | None = None) -> tuple[np.ndarray, list[Kind], np.ndarray]:
        """Scores and kinds with matched segments overridden, and a mask of the matched rows.

        ``line_ids`` (one per row, equal for the segments of one line) lets a whole line match
        an example: "Need press? Kaiko places..." is two segments, and the first alone is too
        short to match anything."""
        scores = np.array(scores, dtype=float, copy=True)
        kinds = list(kinds)
        matched = np.zeros(len(texts), dtype=bool)

        def override(rows, found):
            is_promo, kind = found
            for row in rows:
                matched[row] = True
                if is_promo:
                    scores[row] = max(scores[row], PROMO_SCORE)
                    if kind:
                        kinds[row] = Kind(kind)
                else:
                    scores[row] = min(scores[row], KEEP_SCORE)

        lines: dict[int, list[int]] = {}
        for row, line in enumerate(line_ids if line_ids is not None else range(len(texts))):
            lines.setdefault(line, []).append(row)
        for rows in lines.values():
            found = self.match(" ".join(texts[r] for r in rows)) if len(rows) > 1 else None
            if found is not None:
                override(rows, found)
                continue
            for row in rows:
                found = self.match(texts[row])
                if found is not None:
                    override([row], found)
        return scores, kinds, matched
