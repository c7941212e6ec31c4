"""Stripping: compose segmentation, the classifier and the policy into the public operations."""
from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from .scoring import CompiledClassifier, CompiledEnsemble
from .signals import as_frame, segment_columns
from .memory import ExampleMemory, apply_decisions
from .early_exit import EXIT_KEY, EarlyExit
from .policy import StripNeeds, choose_removals, remove_spans, removed_spans_many, strip_texts
from .repetition import REPETITION_FEATURE_NAMES, RepetitionCounts, repetition_features
from .reuse import reusing
from .results import Kind, Segment, Span, StripConfig, Stripped

__all__ = ["PromoFilter", "Scored"]

# The model metadata key holding learned examples ({"text", "label", "kind"} rows).
MEMORY_KEY = "learned_memory"
# Documents scored in one vectorised call; bounds memory on huge inputs. 256 (the CLI's chunk):
# its arrays stay in the caches, 0.75 against 0.81 CPU seconds for 512 on 5 MB (2026-12-01).
BATCH_DOCS = 256


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


class Scored(NamedTuple):
    """A text's segments with their promo scores and kinds; ``alone`` (batch mode only) holds
    the scores the segments would get without batch repetition; ``learned`` (models with learned
    examples only) marks the segments decided by an example."""

    segments: list[Segment]
    scores: np.ndarray
    kinds: list[Kind]
    alone: np.ndarray | None = None
    learned: np.ndarray | None = None  # True where a learned example decided the segment


@dataclass
class PromoFilter:
    """A loaded model with the stripping operations. Get one with ``promofilter.load_model``."""

    classifier: object
    threshold: float
    metadata: dict = field(default_factory=dict)
    # a run of removed segments goes on over the segments after it (and before it on its line)
    # that reach this (see ``StripConfig.run_threshold``); None: no runs beyond the threshold
    run_threshold: float | None = None

    def _threshold(self, config: StripConfig) -> float:
        return self.threshold if config.threshold is None else config.threshold

    def _run_threshold(self, config: StripConfig) -> float | None:
        if config.run_threshold is not None:
            return config.run_threshold
        return self.run_threshold if config.threshold is None else None

    @property
    def memory(self) -> ExampleMemory | None:
        """The learned examples this model decides by similarity (``promofilter learn``), if any."""
        examples = self.metadata.get(MEMORY_KEY)
        if not examples:
            return None
        cached = getattr(self, "_memory_cache", None)
        if cached is None or cached[0] is not examples:  # built once per list of examples
            cached = (examples, ExampleMemory(examples))
            self._memory_cache = cached
        return cached[1]

    @property
    def early_exit(self) -> EarlyExit | None:
        """The calibrated early exit from stage 2 this model's metadata holds, if it holds one for
        this classifier's trees (``promofilter.early_exit``); None otherwise."""
        entry = self.metadata.get(EXIT_KEY)
        classifier = self.classifier
        if entry is None or not isinstance(classifier, CompiledClassifier):
            return None
        cached = getattr(self, "_exit_cache", None)
        # checked once per entry and classifier; a copy of the entry catches edits in place
        if cached is None or cached[1] is not classifier or cached[0] != entry:
            parsed = EarlyExit.from_metadata(entry)
            cached = (copy.deepcopy(entry), classifier,
                      parsed if parsed is not None and parsed.usable_with(classifier) else None)
            self._exit_cache = cached
        return cached[2]

    def estimator(self):
        """The scikit-learn classifier, to train from this model. A loaded model scores with
        NumPy alone (``promofilter.scoring``); this loads the estimator, and scikit-learn, once."""
        if isinstance(self.classifier, (CompiledClassifier, CompiledEnsemble)):
            return self.classifier.estimator()
        return self.classifier

    @property
    def uses_repetition(self) -> bool:
        """Whether the model was trained with batch repetition features (see ``count_repetition``)."""
        return bool(getattr(self.classifier, "uses_repetition_", False))

    @staticmethod
    def count_repetition(texts: Iterable[str], sites: Iterable[str | None] | None = None) -> RepetitionCounts:
        """Batch mode, first pass: how many documents of the batch contain each segment form.

        Pass the result as ``repetition=`` to the other methods, with the same ``sites``; counting
        the whole batch first makes the output independent of how it is later chunked."""
        from .parallel import count_chunks

        return count_chunks((([t for t, _ in batch], [site for _, site in batch])
                             for batch in _batched(_with_sites(texts, sites), BATCH_DOCS)), jobs=1)

    def score_batch(self, texts: Sequence[str], repetition: RepetitionCounts | None = None,
                    sites: Sequence[str | None] | None = None, needs: StripNeeds | None = None) -> list[Scored]:
        """Segments, promo scores and kinds of each text; all segments scored in one call.
        ``needs`` (stripping's ``policy.StripNeeds``): kinds only of the segments that need
        one, the others ``Kind.CONTENT`` (the kind model is a tenth of the scoring time), and
        exact scores only of those (the others may stop early: ``promofilter.early_exit``)."""
        segments, scores, kinds, alone, learned = self._score_all(texts, repetition, sites, needs)
        out = []
        pos = 0
        for segs in segments:
            n = len(segs)
            out.append(Scored(segs, scores[pos:pos + n], kinds[pos:pos + n],
                              None if alone is None else alone[pos:pos + n],
                              None if learned is None else learned[pos:pos + n]))
            pos += n
        return out

    def _score_all(self, texts: Sequence[str], repetition: RepetitionCounts | None = None,
                   sites: Sequence[str | None] | None = None, needs: StripNeeds | None = None,
                   want_alone: bool = True):
        """``score_batch``'s results as each text's segments, then the scores, kinds, scores
        alone and learned marks of all of them, text after text. Without ``want_alone``
        (stripping that describes nothing), batch mode's scores alone may be left out (None)."""
        for t in texts:
            if not isinstance(t, str):
                raise TypeError(f"expected str, got {type(t).__name__}")
        table, segments = segment_columns(texts)
        alone = learned = None
        if len(table["doc"]):
            if repetition is not None and self.uses_repetition:
                features = repetition_features(table, repetition, sites, texts)
                for j, name in enumerate(REPETITION_FEATURE_NAMES):
                    table[name] = features[:, j]
            # a loaded model scores the columns with NumPy; a scikit-learn estimator takes a DataFrame
            scorer = self.classifier
            memory = self.memory
            compiled = isinstance(scorer, (CompiledClassifier, CompiledEnsemble))
            if compiled and needs is not None and memory is None:  # (a learned example may name no kind)
                early = self.early_exit
                bound = None if early is None or not needs.may_stop else early.bound_for(needs.floor)
                scores, kinds, alone = scorer.score_kind_alone(
                    table, kinds_wanted=lambda p: needs.kinds(p, table["text"]),
                    early_exit=None if bound is None else (early.trees, bound),
                    finish=None if bound is None else needs.exact(table["text"], texts, table["doc"]),
                    alone=want_alone)
            else:
                scores, kinds, alone = scorer.score_kind_alone(table if compiled else as_frame(table))
            if memory is not None:
                # a new line starts at each segment that starts a line (rows are in document order)
                line_ids = np.cumsum(table["line_start"] | (table["idx"] == 0))
                decided = memory.decide(table["text"], line_ids)
                scores, kinds = apply_decisions(decided, scores, kinds)
                if alone is not None:
                    alone, _ = apply_decisions(decided, alone)
                learned = np.zeros(len(table["doc"]), dtype=bool)
                learned[list(decided)] = True
        else:
            scores, kinds = np.zeros(0), []
        return segments, scores, kinds, alone, learned

    def _explain_batch(self, batch: Sequence[tuple[str, str | None]], config: StripConfig,
                       repetition: RepetitionCounts | None = None, kept: bool = True) -> list[list[Span]]:
        """Each text's spans (without ``kept``, the removed ones only)."""
        threshold, run_threshold = self._threshold(config), self._run_threshold(config)
        texts = [text for text, _ in batch]
        sites = [site for _, site in batch]
        if not kept and repetition is None:
            # only stripping (no kept spans to describe) can leave the kinds of sure content
            # unnamed; without batch mode's scores alone, the whole batch is decided at once
            segments, scores, kinds, _, learned = self._score_all(texts, None, sites,
                                                                  StripNeeds(config, threshold, run_threshold))
            return removed_spans_many(texts, segments, scores, kinds, config, threshold, run_threshold, sites,
                                      learned)
        needed = None if kept else StripNeeds(config, threshold, run_threshold)
        return [choose_removals(text, s.segments, s.scores, s.kinds, config, threshold, site=site,
                                scores_alone=s.alone, learned=s.learned, kept=kept, run_threshold=run_threshold)
                for (text, site), s in zip(batch, self.score_batch(texts, repetition, sites, needed))]

    def _strip_batch(self, batch: Sequence[tuple[str, str | None]], config: StripConfig,
                     repetition: RepetitionCounts | None = None) -> list[str]:
        """The cleaned texts of a batch (``repetition``: batch mode's counts)."""
        threshold, run_threshold = self._threshold(config), self._run_threshold(config)
        texts = [text for text, _ in batch]
        sites = [site for _, site in batch]
        # (batch mode's scores alone only describe removals: what is removed follows the scores)
        segments, scores, kinds, _, _ = self._score_all(texts, repetition, sites,
                                                        StripNeeds(config, threshold, run_threshold), want_alone=False)
        return strip_texts(texts, segments, scores, kinds, config, threshold, run_threshold, sites)

    def detect_many(self, texts: Iterable[str], config: StripConfig | None = None,
                    sites: Iterable[str | None] | None = None,
                    repetition: RepetitionCounts | None = None) -> Iterator[list[Span]]:
        """Every segment of every text with its score and kind, removed or not (lazily, in batches).

        ``sites`` (one per text) lets rules limited to some sites apply to those texts, and counts
        repetition per site. ``repetition`` (from ``count_repetition``) turns batch mode on."""
        config = config or StripConfig()
        for batch in _batched(_with_sites(texts, sites), BATCH_DOCS):
            yield from self._explain_batch(batch, config, repetition)

    def explain_many(self, texts: Iterable[str], config: StripConfig | None = None,
                     sites: Iterable[str | None] | None = None,
                     repetition: RepetitionCounts | None = None) -> Iterator[Stripped]:
        """``Stripped`` results for each text, lazily; memory stays bounded by one batch."""
        config = config or StripConfig()
        for batch in _batched(_with_sites(texts, sites), BATCH_DOCS):
            for (text, _), removed in zip(batch, self._explain_batch(batch, config, repetition, kept=False)):
                yield Stripped(remove_spans(text, removed), tuple(removed))

    def strip_many(self, texts: Iterable[str], config: StripConfig | None = None,
                   sites: Iterable[str | None] | None = None, batch: bool = False) -> list[str]:
        """Cleaned texts, in order; all segments of a batch are scored in one call.

        With ``batch``, the texts are one batch: segments that repeat across them
        (trailers, footers) are recognised as such (see ``count_repetition``)."""
        texts = list(texts)
        sites = None if sites is None else list(sites)
        config = config or StripConfig()
        if not (batch and self.uses_repetition and len(texts) >= 2):
            return [text for part in _batched(_with_sites(texts, sites), BATCH_DOCS)
                    for text in self._strip_batch(part, config)]
        with reusing():  # the counting pass's segments and keys serve the scoring pass
            repetition = self.count_repetition(texts, sites)
            return [text for part in _batched(_with_sites(texts, sites), BATCH_DOCS)
                    for text in self._strip_batch(part, config, repetition)]

    def detect(self, text: str, config: StripConfig | None = None, site: str | None = None) -> list[Span]:
        return next(iter(self.detect_many([text], config, [site])))

    def strip_and_explain(self, text: str, config: StripConfig | None = None, site: str | None = None) -> Stripped:
        return next(iter(self.explain_many([text], config, [site])))

    def strip(self, text: str, config: StripConfig | None = None, site: str | None = None) -> str:
        return self.strip_and_explain(text, config, site).text
