"""Every estimator we write follows the scikit-learn contract."""
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from promofilter.corpus import generate, load_corpus
from promofilter.features import SHAPE_FEATURE_NAMES, ShapeFeatures, TextMasker
from promofilter.model import CONTEXT_FEATURE_NAMES, PromoClassifier
from promofilter.training import label_documents


@pytest.fixture(scope="module")
def table_and_labels():
    docs = generate(load_corpus(), 150, seed=3)
    return label_documents(docs)


@pytest.mark.parametrize("estimator", [PromoClassifier(n_features=2**12, max_iter=20), ShapeFeatures(), TextMasker()])
def test_clone_and_get_params_round_trip(estimator):
    twin = clone(estimator)
    assert twin.get_params() == estimator.get_params()
    assert twin is not estimator


def test_text_masker_is_stateless_and_needs_no_fit(table_and_labels):
    table, _ = table_and_labels
    assert TextMasker().transform(table[:3]) == TextMasker().fit(table).transform(table[:3])


@pytest.mark.parametrize("estimator", [PromoClassifier(), ShapeFeatures()])
def test_using_an_unfitted_estimator_raises_not_fitted(estimator, table_and_labels):
    table, _ = table_and_labels
    with pytest.raises(NotFittedError):
        (estimator.predict_proba if hasattr(estimator, "predict_proba") else estimator.transform)(table)


def test_fit_returns_self_and_pickles(table_and_labels):
    table, labels = table_and_labels
    est = PromoClassifier(n_features=2**14, max_iter=30)
    assert est.fit(table, labels) is est
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(again.predict_proba(table), est.predict_proba(table))


def test_same_random_state_gives_the_same_scores(table_and_labels):
    table, labels = table_and_labels
    a = PromoClassifier(n_features=2**14, max_iter=30, random_state=7).fit(table, labels)
    b = PromoClassifier(n_features=2**14, max_iter=30, random_state=7).fit(table, labels)
    np.testing.assert_array_equal(a.predict_proba(table), b.predict_proba(table))


def test_probabilities_are_in_unit_interval_and_kinds_are_promo_kinds(table_and_labels):
    table, labels = table_and_labels
    est = PromoClassifier(n_features=2**14, max_iter=30).fit(table, labels)
    p, kinds = est.score_and_kind(table)
    assert ((p >= 0) & (p <= 1)).all()
    assert {k.value for k in kinds} <= set(labels) - {"content"}


def test_shape_features_have_one_named_column_each(table_and_labels):
    table, _ = table_and_labels
    X = ShapeFeatures().fit(table).transform(table)
    assert X.shape == (len(table), len(SHAPE_FEATURE_NAMES))
    assert np.isfinite(X).all()


def test_training_needs_both_classes(table_and_labels):
    table, labels = table_and_labels
    with pytest.raises(ValueError, match="both promo and content"):
        PromoClassifier().fit(table, ["content"] * len(table))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_URLISH = st.lists(st.sampled_from(list("abcw.:/@#1 -_é😀ıſ\u212a") + ["www.", ".com", "http://", ".io", "WWW.", ".Co",
                                                                      ".uk", "biz", "new", "s", "n"]),
                   max_size=25).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(_URLISH, st.text(max_size=60)))
def test_the_cheap_url_test_never_skips_a_url(text):
    from promofilter.features import URL, _maybe_url

    if URL.search(text):
        assert _maybe_url(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
def test_ascii_text_is_counted_as_python_counts_its_characters(text):
    from promofilter.signals import _char_classes

    assert _char_classes(text, ascii_only=True) == (
        sum(map(str.isalpha, text)), sum(map(str.isalnum, text)), sum(map(str.isspace, text)),
        sum(map(str.isupper, text)), sum(map(str.isdigit, text)))


@settings(max_examples=400, deadline=None)
@given(st.one_of(_URLISH, st.text(max_size=60)))
def test_the_template_url_hint_never_skips_a_url(text):
    from promofilter.mining import _URL, _URL_HINT

    if _URL.search(text):
        assert _URL_HINT.search(text)


def test_an_empty_table_scores_to_no_rows(table_and_labels):
    table, labels = table_and_labels
    est = PromoClassifier(n_features=2**14, max_iter=30).fit(table, labels)
    assert est.predict_proba(table.iloc[:0]).shape == (0, 2)
    p, kinds = est.score_and_kind(table.iloc[:0])
    assert len(p) == 0 and kinds == []


def test_scores_do_not_depend_on_how_many_rows_are_scored_at_once(model, monkeypatch):
    """Huge inputs are scored in row chunks to bound memory; the chunking must not show."""
    import promofilter.model as model_module
    from promofilter.features import build_table
    from promofilter.repetition import REPETITION_FEATURE_NAMES, count_batch, repetition_features

    docs = [d["text"] for d in generate(load_corpus(), 40, seed=3)]
    table, _ = build_table(docs + ["\n".join(docs)])  # many documents, then one long one
    features = repetition_features(table, count_batch(docs + ["\n".join(docs)]), None)
    for j, name in enumerate(REPETITION_FEATURE_NAMES):
        table[name] = features[:, j]
    whole = model.classifier.score_kind_alone(table)
    monkeypatch.setattr(model_module, "SCORE_ROWS", 37)
    chunked = model.classifier.score_kind_alone(table)
    assert len(table) > 10 * 37 and whole[2] is not None  # scored in a batch, and alone
    np.testing.assert_array_equal(whole[0], chunked[0])
    assert whole[1] == chunked[1]
    np.testing.assert_array_equal(whole[2], chunked[2])


def test_us_the_country_is_not_read_as_us_the_pronoun_of_follow_us():
    from promofilter.features import mask_text

    assert "usa" in mask_text("US stocks rose as the U.S. dollar fell.").split()
    assert "us" not in mask_text("US stocks rose as the U.S. dollar fell.").split()
    assert "us" in mask_text("FOLLOW US ON X FOR MORE").split()
    assert "us" in mask_text("Follow us on X for more.").split()


def test_ascii_text_has_its_character_classes_counted_as_str_counts_them():
    from promofilter.signals import _char_classes

    text = "".join(chr(c) for c in range(128)) * 2 + "Rates rose 4% on Tuesday.\tFOLLOW us\x1c"
    assert _char_classes(text, True) == _char_classes(text, False)


def test_a_higher_stage_one_score_never_lowers_the_final_score(table_and_labels):
    table, labels = table_and_labels
    est = PromoClassifier(n_features=2**14, max_iter=30).fit(table, labels)
    p1 = np.linspace(0, 1, len(table))
    inputs = est._stage2_matrix(table, p1, est.shape_.transform(table))
    own = CONTEXT_FEATURE_NAMES.index("p")
    final = []
    # a fine grid: without the constraint, even trees of this size break monotonicity on it
    for value in np.linspace(0, 1, 41):
        inputs[:, own] = value  # only the segment's own stage-1 score changes
        final.append(est.stage2_.predict_proba(inputs)[:, 1])
    assert all((later >= earlier - 1e-12).all() for earlier, later in zip(final, final[1:]))
    assert (final[-1] > final[0]).any()


def test_a_title_case_run_inside_a_segment_is_one_token():
    from promofilter.features import mask_text

    # a headline quoted in a feed trailer must not dilute the trailer's own words
    masked = mask_text("The post Heatwave Grips Southern Europe for Third Week appeared first on Ledger.").split()
    assert masked.count("xtitle") == 1 and not {"heatwave", "grips", "europe"} & set(masked)
    assert "xtitle" not in mask_text("FOLLOW US ON X FOR MORE")
    assert "xtitle" not in mask_text("Shares of Acme Corp rose on Tuesday.")  # two names, not a title
