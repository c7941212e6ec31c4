"""Policy: removed runs take exactly one separator with them; kept characters never change."""
import pytest

from promofilter import Kind, StripConfig, remove_spans, segment
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
