"""Result and configuration types: the small, frozen values the public API returns and takes."""
from __future__ import annotations

import enum
import numbers
from dataclasses import asdict, dataclass, field


class Kind(str, enum.Enum):
    """What kind of promotion a segment is (``content`` for editorial text)."""

    CONTENT = "content"
    AD = "ad"
    CTA = "cta"
    CROSSPROMO = "crosspromo"
    DISCLAIMER = "disclaimer"
    CREDIT = "credit"
    BOILERPLATE = "boilerplate"

    @classmethod
    def promo_kinds(cls) -> tuple["Kind", ...]:
        return tuple(k for k in cls if k is not cls.CONTENT)

    def __str__(self) -> str:  # so f-strings and CSV show "ad", not "Kind.AD"
        return self.value


class Decision(str, enum.Enum):
    """Why a segment was removed or kept."""

    KEPT = "kept"  # kept: below the threshold, or a kind that is not removed
    MODEL = "model"  # removed: the model's score reached the threshold
    RULE = "rule"  # removed by a block rule (``Span.rule`` names it)
    ALLOWED = "allowed"  # kept by an allow rule, whatever its score (``Span.rule`` names it)
    LEARNED = "learned"  # removed or kept like a learned example it is worded like (``promofilter learn``)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)  # slots: the compiled core fills a hundred thousand a second
class Segment:
    """One tile of the input: ``text[start:end]``.

    ``content_start:content_end`` is the part without surrounding whitespace; the whitespace after
    it (``content_end:end``) is the separator that follows the segment. Only the first tile holds
    leading whitespace (``start < content_start``).
    """

    start: int
    end: int
    content_start: int
    content_end: int
    line_start: bool  # the content is the first thing on its line
    line_end: bool  # the separator after the content holds a line break (or the text ends)


@dataclass(frozen=True)
class Span:
    """A scored piece of the original text. Offsets index the original ``str``.

    For removed spans, ``text`` is exactly ``original[start:end]`` and includes the separator
    that was removed with the segment. ``score`` is the model's promo probability; ``kind`` its
    best guess at the promo kind (meaningful when the score is high).
    """

    start: int
    end: int
    text: str
    score: float
    kind: Kind
    removed: bool = True
    decision: Decision = Decision.MODEL
    rule: str | None = None
    # batch mode: the score the segment gets without batch repetition, and whether repetition
    # changed the decision (removed only because it repeats across the batch, or kept only
    # because it does not)
    score_alone: float | None = None
    by_repetition: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        d["kind"] = self.kind.value
        d["decision"] = self.decision.value
        return d


def removed_span(start: int, end: int, text: str, score: float, kind: Kind, decision: Decision, rule: str | None,
                 score_alone: float | None = None, by_repetition: bool = False) -> Span:
    """``Span(start, end, text, score, kind, True, decision, rule, score_alone, by_repetition)``,
    made without the frozen dataclass's ``__init__``: its ten ``object.__setattr__`` calls take
    2.3x as long, and stripping makes a span per removed segment. The same object, field for
    field (tests/test_policy.py compares them)."""
    span = object.__new__(Span)
    span.__dict__.update(start=start, end=end, text=text, score=score, kind=kind, removed=True, decision=decision,
                         rule=rule, score_alone=score_alone, by_repetition=by_repetition)
    return span


@dataclass(frozen=True)
class Stripped:
    """The cleaned text and the spans removed from the original to produce it."""

    text: str
    removed: tuple[Span, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {"text": self.text, "removed": [s.to_dict() for s in self.removed]}


def is_probability(value) -> bool:
    """A number (not a bool, which Python counts as one) between 0 and 1."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0.0 <= value <= 1.0


@dataclass(frozen=True)
class StripConfig:
    """All knobs of stripping, in one place.

    threshold
        Segments whose promo probability is at or above it are removed. ``None`` uses the
        threshold stored with the model (chosen when it was trained).
    remove_kinds
        Kinds that may be removed; a promo segment of another kind is kept.
    kind_thresholds
        Per-kind thresholds that override ``threshold`` for segments of that kind, e.g.
        ``{"cta": 0.7, "disclaimer": 0.99}`` (stored as sorted pairs).
    rules
        ``promofilter.rules.Rule`` objects: allow rules keep what they match whatever its score,
        block rules remove it; the model decides the rest.
    run_threshold
        A segment that directly follows a removed one, or directly precedes it on the same line,
        is removed when its score reaches this lower threshold: promos come in runs (a "Related"
        header and its headlines, a footer of several lines, a chart caption and its "Source:"
        credit), and a run, once started, is followed further than a segment alone would be.
        ``None`` uses the model's (stored with it; the build sets 0.85 when the model's threshold
        is above that) if ``threshold`` is None too, and none if a threshold is given; 1.0 turns
        it off. Per-kind thresholds are not lowered.
    builtin_rules
        Remove feed footers ("The post <title> appeared first on <site>.") by their fixed shape
        whatever their score, unless the model reads the sentence as plain article text (see
        ``promofilter.policy.FEED_FOOTER``). On by default.
    """

    threshold: float | None = None
    remove_kinds: frozenset[Kind] = frozenset(Kind.promo_kinds())
    kind_thresholds: tuple = ()
    rules: tuple = ()
    builtin_rules: bool = True
    run_threshold: float | None = None

    def __post_init__(self) -> None:
        for name in ("threshold", "run_threshold"):
            value = getattr(self, name)
            if value is not None and not is_probability(value):
                raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}")
        object.__setattr__(self, "remove_kinds", frozenset(Kind(k) for k in self.remove_kinds))
        pairs = self.kind_thresholds.items() if isinstance(self.kind_thresholds, dict) else self.kind_thresholds
        pairs = tuple(sorted((Kind(k), float(t)) for k, t in pairs))
        for kind, t in pairs:
            if kind is Kind.CONTENT or not 0.0 <= t <= 1.0:
                raise ValueError(f"threshold for {kind} must be a promo kind and between 0 and 1, got {t}")
        object.__setattr__(self, "kind_thresholds", pairs)
        object.__setattr__(self, "rules", tuple(self.rules))

    def threshold_for(self, kind: Kind, default: float) -> float:
        """The threshold segments of ``kind`` are held to (``default`` unless overridden); a
        kind given as its name ("credit") is that kind."""
        for k, t in self.kind_thresholds:
            if k == kind:
                return t
        return default
