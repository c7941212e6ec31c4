"""Evaluation metrics count non-whitespace characters, like the team's scorer."""
import pytest

from promofilter.evaluate import score_documents

DOC = {"text": "Real news here.\nBuy now at Shop!\n", "promo_spans": [[16, 32, "ad"]]}


def test_exact_removal_scores_perfectly():
    m = score_documents([DOC], [[(15, 32)]])
    assert (m.precision, m.recall, m.f1, m.content_loss, m.lossy_docs) == (1.0, 1.0, 1.0, 0.0, 0.0)
    assert m.per_kind_recall == {"ad": 1.0}


def test_removing_nothing_has_zero_recall_and_no_loss():
    m = score_documents([DOC], [[]])
    assert m.recall == 0.0 and m.content_loss == 0.0 and m.f1 == 0.0


def test_removing_a_whole_content_word_makes_the_document_lossy():
    m = score_documents([DOC], [[(10, 32)]])  # also removes "here."
    assert m.lossy_docs == 1.0
    assert m.content_loss == pytest.approx(5 / 13)
    assert m.precision == pytest.approx(13 / 18)


def test_removing_part_of_a_word_is_loss_but_not_a_lost_word():
    m = score_documents([DOC], [[(12, 32)]])  # "re." of "here."
    assert m.content_loss > 0 and m.lossy_docs == 0.0
