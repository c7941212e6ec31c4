"""Policy: removed runs take exactly one separator with them; kept characters never change."""
import contextlib

import numpy as np
import pytest

from promofilter import Kind, Rule, StripConfig, remove_spans, segment
from promofilter.policy import SpanError, choose_removals


def strip_where(text, is_promo):
    """Remove the segments whose content satisfies ``is_promo``; return the clean text."""
    segs = segment(text)
    scores = [1.0 if is_promo(text[s.content_start : s.content_end]) else 0.0 for s in segs]
    spans = choose_removals(text, segs, scores, [Kind.AD] * len(segs), StripConfig(), 0.5)
    removed = [s for s in spans if s.removed]
    return remove_spans(text, removed), removed


def promo(t):
    return t.startswith("PROMO")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Story.\nPROMO line\n", "Story.\n"),
        ("Story.\nPROMO line", "Story."),
        ("Story.\n\nPROMO line\n", "Story.\n"),
        ("Story.\r\n\r\nPROMO one\r\nPROMO two\r\n", "Story.\r\n"),
        ("Story ends. PROMO glued.\nNext paragraph.\n", "Story ends.\nNext paragraph.\n"),
        ("One.\n\nPROMO mid\n\nTwo.\n", "One.\n\nTwo.\n"),
        ("One.\nPROMO mid\n\nTwo.\n", "One.\n\nTwo.\n"),
        ("PROMO first\nStory.\n", "Story.\n"),
        ("  PROMO first\nStory.", "  Story."),
        ("Alpha. PROMO here. Beta.", "Alpha. Beta."),
        ("Clean text.\n", "Clean text.\n"),
    ],
)
def test_removed_runs_leave_no_scars(text, expected):
    assert strip_where(text, promo)[0] == expected


def test_removed_spans_cover_exactly_what_was_removed():
    text = "Story.\n\nPROMO a\nPROMO b\n"
    clean, removed = strip_where(text, promo)
    assert [text[s.start : s.end] for s in removed] == [s.text for s in removed]
    assert removed[0].start == len("Story.") and removed[-1].end == len(text) - 1
    assert clean == "Story.\n"


def test_a_removed_span_made_fast_is_the_span_the_constructor_makes():
    from dataclasses import fields

    from promofilter.results import Decision, Span, removed_span

    # (made through the instance dict: Span has no slots and nothing to check after __init__)
    assert not hasattr(Span, "__slots__") and not hasattr(Span, "__post_init__")
    args = (3, 9, "PROMO ", 0.97, Kind.CTA, Decision.RULE, "rule-1", 0.4, True)
    fast, made = removed_span(*args), Span(*args[:5], True, *args[5:])
    assert fast == made and type(fast) is Span and repr(fast) == repr(made) and hash(fast) == hash(made)
    assert {f.name: getattr(fast, f.name) for f in fields(Span)} == vars(fast) == vars(made)


def test_kinds_given_as_strings_are_decided_as_the_kinds_they_name():
    text = "Story.\nPROMO credit\n"
    segs = segment(text)
    for kinds in ([Kind.CONTENT, Kind.CREDIT], ["content", "credit"]):
        spans = choose_removals(text, segs, [0.0, 0.9], kinds, StripConfig(), 0.5)
        assert [s.removed for s in spans] == [False, True]
    # a kind that is none of promofilter's is never removed
    spans = choose_removals(text, segs, [0.0, 0.9], ["content", "sponsored"], StripConfig(), 0.5)
    assert [s.removed for s in spans] == [False, False]
    # a kind's own threshold holds for its name too, in what is removed and in how it is labelled
    config = StripConfig(kind_thresholds={"credit": 0.95})
    for kinds in ([Kind.CONTENT, Kind.CREDIT], ["content", "credit"]):
        spans = choose_removals(text, segs, [0.0, 0.9], kinds, config, 0.5)
        assert [(s.removed, s.kind) for s in spans] == [(False, Kind.CONTENT), (False, Kind.CONTENT)]


def test_removed_ranges_are_the_removed_spans_bounds_whatever_decides_them():
    from promofilter.policy import removed_ranges

    text = "Story.\nRelated: more.\nPROMO line\nThe post Big News appeared first on Daily Planet."
    segs = segment(text)
    scores = [0.0, 0.2, 0.9, 0.1]
    kinds = [Kind.CONTENT, Kind.CROSSPROMO, Kind.AD, Kind.BOILERPLATE]
    for config in (StripConfig(), StripConfig(rules=(Rule("rel", "block", "Related:", "literal", "crosspromo"),))):
        spans = choose_removals(text, segs, scores, kinds, config, 0.5, kept=False)
        assert removed_ranges(text, segs, scores, kinds, config, 0.5) == [(s.start, s.end) for s in spans]
        assert len(spans) == (2 if not config.rules else 3)
    with pytest.raises(ValueError, match="removed spans only"):
        removed_ranges(text, segs, scores, kinds, StripConfig(), 0.5, kept=True)


def test_a_batch_is_stripped_text_by_text_as_its_ranges_say_with_site_rules_too():
    from promofilter.policy import remove_spans, removed_ranges, strip_texts

    texts = ["Story.\nRelated: more.\nPROMO line", "Related: more.\nStory two.", ""]
    segments = [segment(t) for t in texts]
    scores = [0.0, 0.2, 0.9, 0.3, 0.0]
    kinds = [Kind.CONTENT, Kind.CROSSPROMO, Kind.AD, Kind.CROSSPROMO, Kind.CONTENT]
    related = Rule("rel", "block", "Related:", "literal", "crosspromo", sites=("a.com",))
    for config in (StripConfig(), StripConfig(rules=(related,))):
        got = strip_texts(texts, segments, scores, kinds, config, 0.5, sites=["a.com", "b.com", None])
        expected = [remove_spans(texts[0], removed_ranges(texts[0], segments[0], scores[:3], kinds[:3], config, 0.5,
                                                          "a.com")),
                    remove_spans(texts[1], removed_ranges(texts[1], segments[1], scores[3:], kinds[3:], config, 0.5,
                                                          "b.com")),
                    ""]
        assert got == expected
        assert got[1] == texts[1]  # the rule is not in force for b.com
    assert got[0] == "Story."
    # sites as an array, as a DataFrame column gives them
    config = StripConfig(rules=(related,))
    assert strip_texts(texts, segments, scores, kinds, config, 0.5, sites=np.array(["a.com", "b.com", ""])) == got


def test_a_batch_whose_parts_do_not_add_up_is_refused_not_truncated():
    from promofilter import native
    from promofilter.policy import removed_spans_many, strip_texts

    texts = ["Story. Buy now!", "Other."]
    segments = [segment(texts[0])]
    for core in (True, False):
        with native.switched_off() if not core else contextlib.nullcontext():
            with pytest.raises(ValueError, match="one list of segments"):
                strip_texts(texts, segments, [0.0, 0.9], [Kind.CONTENT, Kind.AD], StripConfig(), 0.5)
            with pytest.raises(ValueError, match="1 scores and 2 kinds for 2 segments"):
                removed_spans_many(texts[:1], segments, [0.0], [Kind.CONTENT, Kind.AD], StripConfig(), 0.5)


def test_kinds_outside_the_config_are_kept():
    text = "Story.\nPROMO credit\n"
    segs = segment(text)
    spans = choose_removals(text, segs, [0.0, 0.9], [Kind.CONTENT, Kind.CREDIT],
                            StripConfig(remove_kinds={Kind.AD}), 0.5)
    assert not any(s.removed for s in spans)


def test_remove_spans_rejects_overlapping_or_out_of_bounds_spans():
    with pytest.raises(SpanError):
        remove_spans("abcdef", [(0, 3), (2, 4)])
    with pytest.raises(SpanError):
        remove_spans("abc", [(1, 9)])


def test_threshold_outside_unit_interval_is_refused():
    with pytest.raises(ValueError):
        StripConfig(threshold=1.5)


FEED_ITEM = ("Two cooling centers will open this weekend as forecasters expect temperatures near 100 degrees.\n"
             "The post County opens cooling centers ahead of heat wave appeared first on Lowland  Courier.\n")


def _feed_spans(footer_score, config=StripConfig()):
    segs = segment(FEED_ITEM)
    scores = [0.0] * (len(segs) - 1) + [footer_score]
    return choose_removals(FEED_ITEM, segs, scores, [Kind.CROSSPROMO] * len(segs), config, 0.9)


def test_a_feed_footer_is_removed_by_its_shape_when_its_score_is_low():
    spans = _feed_spans(0.3)
    removed = [s for s in spans if s.removed]
    assert remove_spans(FEED_ITEM, removed) == FEED_ITEM.split("\n")[0] + "\n"
    assert [(s.decision.value, s.rule, s.kind) for s in removed] == [("rule", "builtin:feed-footer", Kind.CROSSPROMO)]


def test_a_feed_footer_the_model_reads_as_article_text_is_kept():
    # an editorial sentence may have the shape; under the floor the model's reading wins
    assert not any(s.removed for s in _feed_spans(0.01))


def test_the_feed_footer_rule_can_be_turned_off_and_respects_kept_kinds():
    assert not any(s.removed for s in _feed_spans(0.3, StripConfig(builtin_rules=False)))
    keep_crosspromo = StripConfig(remove_kinds=frozenset(Kind.promo_kinds()) - {Kind.CROSSPROMO})
    assert not any(s.removed for s in _feed_spans(0.99, keep_crosspromo))


@pytest.mark.parametrize("sentence", [
    "The post was created in 2019 and has been vacant since March.",
    "The post, which appeared first on Facebook, was deleted within an hour.",
    "The post appeared first on the agency's website, officials said.",
    "The post announcing his resignation appeared first on LinkedIn.",
    "The post Minister quits appeared first on Telegram before it was deleted.",
])
def test_editorial_sentences_about_a_post_are_not_feed_footers(sentence):
    text = "Officials gave no further details.\n" + sentence + "\n"
    segs = segment(text)
    # the model's score under its threshold, as high as real footers score (0.6)
    spans = choose_removals(text, segs, [0.6] * len(segs), [Kind.CROSSPROMO] * len(segs), StripConfig(), 0.9)
    assert not any(s.removed for s in spans)


@pytest.mark.parametrize("text", ["Story.\nPROMO one\nPROMO two\n", "One. PROMO here. Two.\nPROMO end",
                                  "Clean text.\n", "PROMO only", ""])
def test_stripping_asks_only_for_the_removed_spans_and_gets_the_same_ones(text):
    segs = segment(text)
    scores = [0.9 if text[s.content_start:s.content_end].startswith("PROMO") else 0.1 for s in segs]
    args = (text, segs, scores, [Kind.CTA] * len(segs), StripConfig(), 0.5)
    every = choose_removals(*args)
    assert len(every) == len(segs)
    assert choose_removals(*args, kept=False) == [s for s in every if s.removed]


# Runs: a segment right after a removed one, or right before it on the same line, is held to the
# lower run threshold.

RUN_TEXT = "Story one.\nStory two.\nRelated:\nFirst headline\nSecond headline\nStory three.\n"
RUN_SCORES = [0.1, 0.75, 0.95, 0.8, 0.7, 0.3]  # "Story two." scores 0.75 but comes before the run


def _run_spans(scores, config=StripConfig(), threshold=0.9, run_threshold=None, kinds=None, scores_alone=None):
    segs = segment(RUN_TEXT)
    kinds = kinds or [Kind.CROSSPROMO] * len(segs)
    return choose_removals(RUN_TEXT, segs, scores, kinds, config, threshold, run_threshold=run_threshold,
                           scores_alone=scores_alone)


def _removed_texts(scores, config=StripConfig(), threshold=0.9, run_threshold=None, kinds=None):
    return [RUN_TEXT[s.start:s.end].strip() for s in _run_spans(scores, config, threshold, run_threshold, kinds)
            if s.removed]


def test_a_run_goes_on_while_the_segments_after_it_reach_the_run_threshold():
    assert _removed_texts(RUN_SCORES) == ["Related:"]
    assert _removed_texts(RUN_SCORES, run_threshold=0.7) == ["Related:", "First headline", "Second headline"]
    assert _removed_texts(RUN_SCORES, run_threshold=0.75) == ["Related:", "First headline"]


def test_a_run_never_reaches_back_over_a_line_break():
    assert "Story two." not in _removed_texts(RUN_SCORES, run_threshold=0.5)


CAPTION_TEXT = "Prices fell again.\nWeekly fund flows in 2025. Source: Example Data\nMore story.\n"


def test_a_run_reaches_back_over_the_segment_before_it_on_the_same_line_only():
    segs = segment(CAPTION_TEXT)
    assert [CAPTION_TEXT[s.content_start:s.content_end] for s in segs] == [
        "Prices fell again.", "Weekly fund flows in 2025.", "Source: Example Data", "More story."]
    scores = [0.8, 0.8, 0.95, 0.1]  # the line before the caption scores as high, but is its own line

    def cleaned(run_threshold):
        spans = choose_removals(CAPTION_TEXT, segs, scores, [Kind.CREDIT] * 4, StripConfig(), 0.9,
                                run_threshold=run_threshold, kept=False)
        return remove_spans(CAPTION_TEXT, spans)

    assert cleaned(None) == "Prices fell again.\nWeekly fund flows in 2025.\nMore story.\n"
    assert cleaned(0.7) == "Prices fell again.\nMore story.\n"
    assert cleaned(0.85) == cleaned(None)  # the caption is under the run threshold


def test_a_run_reaches_back_over_several_segments_of_its_line_until_one_is_kept():
    text = "Intro.\nOne. Two. Three. Source: Example\n"
    segs = segment(text)
    scores = [0.1, 0.8, 0.8, 0.8, 0.95]
    kinds = [Kind.CREDIT] * 5

    def cleaned(config, kinds=kinds):
        return remove_spans(text, choose_removals(text, segs, scores, kinds, config, 0.9, run_threshold=0.7,
                                                  kept=False))

    assert cleaned(StripConfig()) == "Intro.\n"
    assert cleaned(StripConfig(rules=(Rule("two", "allow", "Two.", "literal"),))) == "Intro.\nOne. Two.\n"
    kept_kind = [Kind.CREDIT, Kind.CREDIT, Kind.CTA, Kind.CREDIT, Kind.CREDIT]
    assert cleaned(StripConfig(remove_kinds={Kind.CREDIT}), kept_kind) == "Intro.\nOne. Two.\n"


def test_a_run_threshold_at_or_above_the_threshold_changes_nothing():
    assert _removed_texts(RUN_SCORES, run_threshold=0.9) == _removed_texts(RUN_SCORES) == _removed_texts(
        RUN_SCORES, run_threshold=1.0)


def test_kinds_with_their_own_threshold_or_kept_kinds_are_not_lowered():
    kinds = [Kind.CONTENT, Kind.CONTENT, Kind.CROSSPROMO, Kind.CREDIT, Kind.CROSSPROMO, Kind.CONTENT]
    own = StripConfig(kind_thresholds={"credit": 0.85})
    assert _removed_texts(RUN_SCORES, own, run_threshold=0.5, kinds=kinds) == ["Related:"]
    kept = StripConfig(remove_kinds={Kind.CROSSPROMO})
    assert _removed_texts(RUN_SCORES, kept, run_threshold=0.5, kinds=kinds) == ["Related:"]


def test_the_models_run_threshold_applies_with_its_own_threshold_only():
    from promofilter.stripping import PromoFilter

    model = PromoFilter(classifier=None, threshold=0.9, run_threshold=0.6)
    assert model._run_threshold(StripConfig()) == 0.6
    assert model._run_threshold(StripConfig(threshold=0.95)) is None  # the user's threshold alone
    assert model._run_threshold(StripConfig(threshold=0.95, run_threshold=0.7)) == 0.7


def test_runs_stop_at_what_an_allow_rule_keeps_and_follow_what_a_block_rule_removes():
    keep_first = StripConfig(rules=(Rule("related", "allow", "Related:", "literal"),))
    assert _removed_texts(RUN_SCORES, keep_first, run_threshold=0.7) == []
    keep_inside = StripConfig(rules=(Rule("first", "allow", "First headline", "literal"),))
    assert _removed_texts(RUN_SCORES, keep_inside, run_threshold=0.7) == ["Related:"]
    # a block rule starts a run even where the model's score is low
    low = [0.1, 0.1, 0.2, 0.8, 0.7, 0.3]
    block = StripConfig(rules=(Rule("related", "block", "Related:", "literal", "crosspromo"),))
    assert _removed_texts(low, block, run_threshold=0.7) == ["Related:", "First headline", "Second headline"]


def test_a_segment_a_run_removes_counts_as_removed_by_repetition_only_when_alone_it_would_not_be():
    alone_same = _run_spans(RUN_SCORES, run_threshold=0.7, scores_alone=RUN_SCORES)
    assert [s.by_repetition for s in alone_same if s.removed] == [False, False, False]
    alone_lower = list(RUN_SCORES)
    alone_lower[3] = 0.4  # "First headline" reaches the run threshold only with batch repetition
    spans = _run_spans(RUN_SCORES, run_threshold=0.7, scores_alone=alone_lower)
    # alone, the run would stop before it, so "Second headline" goes only with repetition too
    assert [(s.text.strip(), s.by_repetition) for s in spans if s.removed] == [
        ("Related:", False), ("First headline", True), ("Second headline", True)]
    # a run that starts at a segment removed only by repetition is repetition's doing throughout,
    # though the segments after it would reach the run threshold alone
    origin_lower = list(RUN_SCORES)
    origin_lower[2] = 0.5  # "Related:" is removed only with batch repetition
    spans = _run_spans(RUN_SCORES, run_threshold=0.7, scores_alone=origin_lower)
    assert [(s.text.strip(), s.by_repetition) for s in spans if s.removed] == [
        ("Related:", True), ("First headline", True), ("Second headline", True)]
    # and a segment kept only because repetition lowered its score says so
    kept = _run_spans([0.1, 0.75, 0.5, 0.8, 0.7, 0.3], run_threshold=0.7, scores_alone=RUN_SCORES)
    assert [s.by_repetition for s in kept if s.text.strip() == "Related:"] == [True]
    assert not any(s.removed for s in kept)


@pytest.mark.parametrize("value", [1.5, -0.1, True, "0.8"])
def test_thresholds_must_be_numbers_between_zero_and_one(value):
    with pytest.raises(ValueError, match="between 0 and 1"):
        StripConfig(run_threshold=value)
    with pytest.raises(ValueError, match="between 0 and 1"):
        StripConfig(threshold=value)
