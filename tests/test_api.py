"""The public API: strip, strip_and_explain, detect, strip_many and replayable spans."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import promofilter
from promofilter import Kind, Span, StripConfig, Stripped, remove_spans
from promofilter.rules import Rule

ARTICLE = (
    "Council Approves Riverside Park Budget\n"
    "The city council voted 7-2 on Tuesday to approve a $4.5 million renovation of Riverside Park, "
    "ending a debate that lasted most of the year.\n"
    "Work on the new playground and the riverside path is expected to begin in the spring, "
    "the parks director said.\n"
    "\"This has been a long time coming,\" said council member Dana Ruiz, who represents the district.\n"
)
TRAILER = "Subscribe to our newsletter to get the latest local news in your inbox every morning!\n"


def test_strip_removes_an_own_line_newsletter_trailer(model):
    assert model.strip(ARTICLE + TRAILER) == ARTICLE


def test_clean_article_comes_out_unchanged(model):
    assert model.strip(ARTICLE) == ARTICLE


def test_strip_and_explain_reports_spans_into_the_original(model):
    text = ARTICLE + TRAILER
    result = model.strip_and_explain(text)
    assert isinstance(result, Stripped)
    assert result.removed and all(isinstance(s, Span) for s in result.removed)
    assert result.text == remove_spans(text, result.removed)
    for span in result.removed:
        assert text[span.start : span.end] == span.text
        assert span.kind in Kind.promo_kinds()
        assert 0.0 <= span.score <= 1.0


def test_detect_scores_every_segment(model):
    spans = model.detect(ARTICLE + TRAILER)
    assert len(spans) == len([s for s in promofilter.segment(ARTICLE + TRAILER)])
    assert spans[-1].removed and not spans[0].removed
    assert all(s.kind is Kind.CONTENT for s in spans if not s.removed and s.score < model.threshold)


def test_threshold_one_removes_nothing_and_zero_everything_visible(model):
    text = ARTICLE + TRAILER
    assert model.strip(text, StripConfig(threshold=1.0)) == text
    assert model.strip(text, StripConfig(threshold=0.0)).strip() == ""


def test_kinds_not_selected_are_kept(model):
    text = ARTICLE + TRAILER
    kind = model.strip_and_explain(text).removed[-1].kind
    others = frozenset(Kind.promo_kinds()) - {kind}
    assert model.strip(text, StripConfig(remove_kinds=others)) == text


@pytest.mark.parametrize("config", [
    StripConfig(),
    StripConfig(threshold=0.3),
    StripConfig(kind_thresholds={"credit": 0.2, "disclaimer": 0.99}),
    StripConfig(remove_kinds=frozenset({Kind.CTA, Kind.CREDIT})),
    StripConfig(builtin_rules=False),
    StripConfig(threshold=0.0),
    StripConfig(rules=(Rule("riverside", "allow", "Riverside", "literal"),
                       Rule("council", "block", "council", "literal", "credit"))),
    StripConfig(threshold=0.9, run_threshold=0.2),  # runs reach segments under the threshold
])
def test_stripping_removes_exactly_what_detection_marks_removed(model, config):
    # stripping names the kinds only of segments whose kind can matter (see policy.kinds_needed):
    # the same spans, scores and kinds as detection, which names every segment's kind
    from promofilter.corpus import generate, load_corpus

    documents = [d["text"] for d in generate(load_corpus(), 40, seed=13)]
    documents += [ARTICLE + "The post Council Approves Riverside Park Budget appeared first on Metro Daily.", ""]
    for batch in (False, True):  # each document alone, and as one batch
        repetition = model.count_repetition(documents) if batch else None
        detected = [tuple(s for s in spans if s.removed)
                    for spans in model.detect_many(documents, config, repetition=repetition)]
        stripped = [r.removed for r in model.explain_many(documents, config, repetition=repetition)]
        assert stripped == detected
    assert any(detected)


def test_strip_many_without_a_batch_matches_strip_one_by_one(model):
    # documents alone (the default) must match strip() exactly; in batch mode a segment that
    # recurs in another document of the list is scored by the batch head instead
    texts = [ARTICLE + TRAILER, ARTICLE, "", "   \n", TRAILER]
    assert model.strip_many(texts) == [model.strip(t) for t in texts]
    assert model.strip_many(texts, batch=False) == model.strip_many(texts)


def test_strip_many_accepts_a_generator(model):
    assert model.strip_many(t for t in [ARTICLE]) == [ARTICLE]


def test_non_string_input_is_a_clear_type_error(model):
    with pytest.raises(TypeError, match="expected str"):
        model.strip(b"bytes")


def test_module_functions_use_the_default_model(model):
    assert promofilter.strip(ARTICLE + TRAILER) == model.strip(ARTICLE + TRAILER)
    assert promofilter.strip_and_explain(ARTICLE).removed == ()
    assert promofilter.detect(ARTICLE)[0].removed is False
    assert promofilter.strip_many([ARTICLE]) == [ARTICLE]


def test_results_are_frozen_and_serialisable(model):
    result = model.strip_and_explain(ARTICLE + TRAILER)
    with pytest.raises(AttributeError):
        result.text = "x"
    d = result.to_dict()
    assert d["removed"][0]["kind"] in {k.value for k in Kind.promo_kinds()}


PROSE = st.text(alphabet=st.characters(codec="utf-8"), max_size=400)
LINES = st.lists(st.sampled_from([
    "Subscribe to our newsletter!", "Featured image from Shutterstock", "Read more: Markets rally",
    "The council met on Tuesday.", "Prices rose 4.5% in the U.S.", "\n", "\r\n", " ", "😀", "。",
]), max_size=20).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(PROSE, LINES))
def test_output_is_input_minus_exactly_the_reported_spans(model, text):
    result = model.strip_and_explain(text)
    assert result.text == remove_spans(text, result.removed)
    pos = 0
    for span in result.removed:
        assert pos <= span.start < span.end <= len(text)
        assert text[span.start : span.end] == span.text
        pos = span.end
    kept = [s for s in model.detect(text) if not s.removed]
    for s in kept:
        assert s.text in result.text
