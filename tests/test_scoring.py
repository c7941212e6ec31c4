"""Scoring without scikit-learn (promofilter.scoring): the same scores as the estimator, and a
process that strips text never imports scikit-learn, SciPy or pandas."""
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import promofilter
from promofilter.scoring import CompiledClassifier, murmurhash3_32


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30), max_size=40))
def test_murmurhash_is_the_one_scikit_learn_hashes_words_with(words):
    from sklearn.utils.murmurhash import murmurhash3_32 as reference

    keys = [w.encode("utf-8") for w in words]
    assert murmurhash3_32(keys).tolist() == [reference(k, seed=0) for k in keys]


def test_murmurhash_of_every_tail_length():
    from sklearn.utils.murmurhash import murmurhash3_32 as reference

    keys = [b"xfirstthe"[:n] for n in range(10)] + [bytes([255] * n) for n in range(9)]
    assert murmurhash3_32(keys).tolist() == [reference(k, seed=0) for k in keys]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab AB_1é\n.'-"), max_size=25), min_size=1, max_size=12),
       st.sampled_from([1, 2, 3]), st.sampled_from([r"(?u)\b\w+\b", r"(?u)\b\w\w+\b", r"[a-z]+"]))
def test_hashed_words_are_the_ones_scikit_learn_hashes(texts, max_n, token_pattern):
    # many texts at once (joined by line feeds, each n-gram hashed once) or text by text when a
    # text holds a line feed or the pattern is not known to skip them: always the same columns
    from scipy.sparse import coo_matrix
    from sklearn.feature_extraction.text import HashingVectorizer

    from promofilter.scoring import _HashedWords

    n_features = 2**10
    reference = HashingVectorizer(n_features=n_features, ngram_range=(1, max_n), alternate_sign=False,
                                  lowercase=False, norm="l2", token_pattern=token_pattern).transform(texts)
    rows, cols, counts, norms, ends = _HashedWords(n_features, token_pattern, max_n, "l2").transform(texts)
    ours = coo_matrix((counts / norms[rows], (rows, cols)), shape=(len(texts), n_features))
    assert abs(ours - reference).max() < 1e-12
    assert ends.tolist() == np.cumsum(np.bincount(rows, minlength=len(texts))).tolist()  # each row's entries end


def test_no_texts_have_no_hashed_words():
    from promofilter.scoring import _HashedWords

    rows, cols, counts, norms, ends = _HashedWords(2**10, r"(?u)\b\w+\b", 2, "l2").transform([])
    assert len(rows) == len(cols) == len(counts) == len(norms) == len(ends) == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from([0.0, 0.1, 0.5, 0.7, 0.99, 1.0]), min_size=1, max_size=14),
                max_size=8))
def test_context_features_read_each_documents_neighbours_and_nothing_beyond(documents_scores):
    from promofilter.scoring import CONTEXT_FEATURE_NAMES, context_features

    p = np.array([x for q in documents_scores for x in q], dtype=float)
    doc = np.repeat(np.arange(len(documents_scores)), [len(q) for q in documents_scores])
    expected = []
    for q in documents_scores:
        for i, x in enumerate(q):
            after, before = q[i + 1:], q[:i]
            expected.append([
                x, q[i - 1] if i >= 1 else 0, q[i - 2] if i >= 2 else 0,
                q[i + 1] if i + 1 < len(q) else 0, q[i + 2] if i + 2 < len(q) else 0,
                max(after, default=0), sum(reversed(after)) / max(len(after), 1),  # summed from the end
                sum(a >= 0.5 for a in after) / max(len(after), 1), max(before, default=0), min(len(after), 10),
            ])
    got = context_features(p, doc)
    assert got.shape == (len(p), len(CONTEXT_FEATURE_NAMES))
    assert np.array_equal(got, np.array(expected, dtype=float).reshape(len(p), len(CONTEXT_FEATURE_NAMES)))


@pytest.fixture(scope="module")
def documents():
    from promofilter.corpus import generate, load_corpus

    return [d["text"] for d in generate(load_corpus(), 120, seed=23)]


def test_a_loaded_model_is_scored_by_numpy_as_the_estimator_scores_it(model, documents):
    from promofilter.signals import build_table

    assert isinstance(model.classifier, CompiledClassifier)
    table, _ = build_table(documents)
    mine, my_kinds, _ = model.classifier.score_kind_alone(table)
    theirs, their_kinds, _ = model.estimator().score_kind_alone(table)
    np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-12)
    assert my_kinds == their_kinds


def test_a_model_that_has_scored_pickles_and_scores_the_same(model, documents):
    # (the compiled core's trees, made ready on first use, stay out of the pickle: worker
    # processes and Dask get the model this way, and make their own)
    import pickle

    before = model.strip_many(documents)
    again = pickle.loads(pickle.dumps(model))
    assert again.strip_many(documents) == before
    assert [s.score for r in again.detect_many(documents) for s in r] == \
        [s.score for r in model.detect_many(documents) for s in r]


def test_stripping_with_numpy_scores_removes_what_the_estimator_removes(model, documents):
    from promofilter.stripping import PromoFilter

    estimator = PromoFilter(model.estimator(), model.threshold, model.metadata, model.run_threshold)
    counts = model.count_repetition(documents)
    for repetition in (None, counts):  # documents alone, and batch mode (the batch head)
        mine = [[(s.start, s.end, s.kind, s.removed) for s in r] for r in model.detect_many(documents, repetition=repetition)]
        theirs = [[(s.start, s.end, s.kind, s.removed) for s in r]
                  for r in estimator.detect_many(documents, repetition=repetition)]
        assert mine == theirs
        scores = [s.score for r in model.detect_many(documents, repetition=repetition) for s in r]
        np.testing.assert_allclose(scores, [s.score for r in estimator.detect_many(documents, repetition=repetition)
                                            for s in r], rtol=0, atol=1e-12)


def test_stripping_a_text_imports_neither_scikit_learn_nor_scipy_nor_pandas(model_dir):
    code = (
        "import sys, promofilter\n"
        f"model = promofilter.load_model({str(model_dir)!r})\n"
        "model.strip('Rates held steady on Tuesday.\\nFollow us on X for more market news!')\n"
        "print(sorted(m for m in ('sklearn', 'scipy', 'pandas') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_estimator_of_a_loaded_model_is_loaded_when_asked_for(model):
    from promofilter.model import PromoClassifier

    assert isinstance(model.estimator(), PromoClassifier)
    assert model.estimator() is model.estimator()  # loaded once


def test_a_model_numpy_cannot_score_exactly_is_scored_by_scikit_learn(model, tmp_path, documents):
    import copy

    from promofilter.model import PromoClassifier
    from promofilter.persist import save_model
    from promofilter.stripping import PromoFilter

    odd = copy.deepcopy(model)
    odd.estimator().words_.steps[1][1].binary = True  # an option the NumPy scorer does not reproduce
    save_model(odd, tmp_path / "odd")
    again = promofilter.load_model(tmp_path / "odd")
    assert isinstance(again.classifier, PromoClassifier)
    by_estimator = PromoFilter(odd.estimator(), odd.threshold, run_threshold=odd.run_threshold)
    assert again.strip_many(documents[:10], batch=False) == by_estimator.strip_many(documents[:10], batch=False)


@pytest.mark.parametrize("field,value,problem", [
    ("left", "self", "a node outside the tree"),  # a loop
    ("right", "size", "a node outside the tree"),  # the next tree's root: inside the forest, not the tree
    ("feature_idx", "width", "a split on a feature the model does not have"),
    ("is_categorical", 1, "categorical splits"),
])
def test_a_forest_is_checked_tree_by_tree_whichever_tree_is_broken(model, field, value, problem):
    from promofilter.scoring import forest_problem, tree_problem

    booster = model.estimator().stage2_
    trees = [p[0].nodes.copy() for p in booster._predictors]
    width = booster.n_features_in_
    assert forest_problem(trees, width) is None and all(tree_problem(t, width) is None for t in trees)
    k = len(trees) // 2
    tree = trees[k]
    node = int((~tree["is_leaf"].astype(bool)).nonzero()[0][-1])  # the last inner node
    tree[field][node] = {"self": node, "size": len(tree), "width": width}.get(value, value)
    assert problem in forest_problem(trees, width)
    assert problem in tree_problem(tree, width)
    assert forest_problem(trees[:k] + trees[k + 1:], width) is None


def test_the_first_broken_tree_of_a_forest_names_the_problem():
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    from promofilter.scoring import forest_problem

    def stump():
        tree = np.zeros(3, dtype=PREDICTOR_RECORD_DTYPE)
        tree["is_leaf"], tree["left"][0], tree["right"][0] = [0, 1, 1], 1, 2
        return tree

    categorical, outside = stump(), stump()
    categorical["is_categorical"][0] = 1
    outside["right"][0] = 3
    assert forest_problem([stump(), categorical, outside], 4).startswith("categorical splits")
    assert forest_problem([outside, categorical], 4) == "a node outside the tree"
    assert forest_problem([stump(), np.zeros(2), outside], 4) == "malformed nodes"
    assert forest_problem([stump(), outside, np.zeros(2)], 4) == "a node outside the tree"
    assert forest_problem([stump(), stump()], 4) is None
