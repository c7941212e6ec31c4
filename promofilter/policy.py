"""Policy: segment scores -> the exact character spans to remove.

A run of consecutive removed segments is cut out together with *one* of the two separators
around it, so no blank-line scar and no glued words remain: between two kept segments we keep
the stronger separator (the one with more line breaks, the earlier one on a tie); at the start of
the text the run takes its trailing separator; at the end it takes the separator before it, so
the text keeps its own final newline. Kept characters are never altered.
"""
from __future__ import annotations

import array
import functools
import math
import re
from collections.abc import Iterable, Iterator, Sequence

from . import native
from .results import Decision, Kind, Segment, Span, StripConfig, removed_span
from .rules import Rule, verdict

__all__ = ["choose_removals", "StripNeeds", "remove_spans", "strip_texts", "removed_spans_many", "SpanError",
           "FEED_FOOTER", "FEED_FOOTER_FLOOR"]

# Feed footers: publishing software ends a syndicated post with one fixed sentence, "The post
# <its own title> appeared first on <site>." The quoted title dilutes the model's evidence (a
# sentence-case title in a two-paragraph feed item scores 0.1-0.5), so the shape decides, as a
# built-in block rule (``StripConfig(builtin_rules=False)`` turns it off). The shape is strict: a
# headline (capital, digit or quote first) and a site name or address that ends the sentence, so
# "The post announcing his resignation appeared first on LinkedIn." (which the model scores as
# high as a real footer) stays; a segment the model scores under FEED_FOOTER_FLOOR stays too.
# (the Rule names the removal in reports; segments are matched by the stricter _FEED_FOOTER_SHAPE)
FEED_FOOTER = Rule("builtin:feed-footer", "block", "The post {title} appeared first on {site}", "template")
_SITE_WORD = r"(?:[\"“'‘(]?[A-Z0-9]\S*|of|the|and|for|in|on|de|la|&|\||[-–—])"
_FEED_FOOTER_SHAPE = re.compile(
    r"The\s+post\s+[\"“'‘]?[A-Z0-9].*?\s(?:appeared\s+first|first\s+appeared)\s+on\s+"
    rf"(?:https?://\S+|www\.\S+|[\"“'‘]?[A-Z0-9]\S*(?:\s+{_SITE_WORD}){{0,6}})\Z", re.S)
FEED_FOOTER_FLOOR = 0.02


class SpanError(ValueError):
    """Spans that are out of bounds, unsorted or overlapping."""


def _breaks(text: str, start: int, end: int) -> int:
    gap = text[start:end]
    return gap.count("\n") + gap.count("\r") - gap.count("\r\n") + gap.count("\u2028") + gap.count("\u2029")


def _run_range(text: str, segments: Sequence[Segment], first: int, last: int) -> tuple[int, int]:
    """Character range removed for the run of segments ``first..last`` (inclusive)."""
    has_before = first > 0
    has_after = last + 1 < len(segments)
    run_start = segments[first].content_start
    run_end = segments[last].content_end
    if has_before and has_after:
        before = (segments[first - 1].content_end, run_start)
        after = (run_end, segments[last + 1].content_start)
        if _breaks(text, *after) > _breaks(text, *before):
            return before[0], run_end  # keep the separator after the run
        return run_start, after[1]  # keep the separator before the run
    if has_after:
        return run_start, segments[last + 1].content_start
    if has_before:
        return segments[first - 1].content_end, run_end
    return run_start, run_end


def _alone(scores_alone, i: int, by_repetition: set[int] | None) -> dict:
    """``score_alone`` and ``by_repetition`` of a span (batch mode only)."""
    if scores_alone is None or by_repetition is None:
        return {}
    return {"score_alone": float(scores_alone[i]), "by_repetition": i in by_repetition}


def choose_removals(
    text: str,
    segments: Sequence[Segment],
    scores: Sequence[float],
    kinds: Sequence[Kind],
    config: StripConfig,
    threshold: float,
    site: str | None = None,
    scores_alone: Sequence[float] | None = None,
    learned: Sequence[bool] | None = None,
    kept: bool = True,
    run_threshold: float | None = None,
) -> list[Span]:
    """One Span per segment (removed or kept), in order; removed spans tile the removed text.
    Without ``kept``, only the removed ones (what stripping needs, without a span per sentence).

    Allow rules keep what they match, block rules remove it (with the rule's kind; rules limited
    to some sites apply only when ``site`` is one of them); the model's
    score decides the rest against the kind's threshold, for the kinds that may be removed.
    ``scores_alone`` (batch mode) are the scores without batch repetition, kept on the spans.
    ``learned`` marks segments a learned example decided (their decision reads ``learned``).
    ``run_threshold`` (below ``threshold``): a segment right after a removed one, or right before
    it on the same line, is removed when its score reaches it, for kinds without a threshold of
    their own.
    """
    # numbers compared as floats, whatever their type (the compiled core reads doubles)
    threshold = float(threshold)
    run_threshold = None if run_threshold is None else float(run_threshold)
    if not kept and scores_alone is None and not config.rules:
        compiled = _compiled_removals(text, segments, scores, kinds, config, threshold, run_threshold)
        if compiled is not None:
            ranges, decided_by = compiled
            return _removed_spans(text, ranges, scores, kinds, decided_by, learned)
    removed, decided_by, kinds = _decide(text, segments, scores, kinds, config, threshold, site, run_threshold)
    by_repetition = None
    if scores_alone is not None:
        # what the same decisions give without batch repetition (runs included: a run that
        # starts at a segment removed only by repetition is repetition's doing too)
        removed_alone, _, _ = _decide(text, segments, scores_alone, kinds, config, threshold, site, run_threshold)
        by_repetition = {i for i in removed ^ removed_alone if i not in decided_by}
    spans: list[Span] = []
    done = 0  # segments before this one have their spans
    for first, last in _runs(removed):
        if kept:
            spans += [_kept_span(text, segments[i], i, scores, kinds, decided_by.get(i), config, threshold,
                                 _alone(scores_alone, i, by_repetition), learned) for i in range(done, first)]
        lo, hi = _run_range(text, segments, first, last)
        for k in range(first, last + 1):
            start = lo if k == first else segments[k].content_start
            end = hi if k == last else segments[k + 1].content_start
            rule = decided_by.get(k)
            spans.append(removed_span(start, end, text[start:end], float(scores[k]), kinds[k],
                                      (Decision.RULE if rule else
                                       Decision.LEARNED if learned is not None and learned[k] else Decision.MODEL),
                                      rule and rule.name, **_alone(scores_alone, k, by_repetition)))
        done = last + 1
    if kept:
        spans += [_kept_span(text, segments[i], i, scores, kinds, decided_by.get(i), config, threshold,
                             _alone(scores_alone, i, by_repetition), learned) for i in range(done, len(segments))]
    return spans


def removed_ranges(text: str, segments: Sequence[Segment], scores: Sequence[float], kinds: Sequence[Kind],
                   config: StripConfig, threshold: float, site: str | None = None,
                   scores_alone: Sequence[float] | None = None, learned: Sequence[bool] | None = None,
                   kept: bool = False, run_threshold: float | None = None) -> list[tuple[int, int]]:
    """(start, end) of each span ``choose_removals(..., kept=False)`` removes, without making the
    spans (``kept`` must be False: it is there to take the same arguments)."""
    if kept:
        raise ValueError("removed_ranges describes removed spans only")
    if scores_alone is None and not config.rules:
        compiled = _compiled_removals(text, segments, scores, kinds, config, float(threshold),
                                      None if run_threshold is None else float(run_threshold))
        if compiled is not None:
            return [(start, end) for start, end, _ in compiled[0]]
    return [(s.start, s.end) for s in choose_removals(text, segments, scores, kinds, config, threshold, site,
                                                      scores_alone, learned, False, run_threshold)]


def strip_texts(texts: Sequence[str], segments: Sequence[Sequence[Segment]], scores: Sequence[float],
                kinds: Sequence[Kind], config: StripConfig, threshold: float,
                run_threshold: float | None = None, sites: Sequence[str | None] | None = None) -> list[str]:
    """Each text without what ``removed_ranges`` removes from it, a batch at a time: ``segments``
    holds each text's, ``scores`` and ``kinds`` those of all the segments, text after text;
    ``sites`` each text's site, for rules limited to some sites.

    The compiled core strips the whole batch in one call (per text, the Python calls cost as
    much as stripping); with user rules, or without the core, each text goes its own way."""
    _check_batch(texts, segments, scores, kinds, sites)
    batch = _compiled_batch(texts, segments, scores, kinds, config, threshold, run_threshold)
    if batch is not None:
        try:
            return native.core().strip_texts(*batch[0])
        except ValueError:  # segments outside a text or out of order: the Python code takes them as they are
            pass
    return [remove_spans(text, [(span.start, span.end) for span in spans]) for text, spans in
            zip(texts, _each_text(texts, segments, scores, kinds, config, threshold, run_threshold, sites, None))]


def removed_spans_many(texts: Sequence[str], segments: Sequence[Sequence[Segment]], scores: Sequence[float],
                       kinds: Sequence[Kind], config: StripConfig, threshold: float,
                       run_threshold: float | None = None, sites: Sequence[str | None] | None = None,
                       learned: Sequence[bool] | None = None) -> list[list[Span]]:
    """``choose_removals(..., kept=False)`` of each text of a batch, the arguments as
    ``strip_texts``'; ``learned``: of all the segments, text after text (or None). The compiled
    core decides the whole batch in one call."""
    _check_batch(texts, segments, scores, kinds, sites, learned)
    batch = _compiled_batch(texts, segments, scores, kinds, config, threshold, run_threshold)
    if batch is not None:
        try:
            ranges = native.core().removal_ranges_many(*batch[0])
        except ValueError:  # as in strip_texts
            ranges = None
        if ranges is not None:
            doubles, kinds, footers = batch[0][2], batch[0][3], batch[1]
            out = []
            at = 0
            for d, (text, each) in enumerate(zip(texts, ranges)):
                out.append(_removed_spans(text, each, doubles, kinds, footers.get(d, {}), learned, at))
                at += len(segments[d])
            return out
    return list(_each_text(texts, segments, scores, kinds, config, threshold, run_threshold, sites, learned))


def _removed_spans(text: str, ranges, scores, kinds, rules: dict[int, Rule], learned, at: int = 0) -> list[Span]:
    """The removed span of each (start, end, index) of the compiled core, the index counted from
    ``at`` in the scores, kinds and learned marks; ``rules``: the feed footers' (by index)."""
    return [removed_span(start, end, text[start:end], float(scores[at + k]), kinds[at + k],
                         (Decision.RULE if k in rules else
                          Decision.LEARNED if learned is not None and learned[at + k] else Decision.MODEL),
                         rules[k].name if k in rules else None)
            for start, end, k in ranges]


def _check_batch(texts, segments, scores, kinds, sites, learned=None) -> None:
    """A batch's arguments must add up: one list of segments (and site) per text, one score and
    kind (and learned mark) per segment."""
    n = sum(map(len, segments))
    if len(segments) != len(texts) or (sites is not None and len(sites) != len(texts)):
        raise ValueError("one list of segments and one site per text")
    if len(scores) != n or len(kinds) != n or (learned is not None and len(learned) != n):
        raise ValueError(f"{len(scores)} scores and {len(kinds)} kinds for {n} segments")


def _compiled_batch(texts, segments, scores, kinds, config: StripConfig, threshold: float,
                    run_threshold: float | None) -> tuple[tuple, dict[int, dict[int, Rule]]] | None:
    """The arguments of the compiled batch calls, and each text's feed footers (text -> segment ->
    rule); None when those calls cannot decide (no core, user rules, kinds not promofilter's)."""
    compiled = native.core()
    if compiled is None or config.rules:
        return None
    threshold = float(threshold)
    run_threshold = None if run_threshold is None else float(run_threshold)
    limits, run_limits, floor, runs = _limits(config, threshold, run_threshold)
    kinds = kinds if type(kinds) is list else list(kinds)
    if not limits.keys() >= set(kinds):
        return None
    doubles = _doubles(scores)
    footers: dict[int, dict[int, Rule]] = {}
    forced = []  # (text, segment) of each feed footer
    if config.builtin_rules:
        at = 0
        for d, (text, segs) in enumerate(zip(texts, segments)):
            if "The post" in text:
                footers[d] = _feed_footers(text, segs, doubles[at:at + len(segs)], kinds[at:at + len(segs)], config)
                forced += [(d, i) for i in sorted(footers[d])]
            at += len(segs)
    segment_lists = [s if type(s) is list else list(s) for s in segments]
    return ((list(texts), segment_lists, doubles, kinds, limits, run_limits if runs else None, floor, forced),
            footers)


def _each_text(texts, segments, scores, kinds, config: StripConfig, threshold: float, run_threshold: float | None,
               sites, learned) -> Iterator[list[Span]]:
    """``choose_removals(..., kept=False)`` text by text."""
    at = 0
    for text, segs, site in zip(texts, segments, [None] * len(texts) if sites is None else sites):
        n = len(segs)
        yield choose_removals(text, segs, scores[at:at + n], kinds[at:at + n], config, threshold, site,
                              learned=None if learned is None else learned[at:at + n], kept=False,
                              run_threshold=run_threshold)
        at += n


def _doubles(scores: Sequence[float]):
    """The scores as a buffer of doubles (a float64 array as it is)."""
    try:
        view = memoryview(scores)
        if view.format == "d" and view.ndim == 1 and view.c_contiguous:
            return scores
    except TypeError:  # a list
        pass
    return array.array("d", scores)


def _decide(text: str, segments: Sequence[Segment], scores: Sequence[float], kinds: Sequence[Kind],
            config: StripConfig, threshold: float, site: str | None, run_threshold: float | None
            ) -> tuple[set[int], dict[int, Rule], Sequence[Kind]]:
    """The segments to remove, the rule of each segment a rule decided (the model decides the
    others) and the kinds (a block rule sets its own).

    Only segments that reach the lowest threshold in play (a kind's or the run threshold) can
    be removed by the model, so only those are visited; the feed-footer rule looks only where
    "The post" occurs and user rules see every segment."""
    scores = _floats(scores)
    limits, run_limits, floor, runs = _limits(config, threshold, run_threshold)
    if not limits.keys() >= set(kinds):  # (kinds that are not promofilter's)
        limits, run_limits, floor, runs = _limits_of(config, threshold, run_threshold, set(kinds))
    candidates = [i for i, score in enumerate(scores) if score >= floor] if floor < math.inf else []
    removed = {i for i in candidates
               if scores[i] >= limits[kinds[i]] and segments[i].content_end > segments[i].content_start}
    decided_by = _feed_footers(text, segments, scores, kinds, config)
    removed.update(decided_by)  # (under the model's own kind for them)
    # user rules overrule the model where they match (kinds as the model gave them until a
    # block rule sets one)
    if config.rules:
        kinds = list(kinds)
        for i, s in enumerate(segments):
            rule = verdict(config.rules, text[s.content_start:s.content_end], site)
            if rule is not None:
                decided_by[i] = rule
                removed.discard(i)
                if rule.action == "block":
                    kinds[i] = rule.kind
                    if s.content_end > s.content_start:
                        removed.add(i)
    # runs follow every removal, the rules' too, and stop at whatever a rule keeps
    if runs and removed:
        _extend_runs(segments, scores, kinds, removed, decided_by, candidates, run_limits)
    return removed, decided_by, kinds


def _feed_footers(text: str, segments: Sequence[Segment], scores: Sequence[float], kinds: Sequence[Kind],
                  config: StripConfig) -> dict[int, Rule]:
    """The built-in feed-footer rule of each segment it removes (looked for only where "The
    post" occurs)."""
    footers: dict[int, Rule] = {}
    if config.builtin_rules and "The post" in text:
        for i, s in enumerate(segments):
            if text.startswith("The post", s.content_start, s.content_end):
                footer = _feed_footer(text[s.content_start:s.content_end], scores[i], kinds[i], config)
                if footer is not None:
                    footers[i] = footer
    return footers


def _compiled_removals(text: str, segments: Sequence[Segment], scores: Sequence[float], kinds: Sequence[Kind],
                       config: StripConfig, threshold: float, run_threshold: float | None
                       ) -> tuple[list[tuple[int, int, int]], dict[int, Rule]] | None:
    """What ``_decide`` and the run ranges give when no user rule applies, by the compiled core:
    (start, end, index) of each removed segment, and the feed footers' rules (None: no core, or
    kinds that are not promofilter's): a batch of one text."""
    batch = _compiled_batch([text], [segments], scores, kinds, config, threshold, run_threshold)
    if batch is None:
        return None
    try:
        ranges = native.core().removal_ranges_many(*batch[0])[0]
    except ValueError:  # segments outside the text or out of order: the Python code takes them as they are
        return None
    return ranges, batch[1].get(0, {})


def _floats(scores: Sequence[float]) -> list[float]:
    """The scores as Python floats (NumPy's float64 arrays directly; anything else as the
    compiled core reads it, a double each)."""
    if getattr(scores, "dtype", None) == "float64":
        return scores.tolist()
    return array.array("d", scores).tolist()


def _limits(config: StripConfig, threshold: float, run_threshold: float | None
            ) -> tuple[dict[Kind, float], dict[Kind, float], float, bool]:
    """``_limits_of`` every Kind: the same for every document stripped with one config, so
    computed once (the dicts are shared: read them, never change them)."""
    try:
        return _cached_limits(config, threshold, run_threshold)
    except TypeError:  # a config holding something unhashable
        return _limits_of(config, threshold, run_threshold, Kind)


@functools.lru_cache(maxsize=64)
def _cached_limits(config: StripConfig, threshold: float, run_threshold: float | None
                   ) -> tuple[dict[Kind, float], dict[Kind, float], float, bool]:
    return _limits_of(config, threshold, run_threshold, Kind)


def _limits_of(config: StripConfig, threshold: float, run_threshold: float | None, kinds: Iterable
               ) -> tuple[dict, dict, float, bool]:
    """Each kind's removal threshold and run threshold (inf: never removed), the lowest
    threshold in play, and whether runs are followed."""
    limits = {k: config.threshold_for(k, threshold) if k in config.remove_kinds else math.inf for k in kinds}
    runs = run_threshold is not None and run_threshold < threshold
    # kinds with a threshold of their own keep it in runs too, and kinds not removed stay kept
    overridden = {k for k, _ in config.kind_thresholds}
    run_limits = {k: run_threshold if runs and k in config.remove_kinds and k not in overridden else math.inf
                  for k in kinds}
    return limits, run_limits, min([*limits.values(), run_threshold if runs else math.inf]), runs


def _runs(removed: set[int]) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive indices in ``removed``, in order."""
    runs: list[tuple[int, int]] = []
    for i in sorted(removed):
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _kept_span(text: str, seg: Segment, i: int, scores, kinds, rule: Rule | None, config: StripConfig,
               threshold: float, alone: dict, learned) -> Span:
    # below the threshold the segment is content; above it, it is a promo of a kept kind
    kind = kinds[i] if scores[i] >= config.threshold_for(kinds[i], threshold) else Kind.CONTENT
    return Span(seg.content_start, seg.content_end, text[seg.content_start:seg.content_end],
                float(scores[i]), kind, removed=False,
                decision=(Decision.ALLOWED if rule else
                          Decision.LEARNED if learned is not None and learned[i] else Decision.KEPT),
                rule=rule and rule.name, **alone)


def _extend_runs(segments: Sequence[Segment], scores: Sequence[float], kinds: Sequence[Kind], removed: set[int],
                 decided_by: dict[int, Rule], candidates: Sequence[int], limits: dict[Kind, float]) -> None:
    """Add to ``removed`` each segment the model decides that directly follows a removed one, or
    directly precedes one on the same line, and reaches its kind's run threshold in ``limits``
    (hysteresis: a run, once started, grows over the segments that reach the lower threshold).
    ``candidates``: the segments at or over the run threshold, in order (no other can join a run)."""

    def joins(i: int) -> bool:
        return (i not in removed and i not in decided_by and scores[i] >= limits[kinds[i]]
                and segments[i].content_end > segments[i].content_start)

    # forward, then backward within a line (a caption before its credit; a line that introduces
    # the block under it stays): each pass sees the segments the one before it added, so a run
    # ends up as long in both directions as its neighbours' scores allow
    for i in candidates:
        if i - 1 in removed and joins(i):
            removed.add(i)
    for i in reversed(candidates):
        if i + 1 in removed and not segments[i].line_end and joins(i):
            removed.add(i)


class StripNeeds:
    """What stripping needs of the scores (for ``PromoFilter.score_batch``): a segment scoring
    under ``floor`` (every removal threshold and the run threshold) is kept whatever its exact
    score and kind, unless it may be a feed footer; rules set their own kinds. So only the
    segments at or over the floor need a kind, and only those and the feed-footer candidates an
    exact score (``promofilter.early_exit``), unless a user's block rule may remove any segment
    (``may_stop`` False)."""

    def __init__(self, config: StripConfig, threshold: float, run_threshold: float | None = None):
        floor = min((config.threshold_for(k, threshold) for k in config.remove_kinds), default=math.inf)
        if run_threshold is not None and config.remove_kinds:
            floor = min(floor, run_threshold)
        self.floor = float(floor)
        self.feed_footers = config.builtin_rules
        # a user's block rule removes a segment whatever its score, and reports that score
        self.may_stop = not any(rule.action == "block" for rule in config.rules)

    def exact(self, texts: Sequence[str], documents: Sequence[str] | None = None, doc=None):
        """The segments that need an exact score however low it is (a boolean mask), or None.
        ``documents`` and ``doc`` (each segment's document index): the documents the segments
        come from, searched instead of them (a few hundred searches a batch, and a test of the
        segments of the rare document that says "The post", not one of every segment)."""
        if not self.feed_footers:
            return None
        if documents is None:
            documents, doc = texts, None
        hits = [d for d, text in enumerate(documents) if "The post" in text]
        if not hits:
            return None
        import numpy as np  # here: `import promofilter` (and `promofilter --version`) stays without NumPy

        rows = np.flatnonzero(np.isin(doc, hits)) if doc is not None else np.asarray(hits)
        mask = np.zeros(len(texts), dtype=bool)
        mask[rows] = [texts[i].startswith("The post") for i in rows.tolist()]
        return mask

    def kinds(self, scores, texts: Sequence[str]):
        """The segments whose kind can change what ``choose_removals`` removes (a boolean mask)."""
        import numpy as np

        wanted = np.asarray(scores) >= self.floor
        if self.feed_footers:
            low = np.flatnonzero(~wanted & (np.asarray(scores) >= FEED_FOOTER_FLOOR)).tolist()
            wanted[[i for i in low if texts[i].startswith("The post")]] = True
        return wanted


def _feed_footer(segment_text: str, score: float, kind: Kind, config: StripConfig) -> Rule | None:
    """The built-in rule that removes ``segment_text`` as a feed footer, if one does."""
    if not (config.builtin_rules and segment_text.startswith("The post") and score >= FEED_FOOTER_FLOOR
            and kind in config.remove_kinds):
        return None
    return FEED_FOOTER if _FEED_FOOTER_SHAPE.match(segment_text) else None


def remove_spans(original: str, spans: Sequence[Span] | Sequence[tuple[int, int]]) -> str:
    """Rebuild the cleaned text from the original and the removed spans, in one pass.

    Spans may be ``Span`` objects or ``(start, end)`` pairs; they must be sorted, disjoint and
    within the text.

    >>> remove_spans("Keep this. Drop that.", [(10, 21)])
    'Keep this.'
    """
    out = []
    pos = 0
    for span in spans:
        start, end = (span.start, span.end) if isinstance(span, Span) else span
        if not 0 <= start <= end <= len(original):
            raise SpanError(f"span ({start}, {end}) is outside the text (length {len(original)})")
        if start < pos:
            raise SpanError(f"span ({start}, {end}) overlaps or precedes the previous span ending at {pos}")
        out.append(original[pos:start])
        pos = end
    out.append(original[pos:])
    return "".join(out)
