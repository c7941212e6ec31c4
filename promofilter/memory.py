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

from collections.abc import Sequence

import numpy as np

from .signals import WORD, mask_text
from .results import Kind

__all__ = ["ExampleMemory", "apply_decisions", "MIN_SIMILARITY", "shingles"]

# Jaccard similarity of word-bigram sets; 0.5 lets one or two words differ in a ten-word line
# (a brand, a product) and is far above what two unrelated sentences share.
MIN_SIMILARITY = 0.5
PROMO_SCORE, KEEP_SCORE = 0.999, 0.001
# segments with fewer distinct bigrams ("By Jane", one word) are left to the classifier
MIN_BIGRAMS = 2


def shingles(text: str) -> frozenset[str]:
    """Word bigrams of ``text`` (single words for a one-word text), masked and lower-cased as the
    classifier sees words (``features.mask_text``: numbers, links, handles, emoji).

    Names are not masked: tried, it let credit examples ("Photo by {name} on {site}") match
    caption and byline text (content loss +0.04 points in benchmarks/adaptation.py)."""
    words = WORD.findall(mask_text(text))[1:-1]  # without mask_text's first/last-word markers
    if len(words) < 2:
        return frozenset(words)
    return frozenset(f"{a} {b}" for a, b in zip(words, words[1:]))


class ExampleMemory:
    """Promo and keep examples; ``decide`` finds the segments worded like one."""

    def __init__(self, examples: Sequence[dict]):
        # examples: {"text", "label": "promo" | "content", "kind"} rows, as learned
        rows = []
        for e in examples:
            if not isinstance(e, dict) or not isinstance(e.get("text"), str):
                raise ValueError(f"a learned example must have a text: {e!r}")
            kind = e.get("kind")
            if e.get("label") == "promo" and kind is not None:
                kind = Kind(kind).value  # a bad kind fails here, once, with its value
            grams = shingles(e["text"])
            if grams:
                rows.append((grams, e.get("label") == "promo", kind))
        self.examples = rows
        self.longest = max((len(g) for g, _, _ in rows), default=0)
        # an inverted index: only segments sharing a bigram with some example are compared
        self._index: dict[str, list[int]] = {}
        for i, (grams, _, _) in enumerate(self.examples):
            for g in grams:
                self._index.setdefault(g, []).append(i)

    def __len__(self) -> int:
        return len(self.examples)

    def _best(self, grams: frozenset[str]) -> int | None:
        """Index of the example most similar to ``grams`` when similar enough; ties go to a keep
        example, then to the earliest one (deterministic whatever the hash seed)."""
        if len(grams) < MIN_BIGRAMS or len(grams) > self.longest / MIN_SIMILARITY:
            return None  # too short to judge, or too long to reach the similarity with any example
        shared: dict[int, int] = {}
        for g in grams:
            for i in self._index.get(g, ()):
                shared[i] = shared.get(i, 0) + 1
        best = None
        for i in sorted(shared):
            example, is_promo, _ = self.examples[i]
            similarity = shared[i] / len(grams | example)
            if similarity >= MIN_SIMILARITY:
                key = (similarity, not is_promo, -i)
                if best is None or key > best[0]:
                    best = (key, i)
        return None if best is None else best[1]

    def match(self, text: str) -> tuple[bool, str | None] | None:
        """(is_promo, kind) of the example most similar to ``text`` when similar enough, else None."""
        i = self._best(shingles(text))
        return None if i is None else self.examples[i][1:]

    def decide(self, texts: Sequence[str], line_ids: Sequence[int] | None = None) -> dict[int, tuple[bool, str | None]]:
        """Rows worded like an example: {row: (is_promo, kind)}.

        A segment matches on its own; and when a whole line (its segments, ``line_ids`` equal)
        matches an example, the line's segments that are *part of* that example match too (most
        of their bigrams belong to it). Then short pieces ("Need press?") whose bigrams all belong
        to the example matched next to them on the same line follow it. An editorial sentence
        glued before a learned trailer is not part of the example: it is left to the classifier."""
        grams = [shingles(t) for t in texts]
        matched: dict[int, int] = {}  # row -> example index
        for row, g in enumerate(grams):
            i = self._best(g)
            if i is not None:
                matched[row] = i
        lines: dict[int, list[int]] = {}
        for row, line in enumerate(line_ids if line_ids is not None else range(len(texts))):
            lines.setdefault(line, []).append(row)
        for rows in lines.values():
            if len(rows) < 2:
                continue
            i = self._best(shingles(" ".join(texts[r] for r in rows)))
            if i is not None:
                example = self.examples[i][0]
                for r in rows:
                    if len(grams[r]) >= MIN_BIGRAMS and len(grams[r] & example) * 2 >= len(grams[r]):
                        matched.setdefault(r, i)
            for k, r in enumerate(rows):  # short pieces next to a match, inside its example
                if r in matched or len(grams[r]) >= MIN_BIGRAMS or not grams[r]:
                    continue
                for neighbour in rows[max(k - 1, 0):k] + rows[k + 1:k + 2]:
                    i = matched.get(neighbour)
                    if i is not None and grams[r] <= self.examples[i][0]:
                        matched[r] = i
                        break
        return {row: self.examples[i][1:] for row, i in matched.items()}


def apply_decisions(decided: dict[int, tuple[bool, str | None]], scores: np.ndarray,
                    kinds: list[Kind] | None = None) -> tuple[np.ndarray, list[Kind] | None]:
    """``scores`` (and ``kinds``) with the memory's decisions applied, as new objects."""
    scores = np.array(scores, dtype=float, copy=True)
    kinds = None if kinds is None else list(kinds)
    for row, (is_promo, kind) in decided.items():
        if is_promo:
            scores[row] = max(scores[row], PROMO_SCORE)
            if kind and kinds is not None:
                kinds[row] = Kind(kind)
        else:
            scores[row] = min(scores[row], KEEP_SCORE)
    return scores, kinds
