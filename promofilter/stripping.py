"""Stripping: compose segmentation, the classifier and the policy into the public operations."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from .features import build_table
from .policy import choose_removals, remove_spans
from .results import Kind, Segment, Span, StripConfig, Stripped

__all__ = ["PromoFilter"]

# Documents scored in one vectorised call; bounds memory on huge inputs.
BATCH_DOCS = 512


def _batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _with_sites(texts: Iterable[str], sites: Iterable[str | None] | None) -> Iterator[tuple[str, str | None]]:
    if sites is None:
        return ((text, None) for text in texts)
    return zip(texts, sites, strict=True)


@dataclass
class PromoFilter:
    """A loaded model with the stripping operations. Get one with ``promofilter.load_model``."""

    classifier: object
    threshold: float
    metadata: dict = field(default_factory=dict)

    def _threshold(self, config: StripConfig) -> float:
        return self.threshold if config.threshold is None else config.threshold

    def score_batch(self, texts: Sequence[str]) -> list[tuple[list[Segment], np.ndarray, list[Kind]]]:
        """Segments, promo scores and kinds of each text; all segments scored in one call."""
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"expected str, got {type(t).__name__}")
        table, segments = build_table(texts)
        if len(table):
            scores, kinds = self.classifier.score_and_kind(table)
        else:
            scores, kinds = np.zeros(0), []
        out = []
        pos = 0
        for segs in segments:
            n = len(segs)
            out.append((segs, scores[pos:pos + n], kinds[pos:pos + n]))
            pos += n
        return out

    def _explain_batch(self, batch: Sequence[tuple[str, str | None]], config: StripConfig) -> list[list[Span]]:
        threshold = self._threshold(config)
        texts = [text for text, _ in batch]
        return [choose_removals(text, segs, scores, kinds, config, threshold, site=site)
                for (text, site), (segs, scores, kinds) in zip(batch, self.score_batch(texts))]

    def detect_many(self, texts: Iterable[str], config: StripConfig | None = None,
                    sites: Iterable[str | None] | None = None) -> Iterator[list[Span]]:
        """Every segment of every text with its score and kind, removed or not (lazily, in batches).

        ``sites`` (one per text) lets rules limited to some sites apply to those texts."""
        config = config or StripConfig()
        for batch in _batched(_with_sites(texts, sites), BATCH_DOCS):
            yield from self._explain_batch(batch, config)

    def explain_many(self, texts: Iterable[str], config: StripConfig | None = None,
                     sites: Iterable[str | None] | None = None) -> Iterator[Stripped]:
        """``Stripped`` results for each text, lazily; memory stays bounded by one batch."""
        config = config or StripConfig()
        for batch in _batched(_with_sites(texts, sites), BATCH_DOCS):
            for (text, _), spans in zip(batch, self._explain_batch(batch, config)):
                removed = tuple(s for s in spans if s.removed)
                yield Stripped(remove_spans(text, removed), removed)

    def strip_many(self, texts: Iterable[str], config: StripConfig | None = None,
                   sites: Iterable[str | None] | None = None) -> list[str]:
        """Cleaned texts, in order; all segments of a batch are scored in one call."""
        return [s.text for s in self.explain_many(texts, config, sites)]

    def detect(self, text: str, config: StripConfig | None = None, site: str | None = None) -> list[Span]:
        return next(iter(self.detect_many([text], config, [site])))

    def strip_and_explain(self, text: str, config: StripConfig | None = None, site: str | None = None) -> Stripped:
        return next(iter(self.explain_many([text], config, [site])))

    def strip(self, text: str, config: StripConfig | None = None, site: str | None = None) -> str:
        return self.strip_and_explain(text, config, site).text
