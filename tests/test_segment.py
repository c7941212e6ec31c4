"""Segmentation: segments tile the input exactly and split where a reader would."""
from hypothesis import given, settings
from hypothesis import strategies as st

from promofilter import segment


def contents(text):
    return [text[s.content_start : s.content_end] for s in segment(text)]


def test_empty_text_has_no_segments():
    assert segment("") == []


def test_whitespace_only_text_is_one_empty_segment():
    (s,) = segment(" \n\n ")
    assert (s.start, s.end, s.content_start, s.content_end) == (0, 4, 0, 0)


def test_each_line_is_a_segment_with_its_line_break():
    text = "First line\nSecond line\n"
    assert [text[s.start : s.end] for s in segment(text)] == ["First line\n", "Second line\n"]


def test_crlf_and_lone_cr_are_line_breaks():
    assert contents("One\r\nTwo\rThree") == ["One", "Two", "Three"]


def test_trailer_glued_after_last_sentence_is_its_own_segment():
    text = "The minister said on Tuesday. Featured image from Shutterstock."
    assert contents(text) == ["The minister said on Tuesday.", "Featured image from Shutterstock."]


def test_paragraphs_joined_without_space_are_split():
    assert contents("prices fell sharply.Follow us on X for more") == ["prices fell sharply.", "Follow us on X for more"]


def test_abbreviations_and_decimals_do_not_split():
    text = "The U.S. economy grew 4.5% as Mr. Lee at Acme Inc. spent $4.5 billion on No. 3 plants."
    assert contents(text) == [text]


def test_initials_do_not_split():
    assert contents("J. R. Smith scored 30 points.") == ["J. R. Smith scored 30 points."]


def test_cjk_sentences_split_without_spaces():
    assert contents("央行维持利率不变。关注我们的微信公众号！") == ["央行维持利率不变。", "关注我们的微信公众号！"]


def test_sentence_ending_in_quote_splits_before_next_sentence():
    assert contents('"We are done," she said. "Subscribe now." Next.') == ['"We are done," she said.', '"Subscribe now."', "Next."]


def test_period_before_a_lowercase_word_does_not_split():
    text = "It costs approx. ten dollars. e.g. this one."
    assert contents(text) == [text]


def test_very_long_line_is_split_into_sentences():
    text = " ".join(f"Sentence number {i} ends here." for i in range(5000))
    segs = segment(text)
    assert len(segs) == 5000
    assert "".join(text[s.start : s.end] for s in segs) == text


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(list(".!?。\n\r \t\u2028")), max_size=300))
def test_segments_tile_any_text_exactly(text):
    segs = segment(text)
    assert "".join(text[s.start : s.end] for s in segs) == text
    pos = 0
    for s in segs:
        assert s.start == pos and s.start <= s.content_start <= s.content_end <= s.end
        assert text[s.content_end : s.end].strip() == "" or text[s.content_end : s.end].isspace()
        pos = s.end
    assert pos == len(text)
