"""The optional compiled core (promofilter/_native.c): built at install, the same numbers as the
NumPy code it replaces, safe on a crafted model, and ignored when stale or switched off."""
import contextlib
import dataclasses
import json
import gc
import os
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promofilter import native
from promofilter.scoring import NODE_DTYPE

needs_core = pytest.mark.skipif(native.core() is None, reason="the compiled core is not built")


def _c_compiler() -> bool:
    import shutil
    import sysconfig

    return bool(shutil.which((sysconfig.get_config_var("CC") or "cc").split()[0]))


@pytest.mark.skipif(os.environ.get("PROMOFILTER_PURE_PYTHON") == "1" or os.environ.get("PROMOFILTER_NATIVE") == "0"
                    or not _c_compiler(), reason="installed or run without the compiled core, or no C compiler")
def test_an_install_with_a_c_compiler_builds_the_compiled_core():
    assert native.core() is not None, "promofilter/_native.c was not compiled: reinstall (pip install -e .)"


@needs_core
@pytest.mark.parametrize("with_missing", [False, True])
def test_compiled_trees_score_exactly_as_numpy_walks_them(shipped_model, with_missing):
    trees = shipped_model.classifier.stage2
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1003, trees.n_features)) * 3  # (not a multiple of the rows walked together)
    if with_missing:  # missing values go where training sent them
        X[rng.random(X.shape) < 0.05] = np.nan
    assert np.array_equal(trees.predict_proba(X), trees.predict_proba_numpy(X))


def _random_forest(rng, leaf_counts, width):
    """Trees of the given numbers of leaves, of random shapes, as one node array (children are
    global indices after their parent, as the walk reads them) and their roots."""
    nodes, roots = [], []
    for leaves in leaf_counts:
        root = len(nodes)
        roots.append(root)
        nodes.append(None)
        open_ = [root]  # leaves still to split, by node index
        while len(open_) < leaves:
            at = open_.pop(rng.integers(len(open_)))
            left, right = len(nodes), len(nodes) + 1
            nodes += [None, None]
            nodes[at] = (left, right)
            open_ += [left, right]
    out = np.zeros(len(nodes), dtype=NODE_DTYPE)
    for i, node in enumerate(nodes):
        if node is None:
            out[i]["leaf"], out[i]["value"] = 1, rng.normal()
        else:
            out[i]["left"], out[i]["right"] = node
            out[i]["feature"] = rng.integers(width)
            out[i]["threshold"] = rng.choice([-1.0, 0.0, 0.5, 1.0, rng.normal()])
            out[i]["missing_left"] = rng.integers(2)
    return out, np.array(roots, dtype=np.int64)


def _reference_sums(nodes, roots, X, baseline):
    """The walk, one row and one tree at a time, in the order the compiled sum adds them."""
    out = []
    for row in X:
        raw = baseline
        for root in roots:
            at = root
            while not nodes[at]["leaf"]:
                v = row[nodes[at]["feature"]]
                left = v <= nodes[at]["threshold"] or (np.isnan(v) and nodes[at]["missing_left"])
                at = nodes[at]["left"] if left else nodes[at]["right"]
            raw += nodes[at]["value"]
        out.append(raw)
    return np.array(out)


@needs_core
@pytest.mark.parametrize("leaf_counts, rows, nan_threshold", [
    ([1, 2, 3, 15, 15, 31], 700, False),  # what boosting fits here (scored by feature, not walked)
    ([64, 2, 64], 700, False),  # the most leaves a tree can have to be scored by feature
    ([15, 65, 3], 700, False),  # one tree too many leaves: all walked
    ([15, 15], 700, True),  # a (crafted) NaN threshold sends every row right of it: walked
    ([1, 2, 3, 15, 15, 31], 40, False),  # a few rows (one document) are walked
])
def test_compiled_trees_score_rows_on_and_around_thresholds_as_a_walk_does(leaf_counts, rows, nan_threshold):
    rng = np.random.default_rng(len(leaf_counts) + sum(leaf_counts) + rows)
    nodes, roots = _random_forest(rng, leaf_counts, width=4)
    thresholds = nodes["threshold"][nodes["leaf"] == 0]
    if nan_threshold:
        nodes["threshold"][np.flatnonzero(nodes["leaf"] == 0)[3]] = np.nan
    # values equal to thresholds, a rounding either side of them, and missing values
    values = np.concatenate([thresholds, np.nextafter(thresholds, np.inf), np.nextafter(thresholds, -np.inf),
                             [np.nan, np.inf, -np.inf, 0.0, -0.0]])
    X = rng.choice(values, size=(rows, 4))
    X[:rows // 2, :] = rng.choice(values[:-5], size=(rows // 2, 4))  # rows without a missing value
    out = np.empty(len(X))
    native.core().tree_sums(nodes, roots, X, 4, 0.125, out)
    expected = _reference_sums(nodes, roots, X, 0.125)
    assert np.array_equal(out, expected)
    # trees made ready once are scored by feature whenever they fit, however few the rows
    prepared = np.empty(len(X))
    native.core().tree_sums_prepared(native.core().prepared_trees(nodes, roots, 4), X, 0.125, prepared)
    assert np.array_equal(prepared, expected)


@needs_core
@pytest.mark.parametrize("add", [False, True])
def test_compiled_trees_score_runs_of_rows_without_missing_values_of_every_length_as_a_walk_does(add):
    """Rows without a missing value are scored four or two at once where the CPU can (AVX2,
    SSE2): runs of 1 to 9 of them between rows with one, on and around thresholds, each get the
    walk's sum, from the baseline or (add) from the sum already in ``out``."""
    rng = np.random.default_rng(11)
    nodes, roots = _random_forest(rng, [1, 2, 3, 15, 15, 31, 64], width=5)
    thresholds = nodes["threshold"][nodes["leaf"] == 0]
    values = np.concatenate([thresholds, np.nextafter(thresholds, np.inf), np.nextafter(thresholds, -np.inf),
                             [np.inf, -np.inf, 0.0, -0.0]])
    X = rng.choice(values, size=(sum(range(1, 10)) + 9, 5))
    at = 0
    for run in range(1, 10):
        at += run
        X[at, rng.integers(5)] = np.nan
        at += 1
    core = native.core()
    out = np.full(len(X), 0.25)
    core.tree_sums_prepared(core.prepared_trees(nodes, roots, 5), X, 0.125, out, add)
    assert np.array_equal(out, _reference_sums(nodes, roots, X, 0.25 if add else 0.125))


@needs_core
def test_prepared_trees_hold_copies_and_go_on_from_a_partial_sum():
    rng = np.random.default_rng(5)
    nodes, roots = _random_forest(rng, [15, 31, 7, 3], width=3)
    X = rng.normal(size=(30, 3))
    core = native.core()
    first, rest = core.prepared_trees(nodes, roots[:2], 3), core.prepared_trees(nodes, roots[2:], 3)
    expected = _reference_sums(nodes, roots, X, -0.5)
    nodes["value"] += 1.0  # the arrays change afterwards: what was prepared does not
    roots[:] = roots[0]
    out = np.empty(len(X))
    core.tree_sums_prepared(first, X, -0.5, out)
    core.tree_sums_prepared(rest, X, -0.5, out, True)  # (add: on from the first trees' sums)
    assert np.array_equal(out, expected)
    with pytest.raises(ValueError, match="inconsistent sizes"):
        core.tree_sums_prepared(first, np.zeros((30, 4)), 0.0, out)
    with pytest.raises(ValueError, match="a node outside the tree or input"):
        core.prepared_trees(nodes, roots, 2)  # features beyond the width
    with pytest.raises(ValueError):
        core.tree_sums_prepared(object(), X, 0.0, out)  # not prepared trees


@pytest.mark.parametrize("compiled", [True, False])
def test_the_product_of_some_rows_is_what_the_whole_product_gives_them(compiled):
    # the kind model is asked only about segments stripping may remove (policy.kinds_needed)
    from promofilter.scoring import _dot

    if compiled and native.core() is None:
        pytest.skip("the compiled core is not built")
    rng = np.random.default_rng(3)
    n_rows, n_cols = 50, 40
    rows = np.sort(rng.integers(0, n_rows, 400))
    rows[rows == 7] = 8  # a row without entries
    words = (rows, rng.integers(0, n_cols, 400), rng.integers(1, 4, 400).astype(float), rng.random(n_rows) + 0.5,
             np.cumsum(np.bincount(rows, minlength=n_rows)))
    weights = np.asfortranarray(rng.normal(size=(6, n_cols + 3)))[:, :n_cols]  # a strided view, as the kind model's
    with contextlib.nullcontext() if compiled else native.switched_off():
        whole = _dot(words, weights)
        for some in ([], [0], [7], [49], [3, 7, 8, 30], np.flatnonzero(rng.random(n_rows) < 0.3), range(n_rows)):
            some = np.asarray(some, dtype=np.int64)
            assert np.array_equal(_dot(words, weights, some), whole[some])
            assert np.array_equal(_dot(words, weights[:1], some), whole[some, :1])  # one class: summed in runs


@needs_core
@pytest.mark.parametrize("classes", [1, 3])
def test_sparse_dot_adds_each_entry_to_out_in_order_whatever_the_order_of_the_rows(classes):
    rng = np.random.default_rng(11)
    rows = np.concatenate([np.sort(rng.integers(0, 5, 40)), rng.integers(0, 5, 40)])  # runs, then a row here and there
    cols, counts = rng.integers(0, 10, 80), rng.integers(1, 4, 80).astype(float)
    weights = rng.normal(size=(classes, 10))
    before = rng.normal(size=(5, classes))  # out is added to, not written over
    expected = before.copy()
    for i in range(80):
        for k in range(classes):
            expected[rows[i], k] += counts[i] * weights[k, cols[i]]
    out = before.copy()
    native.core().sparse_dot(rows, cols, counts, weights, out)
    assert np.array_equal(out, expected)


@needs_core
@pytest.mark.parametrize("row, column", [(-1, 0), (3, 0), (0, -1), (0, 5), (-2**63, 0), (0, 2**62)])
def test_sparse_dot_refuses_an_entry_outside_the_matrices_and_adds_nothing(row, column):
    rows, columns = np.array([0, 1, row, 2]), np.array([1, 2, column, 4])
    out = np.zeros((3, 2))
    with pytest.raises(ValueError, match="outside the matrices"):
        native.core().sparse_dot(rows, columns, np.ones(4), np.ones((2, 5)), out)
    assert not out.any()


@needs_core
def test_compiled_stripping_removes_what_numpy_scoring_removes(shipped_model):
    from promofilter.corpus import generate, load_corpus

    documents = [d["text"] for d in generate(load_corpus(), 60, seed=41)]
    documents += ["", "  \n", "Read “the U.S. view” at www.example.com/x or mail a@b.io. #Tag", "x.ıo said \udc80 US"]
    sites = [("ledger", "planet", None, "ßite")[i % 4] for i in range(len(documents))]
    compiled = list(shipped_model.detect_many(documents))  # every segment, its score and kind
    counts = shipped_model.count_repetition(documents, sites)  # batch mode: repetition keys, hashed
    assert len(counts.keys) > 100  # keys found in two or more documents
    batch = list(shipped_model.detect_many(documents, sites=sites, repetition=counts))
    with native.switched_off():
        assert native.core() is None
        assert list(shipped_model.detect_many(documents)) == compiled
        python_counts = shipped_model.count_repetition(documents, sites)
        assert python_counts.keys.tolist() == counts.keys.tolist()
        assert python_counts.counts.tolist() == counts.counts.tolist()
        assert list(shipped_model.detect_many(documents, sites=sites, repetition=python_counts)) == batch


def _one_split_tree(**changes) -> np.ndarray:
    """A tree of one split (feature 0 at 0.5) and two leaves, with ``changes`` to its root."""
    nodes = np.zeros(3, dtype=NODE_DTYPE)
    nodes[0] = (0.5, 0.0, 0, 2, 1, 0, 1, b"\0\0")
    nodes[1]["leaf"] = nodes[2]["leaf"] = 1
    nodes[1]["value"], nodes[2]["value"] = -1.0, 1.0
    for field, value in changes.items():
        nodes[0][field] = value
    return nodes


@needs_core
def test_a_compiled_walk_sends_rows_left_at_or_under_the_threshold_and_missing_values_where_trained():
    X = np.array([[0.2], [0.5], [0.9], [np.nan]])
    out = np.empty(4)
    native.core().tree_sums(_one_split_tree(), np.array([0]), X, 1, 0.25, out)
    assert out.tolist() == [-0.75, -0.75, 1.25, -0.75]
    native.core().tree_sums(_one_split_tree(missing_left=0), np.array([0]), X, 1, 0.0, out)
    assert out[3] == 1.0


@needs_core
@pytest.mark.parametrize("changes", [{"left": 0}, {"right": 3}, {"feature": 1}, {"feature": -1}])
def test_a_crafted_tree_is_refused_by_the_compiled_walk_not_followed(changes):
    # a child that loops back or leaves the nodes, a split on a column the input lacks
    with pytest.raises(ValueError, match="tree_sums"):
        native.core().tree_sums(_one_split_tree(**changes), np.array([0]), np.zeros((2, 1)), 1, 0.0, np.empty(2))


@needs_core
def test_a_compiled_walk_refuses_arrays_of_the_wrong_sizes():
    with pytest.raises(ValueError, match="inconsistent sizes"):
        native.core().tree_sums(_one_split_tree(), np.array([0]), np.zeros((2, 1)), 1, 0.0, np.empty(3))
    with pytest.raises(TypeError, match="roots"):
        native.core().tree_sums(_one_split_tree(), np.array([0], dtype=np.int32), np.zeros((2, 1)), 1, 0.0,
                                np.empty(2))


def test_a_compiled_core_of_another_version_is_not_used(monkeypatch):
    # a build left in a source tree by an older checkout must not compute something else
    monkeypatch.setattr(native, "_loaded", [])
    monkeypatch.setattr(native, "NATIVE_VERSION", native.NATIVE_VERSION + 1)
    assert native.core() is None


def test_promofilter_native_0_switches_the_compiled_core_off(monkeypatch):
    monkeypatch.setattr(native, "_loaded", [])  # as in a new process
    monkeypatch.setenv("PROMOFILTER_NATIVE", "0")
    assert native.core() is None


# characters where the features' regular expressions are easy to restate wrongly: word
# characters that are not letters, apostrophes, URL and handle marks, case changes that change
# length, emoji, separators, closing quotes, lone surrogates (undecodable input bytes)
_TRICKY = ("aZ _1²½٣İßΣς'’.:/wW@#&-|•»›→▶“”\"©)]*!?([{ \t\n\u00a0"
           "\U0001F525\u2705\uFE0F\u2B50\udcff")
# texts where a URL, an e-mail or "US" the country nearly is: top-level domains in any case (İ ı ſ K
# are letters to the regex engine when it ignores case), word characters just after them, "U.S."
# ASCII but for the typographic characters the compiled core takes through its ASCII code as
# bytes ("narrowed"), and the control characters it writes them as (which a text must not hold)
_NARROWABLE = "aZq_1 '.:/wW@#&-|\"*!?([{)]\t\n’‘“”—–…€£©»·°•→←›−™®"
_NARROWED = st.one_of(st.text(alphabet=_NARROWABLE, min_size=1, max_size=40),
                      st.text(alphabet=_NARROWABLE + "\x01\x03\x0f\x14", min_size=1, max_size=40),
                      st.lists(st.sampled_from(["We’re", "we're", "Don’t", "don’t miss", " ", "—", "© ", "Copyright",
                                                "rights", " reserved", "Rights Reserved", "“Subscribe”", "’s",
                                                "The Post", "5", "3.4", "€10", "A", "»", "|"]),
                               min_size=1, max_size=10).map("".join))
_LINKISH = st.lists(st.sampled_from(["U", "S", ".", "US", "U.S.", "AB ", "A", " ", "_", "é", "x", "2", "www", "W",
                                     ":", "/", "//", "@", "#", "com", "CO", "uk", "ın", "İ", "ſ", "\u212a", "news",
                                     "bIZ", "-", "a@b", "\n", "\u00a0"]), max_size=14).map("".join)


@needs_core
@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet=_TRICKY, min_size=1, max_size=40),
                          st.text(min_size=1, max_size=40),
                          # ASCII: a path of its own
                          st.text(alphabet="aZq_1 '.:/wW@#&-|\"*!?([{)]\t\n", min_size=1, max_size=40),
                          st.sampled_from(["READ MORE: Don't miss", "1. Item", "12) Item", "123. Not a bullet",
                                           "• Bullet", "  - dash item", "Related » More", "ALSO READ – x",
                                           "__Tag_Line | x", "A:b", "Very long label words here and more and more: x",
                                           "✔ done", "٣. Arabic digit", "Source -x", "Tip :\tx", "Tip\t: x",
                                           "Go\u00a0– now"]),
                          _LINKISH.filter(bool),
                          _NARROWED,
                          st.sampled_from(["Follow @promo_news and #Crypto2025 on X!", "www.Example.com/x",
                                           "© 2025 Acme. All Rights Reserved.", "READ MORE: Don’t miss it…",
                                           "“Subscribe,” she said. US and U.S. users"])),
                min_size=1, max_size=8))
def test_compiled_shape_features_are_the_ones_python_computes(texts):
    from promofilter.signals import _text_shape, _text_shapes

    expected = np.array([_text_shape(t) for t in texts])
    np.testing.assert_array_equal(_text_shapes(texts), expected)


@needs_core
def test_compiled_words_of_every_length_end_where_python_ends_them():
    """Lower-case words of 1 to 40 letters (16 are tested at a time), joined by apostrophes or
    not, next to each byte just outside a-z, at the start, middle and end of a text: the shape
    features (listed words counted) and the masking are Python's."""
    from promofilter.signals import _text_shape, _text_shapes, mask_text, mask_texts

    letters = "abcdefghijklmnopqrstuvwxyz"
    texts = []
    for n in range(1, 41):
        word = "".join(letters[(n * 7 + k) % 26] for k in range(n))
        for stop in "`{@[Z0_ ":
            texts += [word, word + stop, f"{stop}{word}", f"Subscribe {word}{stop}you", f"we{stop}{word}'s the"]
        texts += [f"{word}'{word}", f"{word}’{word}s follow", f"rock'n'{word}", f"{word}'", f"'{word}"]
    np.testing.assert_array_equal(_text_shapes(texts), np.array([_text_shape(t) for t in texts]))
    assert mask_texts(texts) == [mask_text(t) for t in texts]


@needs_core
def test_compiled_labels_at_the_start_are_those_the_label_regex_finds():
    """A label: a letter, up to 30 characters of words, apostrophes, "&", "/", spaces and
    hyphens, a separator and a space; in ASCII, 2-byte and 4-byte texts."""
    from promofilter.signals import LABEL, _text_shape, _text_shapes

    texts = []
    for ch in "a_1&/'’ -:|»›>–—.,!é\t\u00a0":
        for n in (0, 1, 29, 30, 31):
            label = "A" + "b" * n
            for tail in (f"{ch}c: x", f"{ch}: x", f" {ch} x", f"{ch} x", f"{ch}:x", f"{ch}"):
                texts += [label + tail, "_ " + label + tail, label + tail + " ✓", label + tail + " 🔥"]
    assert any(LABEL.match(t) for t in texts) and not all(LABEL.match(t) for t in texts)
    np.testing.assert_array_equal(_text_shapes(texts), np.array([_text_shape(t) for t in texts]))


@needs_core
def test_compiled_shape_features_count_long_texts_whole():
    """Counts of ASCII text are kept in small fields flushed every thousand characters."""
    from promofilter.signals import _text_shape, _text_shapes

    texts = ["Read The Post | Follow @us 2025 now! " * n for n in (26, 27, 28, 120)]
    texts.append("A" * 999 + "b" * 1023 + " " * 1025)
    np.testing.assert_array_equal(_text_shapes(texts), np.array([_text_shape(t) for t in texts]))


@needs_core
@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet=_TRICKY + "0123456789٣,.", max_size=40), st.text(max_size=40), _LINKISH,
                          _NARROWED,
                          st.text(alphabet="aZq '.,:09-_!?\t", max_size=30),  # ASCII: a path of its own
                          # apostrophes in and around words: where the last word starts ("rock'n'roll")
                          st.text(alphabet="ab'’ -1Q", max_size=24),
                          st.sampled_from(["Up 1,234.56% on 3.4.2025", "Read More At The Daily Planet Today 5",
                                           "@Handle #Tag mail@site.com https://x.io/a 🔥🔥 İ"])),
                max_size=8))
def test_compiled_masking_masks_as_python_does(texts):
    from promofilter.signals import mask_text, mask_texts

    assert mask_texts(texts) == [mask_text(t) for t in texts]


@needs_core
@settings(max_examples=600, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet=_TRICKY + "0123456789٣,.", max_size=40), st.text(max_size=40), _NARROWED,
                          st.text(alphabet="aZq '.,:09-_!?\t", max_size=30), st.text(alphabet="ab'’ -1Q🔥", max_size=24)),
                max_size=8))
def test_compiled_hashing_of_masked_tails_is_the_hashing_of_the_masked_texts(texts):
    """masked_counts hashes the masked texts without making them (as bytes, for ASCII and
    narrowed texts): the same counts as hashing them, and as Python's masking and hashing."""
    from promofilter.scoring import _HashedWords
    from promofilter.signals import mask_tails

    compiled = native.core()
    made = compiled.hashed_counts(compiled.mask_tails(texts), 1, 2, 1 << 18)
    assert compiled.masked_counts(texts, 1, 2, 1 << 18) == made
    words = _HashedWords(1 << 18, r"(?u)\b\w+\b", 2, "l2")
    fused = [a.tolist() for a in words.transform(texts, tails=True)]
    assert [a.tolist() for a in words.transform(mask_tails(texts))] == fused
    with native.switched_off():
        assert [a.tolist() for a in words.transform(texts, tails=True)] == fused


@needs_core
@pytest.mark.parametrize("max_n", [2, 30])
def test_compiled_hashing_of_masked_tails_grows_its_output_for_texts_that_mask_longer(max_n):
    """A masked text can have more n-grams than its length bounds its text's to (each digit a
    placeholder between words, markers at both ends): the output grows for them."""
    compiled = native.core()
    # "a1b2": 4 characters, bounding 2 tokens; masked, 6 ("xfirsta a xnum b xnum xlastxnum")
    texts = [f"{a}1{b}2" for a in "abcdefgh" for b in "ijklmnop"] + ["x", "", "9", "’5’6 é7🔥1"]
    squares, ends = np.empty(len(texts)), np.empty(len(texts), dtype=np.int64)
    made_squares, made_ends = np.empty(len(texts)), np.empty(len(texts), dtype=np.int64)
    made = compiled.hashed_counts(compiled.mask_tails(texts), 1, max_n, 1 << 20, made_squares, made_ends)
    assert compiled.masked_counts(texts, 1, max_n, 1 << 20, squares, ends) == made
    assert np.array_equal(squares, made_squares) and np.array_equal(ends, made_ends)
    # the bytes first made for the output (as masked_counts sizes them) are too few for the 30-grams
    tokens = [(len(t) + 1) // 2 for t in texts]
    first_room = sum(k * min(max_n, k) for k in tokens) + 8 * len(texts)
    assert (len(made[0]) // 8 > first_room) == (max_n == 30)


@needs_core
@settings(max_examples=800, deadline=None)
@given(st.lists(st.one_of(_LINKISH, st.text(alphabet=_TRICKY, max_size=30), st.text(max_size=30)), max_size=8))
def test_compiled_link_hints_and_country_names_are_what_the_regexes_find(texts):
    from promofilter.signals import COUNTRY_US, _URL_HINT, _mask_links

    compiled = native.core()
    assert compiled.country_us(texts) == [COUNTRY_US.sub("USA", t) for t in texts]
    hints = np.zeros(len(texts), dtype=np.uint8)
    compiled.link_hints(texts, hints)
    assert [bool(h & 1) for h in hints] == [_URL_HINT.search(t) is not None for t in texts]
    assert [bool(h & 2) for h in hints] == ["@" in t for t in texts]
    assert [bool(h & 4) for h in hints] == ["#" in t for t in texts]
    # what the masking leaves to regular expressions only where a hint is: nothing else changes
    assert all(_mask_links(t, titled=True) == t for t, h in zip(texts, hints) if not h)


_URLISH = st.lists(st.sampled_from(["a", "x", "+", "&", "@", "@", "#", "#", "com", "co", "uk", "info", "in", "io", "org", ".", ".", "-", "/", "//", ":",
                                    "://", " ", "\t", "\u00a0", "\u2028", "www", "WWW", "http", "HTTPS", "hTtPſ", "s",
                                    "İ", "ı", "ſ", "\u212a", "_", "é", "1", "٣", "@", "ıo", "Com", "#", "\U0001F600",
                                    "\u0301", "a-b", "-.", ".-", "?", "’"]), max_size=30).map("".join)


@needs_core
@settings(max_examples=3000, deadline=None)
@given(st.one_of(_URLISH, _LINKISH, st.text(alphabet=_TRICKY + "wWhHtTpPsS.:/-", max_size=40), st.text(max_size=30)))
def test_compiled_links_are_what_the_link_regexes_find(text):
    """The link matchers find the regexes' matches. A URL: after a scheme or "www." to the next
    space, or a word run of dotted parts that ends in a known top-level domain (ignoring case),
    as backtracking picks them (the most dotted parts that still end so); e-mails, handles and
    hashtags."""
    from promofilter.signals import LINK_PATTERNS

    compiled = native.core()
    for which, pattern in enumerate(LINK_PATTERNS):
        assert compiled.link_count(text, which) == len(pattern.findall(text))
        assert compiled.link_sub(text, which, " x ") == pattern.sub(" x ", text)


@needs_core
@pytest.mark.parametrize("text", ["a.com.org", "a.com.x", "x.co.uk/path?q=1 next", "foo-bar.com-x", "-a.com", "_a.io",
                                  "a.comb.io", "a..com", "a.com.", "xhttp://y", "https:/x", "httpſ://x", "www.",
                                  "www. x", "WWW.X", "a.\u212aa.in", "a.İn", "e.g. the U.S. in", "A.ıo/ x", "é.news\u00a0",
                                  "1.biz.biz.biz/a/b c.co", "a.b+c@x-y.co.uk.", "a@b.c-", "a@b..c", "x.@y.z_", "é@ë.ö",
                                  "-a@b.c", "@a@b.c", "a@b.c@d.e", "@ab @a @@ab x@ab", "#ab #a &#ab ##ab a#bc #1a #éa",
                                  "mail a@b.com, @hand_le and #Tag_1!", "a." * 300, "a." * 300 + "com x", "b-." * 200 + "io/"])
def test_compiled_links_match_the_regexes_where_their_backtracking_decides(text):
    from promofilter.signals import LINK_PATTERNS

    compiled = native.core()
    for which, pattern in enumerate(LINK_PATTERNS):
        assert (compiled.link_count(text, which), compiled.link_sub(text, which, "<>")) == (
            len(pattern.findall(text)), pattern.sub("<>", text))
    with pytest.raises(ValueError, match="no link pattern"):
        compiled.link_count(text, len(LINK_PATTERNS))


_SENTENCE_TRICKY = "aZ .!?…\"'”’»)]。！？」』）-,;:}% \t\n\r\u2028\u00a0Mr.U.S.e.g.J.Smith"


@needs_core
@settings(max_examples=800, deadline=None)
@given(st.one_of(st.text(alphabet=_SENTENCE_TRICKY, max_size=80), st.text(max_size=60),
                 st.lists(st.sampled_from(["He left.", "Mr.", "U.S.", "Then", "ok!)", "?!", "。", "」", " ",
                                           "\n", "\r\n", "went.Then", "no. 5", "Wow…", "(a)", "Jan. 3", "Ph.D. Then",
                                           "A. B", "é. Then", "N.Y. It", "x_1. Go", "ÉTÉ. Le", "Dr.Who"]),
                          max_size=20).map("".join)))
def test_compiled_segmentation_cuts_where_python_cuts(text):
    import importlib

    segmentation = importlib.import_module("promofilter.segment")
    assert native.core().pieces(text, segmentation._is_abbreviation, segmentation._ABBREVIATIONS) == list(segmentation._pieces(text))


@needs_core
@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet=_TRICKY + "xyz\U00010400\u4e2d", max_size=40), st.text(max_size=30)),
                max_size=8),
       st.sampled_from([1, 2, 3]), st.sampled_from([r"(?u)\b\w\w+\b", r"(?u)\b\w+\b"]))
def test_compiled_hashed_ngrams_are_the_ones_python_hashes(texts, max_n, token_pattern):
    from promofilter.scoring import _HashedWords

    words = _HashedWords(2**18, token_pattern, max_n, "l2")
    compiled = [a.tolist() for a in words.transform(texts)]
    with native.switched_off():
        assert [a.tolist() for a in words.transform(texts)] == compiled


@needs_core
@pytest.mark.parametrize("n_features", [2**18, 16])
def test_compiled_hashed_ngrams_of_every_count_around_the_sorting_runs_are_python_s(n_features):
    """Segments of 0 to 40 tokens (up to 79 n-grams: whole runs of the sorting network, a short
    last run, merges), with distinct words, and with columns that collide (16 features)."""
    from promofilter.scoring import _HashedWords

    words = _HashedWords(n_features, r"(?u)\b\w+\b", 2, "l2")
    texts = [" ".join(f"w{(i * 7919) % 97}" for i in range(n)) for n in range(41)]
    texts += [" ".join(["same"] * n) for n in range(20)]
    compiled = [a.tolist() for a in words.transform(texts)]
    with native.switched_off():
        assert [a.tolist() for a in words.transform(texts)] == compiled


@needs_core
def test_compiled_tokens_of_every_length_end_where_python_ends_them():
    """ASCII tokens of 1 to 40 bytes (16 are tested at a time), at the start, middle and end of a
    text, of letters, digits and "_", next to each byte just outside those ranges."""
    from promofilter.scoring import _HashedWords

    words = _HashedWords(2**18, r"(?u)\b\w+\b", 2, "l2")
    word_bytes = "azAZ09_mQ5"
    texts = []
    for n in range(1, 41):
        token = "".join(word_bytes[(n + k) % len(word_bytes)] for k in range(n))
        for stop in "@[`{/:\x7f -":
            texts += [token, token + stop, stop + token, f"ab{stop}{token}{stop}cd", f"x {token}{stop}" * 3]
    compiled = [a.tolist() for a in words.transform(texts)]
    with native.switched_off():
        assert [a.tolist() for a in words.transform(texts)] == compiled


@needs_core
@pytest.mark.parametrize("max_n, n_features", [(2, 2**18), (3, 1000)])
def test_compiled_hashed_ngrams_of_long_segments_are_counted_whole(max_n, n_features):
    """A long segment's n-grams are sorted in runs and merged; repeats are counted once each."""
    from promofilter.scoring import _HashedWords

    words = _HashedWords(n_features, r"(?u)\b\w+\b", max_n, "l2")
    texts = [" ".join(f"w{i % k}" for i in range(n)) for k, n in ((7, 40), (50, 333), (1000, 1000))]
    texts.append("one two" * 90 + " é " + "three four " * 70)
    compiled = [a.tolist() for a in words.transform(texts)]
    with native.switched_off():
        assert [a.tolist() for a in words.transform(texts)] == compiled


@needs_core
def test_compiled_hashed_ngrams_give_each_texts_sum_of_squared_counts_and_end_where_asked():
    """The l2 norms' sums and where each text's entries end come with the counts (bincount's
    sums), and a wrong buffer is refused."""
    texts = ["a a a b", "", "c d c d c", "é é"]
    squares, ends = np.full(len(texts), -1.0), np.full(len(texts), -1, dtype=np.int64)
    rows, _, counts = native.core().hashed_counts(texts, 1, 2, 1 << 18, squares, ends)
    rows, counts = np.frombuffer(rows, dtype=np.int64), np.frombuffer(counts, dtype=np.float64)
    assert squares.tolist() == np.bincount(rows, counts * counts, minlength=len(texts)).tolist()
    assert ends.tolist() == [4, 4, 8, 10]  # a a a b: a, b, "a a", "a b"; c d c d c: c, d, "c d", "d c"; é, "é é"
    # a a a b: a 3, b 1, "a a" 2, "a b" 1; c d c d c: c 3, d 2, "c d" 2, "d c" 2; é é: é 2, "é é" 1
    assert squares.tolist() == [3 * 3 + 1 + 2 * 2 + 1, 0.0, 3 * 3 + 2 * 2 + 2 * 2 + 2 * 2, 4 + 1]
    with pytest.raises(ValueError, match="squares must hold one item per text"):
        native.core().hashed_counts(texts, 1, 2, 1 << 18, np.zeros(3))
    with pytest.raises(ValueError, match="ends must hold one item per text"):
        native.core().hashed_counts(texts, 1, 2, 1 << 18, None, np.zeros(5, dtype=np.int64))
    with pytest.raises(TypeError):
        native.core().hashed_counts(texts, 1, 2, 1 << 18, np.zeros(4, dtype=np.int64))
    with pytest.raises(TypeError):
        native.core().hashed_counts(texts, 1, 2, 1 << 18, None, np.zeros(4))


@needs_core
def test_compiled_hashed_ngrams_of_a_model_asking_absurdly_long_ones_are_those_the_text_has():
    """A model file may ask for any n-gram length: the text's own tokens bound the output."""
    text = ["a b c d e f g h"]
    expected = [bytes(b) for b in native.core().hashed_counts(text, 1, 8, 1 << 20)]
    for max_n in (9, 10**9, 2**58 + 1, 2**60, 2**62):
        assert [bytes(b) for b in native.core().hashed_counts(text, 1, max_n, 1 << 20)] == expected
    assert native.core().hashed_counts(text, 2**62, 2, 10) == (b"", b"", b"")  # no token that long
    from promofilter.scoring import _HashedWords

    words = _HashedWords(1 << 20, r"(?u)\b\w+\b", 10**9, "l2")
    compiled = [a.tolist() for a in words.transform(text)]
    with native.switched_off():  # the Python code too stops at the text's own tokens
        assert [a.tolist() for a in words.transform(text)] == compiled


@needs_core
@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=40), st.text(alphabet=_TRICKY + "\x1f\udc80\ud800", max_size=30)),
                max_size=12))
def test_compiled_repetition_keys_hash_as_pandas_does(strings):
    # workers with and without the compiled core must count the same keys
    from promofilter.repetition import _hash

    with native.switched_off():
        expected = _hash(strings).tolist()
    assert _hash(strings).tolist() == expected


@needs_core
@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(alphabet=_SENTENCE_TRICKY, max_size=60), st.text(max_size=40)), max_size=6))
def test_compiled_segment_table_is_the_one_python_builds(texts):
    from promofilter.signals import segment_columns

    compiled, compiled_segments = segment_columns(texts)
    with native.switched_off():
        expected, expected_segments = segment_columns(texts)
    assert compiled_segments == expected_segments
    assert list(compiled) == list(expected)  # the order of a DataFrame's columns
    for name, column in expected.items():
        got = compiled[name]
        assert (got == column if name == "text" else np.array_equal(got, column)
                and got.dtype == column.dtype), name


@needs_core
def test_the_compiled_segment_table_reads_any_segment_like_object_and_refuses_unset_fields():
    """Segments are read from their slots; other objects with the fields are asked for them."""
    from collections import namedtuple

    from promofilter.results import Segment
    from promofilter.segment import segment
    from promofilter.signals import _BOOL_COLUMNS, _COLUMNS

    def rows(segments):
        columns = {k: np.zeros(len(segments), dtype=bool if k in _BOOL_COLUMNS else np.int64)
                   for k in _COLUMNS if k != "text"}
        return native.core().segment_rows(["One. Two."], [segments], columns), columns

    real = segment("One. Two.")
    LookAlike = namedtuple("LookAlike", "start end content_start content_end line_start line_end")
    mixed = [real[0], LookAlike(*(getattr(real[1], f) for f in LookAlike._fields))]
    assert rows(mixed)[0] == rows(real)[0] == ["One.", "Two."]
    assert all(np.array_equal(a, b) for a, b in zip(rows(mixed)[1].values(), rows(real)[1].values()))
    with pytest.raises(AttributeError):
        rows([real[0], object.__new__(Segment)])  # (its slots never set)


@needs_core
def test_the_compiled_segment_table_asks_classes_that_supply_their_fields_themselves():
    from promofilter.results import Segment
    from promofilter.segment import segment
    from promofilter.signals import _BOOL_COLUMNS, _COLUMNS

    class Shifted(Segment):  # slots of its own class, read through __getattribute__
        __slots__ = ()

        def __getattribute__(self, name):
            value = object.__getattribute__(self, name)
            return value + 1 if name == "content_start" else value

    class Computed(tuple):  # no slots, no dict: fields from __getattr__
        __slots__ = ()

        def __getattr__(self, name):
            return self[["start", "end", "content_start", "content_end", "line_start", "line_end"].index(name)]

    def texts(segments):
        columns = {k: np.zeros(len(segments), dtype=bool if k in _BOOL_COLUMNS else np.int64)
                   for k in _COLUMNS if k != "text"}
        return native.core().segment_rows(["One. Two."], [segments], columns)

    real = segment("One. Two.")
    fields = lambda s: (s.start, s.end, s.content_start, s.content_end, s.line_start, s.line_end)  # noqa: E731
    assert texts([Shifted(*fields(s)) for s in real]) == ["ne.", "wo."]
    assert texts([Computed(fields(s)) for s in real]) == ["One.", "Two."]


@needs_core
@settings(max_examples=800, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["The", "Daily", "Planet", "of", "the", "a", "an", "and", "vs", "with",
                                           "into", "$5", "2025", "3.5%", "U.S.", "McDonald's", "O’Brien", "Al-Amin",
                                           "X", "AB", "é", "Éclair", "٣٤", "-", ",", ":"]),
                          st.sampled_from([" ", " ", " ", "  ", "\t", "\u00a0", "", ". "])),
                max_size=14).map(lambda parts: "".join(word + gap for word, gap in parts)))
def test_compiled_title_runs_are_the_ones_the_regex_finds(text):
    from promofilter.signals import TITLE_RUN

    assert native.core().title_runs([text]) == [TITLE_RUN.sub(" xtitle ", text)]


_KEY_TRICKY = _TRICKY + "0123456789٣$€£¥%,.:/{}&–—;|ABCXY of the and de for in on  \u00a0 http www.x.com ".replace(" ", "  ")


@needs_core
@settings(max_examples=800, deadline=None)
@given(st.one_of(st.text(alphabet=_KEY_TRICKY, max_size=60), st.text(max_size=40),
                 st.lists(st.sampled_from(["The", "Daily", "Ledger", "of", "the", "and", "&", "de", "$5", "€3,5",
                                           "12:30", "1/2", "40%", "{name}", ",", "said", "Smith's", "O’Neil",
                                           "Al-Amin", "-", "—", "|", "»", "\t", "é", "Éclair", "x.io", "Go!",
                                           "“", "”", '"', "‘", "’", "“Yes,” he said", "x" * 198, "y" * 199,
                                           "x.ıo", "a.İnfo", "b.ıN"]),
                          max_size=14).map(" ".join)))
def test_compiled_repetition_forms_are_the_ones_python_makes(text):
    from promofilter.mining import template_of
    from promofilter.repetition import normal_form

    template, normal = native.core().template_of(text), native.core().normal_form(text)
    with native.switched_off():
        assert template is None or template == template_of(text)
        assert normal is None or normal == normal_form(text)


@needs_core
@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(st.floats(0, 1), st.sampled_from([0.5, 0.4999999999999999, float("nan"), -0.0])),
                         min_size=1, max_size=14), max_size=8))
def test_compiled_context_features_are_the_ones_numpy_computes(documents):
    from promofilter.scoring import context_features

    p = np.array([x for doc in documents for x in doc], dtype=np.float64)
    doc = np.repeat(np.arange(len(documents)), [len(d) for d in documents])
    compiled = context_features(p, doc)
    with native.switched_off():
        expected = context_features(p, doc)
    # bit for bit: a signed zero or a NaN in the same place
    assert compiled.view(np.uint64).tolist() == expected.view(np.uint64).tolist()


_LABELLED = st.lists(st.sampled_from(["READ", "MORE", "Related", ":", "::", "|", "»", "›", ">", "–", "—", "-", " ",
                                       "a", "İ", "x.io", "\udc80", "“q”", "3", "\u00a0", "Source", "é"]),
                     max_size=10).map("".join)


@needs_core
@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.one_of(_LABELLED, st.text(alphabet=_KEY_TRICKY, max_size=40), st.text(max_size=30)),
                          st.sampled_from(["", "site", "ßite.com", "s\udcffx", "a b"])), max_size=8))
def test_compiled_repetition_keys_hash_as_python_keys_and_hashes(pairs):
    from promofilter.repetition import N_KEYS, _HASH_KEY, _LABEL, _hash, _keys

    texts, sites = [t for t, _ in pairs], [s for _, s in pairs]
    out = np.zeros((len(texts), N_KEYS), dtype=np.uint64)
    done = np.zeros(len(texts), dtype=np.uint8)
    native.core().repetition_keys(texts, sites, _LABEL, _HASH_KEY, out, done)
    with native.switched_off():
        for text, site, row, did in zip(texts, sites, out, done):
            if did:
                assert row.tolist() == _hash(list(_keys(text, site))).tolist()


@needs_core
@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(alphabet=_SENTENCE_TRICKY, max_size=80), st.text(max_size=40)))
def test_compiled_segments_are_the_segments_python_makes(text):
    from promofilter import segment

    compiled = segment(text)
    with native.switched_off():
        expected = segment(text)
    assert compiled == expected
    # the same fields, of the same types (slots: nothing more can be set)
    assert [_fields(s) for s in compiled] == [_fields(s) for s in expected]
    assert all(hash(a) == hash(b) for a, b in zip(compiled, expected))
    assert not any(gc.is_tracked(s) for s in compiled)  # atoms alone: the cyclic collector skips them
    for s in compiled[:1]:  # still frozen
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.start = 1


def _fields(obj) -> list:
    return [(f.name, type(getattr(obj, f.name)), getattr(obj, f.name)) for f in dataclasses.fields(obj)]


@needs_core
def test_compiled_segments_of_a_class_with_a_dict_or_without_slots_are_made_as_it_makes_them():
    import importlib
    import typing

    from promofilter.results import Segment

    segment_module = importlib.import_module("promofilter.segment")  # (the package exports the function)

    fields = [(f.name, f.type) for f in dataclasses.fields(Segment)]
    WithDict = dataclasses.make_dataclass("WithDict", fields, frozen=True)  # no slots: an instance dict
    Called = typing.NamedTuple("Called", fields)  # neither: the class is called

    text = "First line. Second one!\n\n  Third.\n"
    args = (segment_module._is_abbreviation, segment_module._ABBREVIATIONS)
    expected = [_fields(s) for s in native.core().segments(text, *args, Segment)]
    assert len(expected) == 3
    for cls in (WithDict, Called):
        made = native.core().segments(text, *args, cls)
        assert all(type(s) is cls for s in made)
        assert [[(n, type(getattr(s, n)), getattr(s, n)) for n, _, _ in e] for s, e in zip(made, expected)] == expected


@needs_core
def test_the_compiled_core_refuses_inconsistent_arrays_rather_than_writing_past_them():
    from promofilter.results import Segment

    columns = {k: np.zeros(1, dtype=np.int64) for k in ("doc", "idx", "n", "text", "breaks_before", "breaks_after",
                                                        "segs_in_line", "chars_after", "doc_chars")}
    columns.update(line_start=np.zeros(1, dtype=bool), line_end=np.zeros(1, dtype=bool))
    columns["idx"] = np.zeros(0, dtype=np.int64)  # one column shorter than the others
    with pytest.raises(ValueError, match="different lengths"):
        native.core().segment_rows(["Hi."], [[Segment(0, 3, 0, 3, True, True)]], columns)
    with pytest.raises(TypeError, match="format"):  # int64 where float64 is read
        native.core().tree_sums(_one_split_tree(), np.array([0]), np.zeros((2, 1), dtype=np.int64), 1, 0.0,
                                np.empty(2))
    with pytest.raises(ValueError, match="inconsistent sizes"):  # a width whose product overflows
        native.core().tree_sums(_one_split_tree(), np.array([0]), np.zeros(0), 1 << 62, 0.0, np.empty(4))
    misaligned = np.zeros(8 * 6 + 1, dtype=np.uint8)[1:].view(np.uint64)  # items across their alignment
    with pytest.raises(ValueError, match="aligned"):
        native.core().repetition_keys(["a b"], [""], re.compile("x"), b"0123456789123456", misaligned,
                                      np.zeros(1, dtype=np.uint8))


@needs_core
def test_str_subclasses_are_read_as_plain_str():
    class Shouty(str):
        def lower(self):
            return ["not", "a", "str"]

        def strip(self, *args):
            return 42

    from promofilter.repetition import normal_form
    from promofilter.signals import _text_shape, _text_shapes

    text = Shouty("Follow Us Now. Subscribe!")
    assert native.core().normal_form(text) == normal_form(str(text))
    np.testing.assert_array_equal(_text_shapes([text]), [_text_shape(str(text))])


_POLICY_PIECES = ["Story.", "PROMO one.", "The post Big News appeared first on Daily Planet.", "Read more:",
                  "a", " ", "  ", "\n", "\n\n", "\r\n", "\u2028", "Mr. Smith left.", "Follow us!", "。", "x\ty"]


@needs_core
@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(_POLICY_PIECES), max_size=14).map("".join),
       st.data(),
       st.sampled_from([None, 0.1, 0.3, 0.45, 0.5, 0.7]),
       st.sampled_from([(), (("credit", 0.9),), (("cta", 0.2), ("ad", 0.99))]),
       st.sampled_from([None, {"ad", "cta"}, {"credit", "crosspromo", "boilerplate"}]),
       st.booleans())
def test_compiled_removals_are_the_ones_the_python_policy_chooses(text, data, run_threshold, kind_thresholds,
                                                                  remove_kinds, builtin_rules):
    from promofilter import Kind, StripConfig
    from promofilter.policy import choose_removals, removed_ranges
    from promofilter.segment import segment

    segments = segment(text)
    threshold = data.draw(st.sampled_from([0.5, 0.7]))
    scores = data.draw(st.lists(st.sampled_from([0.0, 0.01, 0.02, 0.2, 0.3, 0.4, 0.45, 0.5, 0.5000001, 0.7, 0.9, 1.0]),
                                min_size=len(segments), max_size=len(segments)))
    kinds = data.draw(st.lists(st.sampled_from(list(Kind)), min_size=len(segments), max_size=len(segments)))
    learned = data.draw(st.one_of(st.none(), st.lists(st.booleans(), min_size=len(segments), max_size=len(segments))))
    config = StripConfig(kind_thresholds=kind_thresholds, builtin_rules=builtin_rules,
                         **({} if remove_kinds is None else {"remove_kinds": remove_kinds}))
    # (float32 scores, as an array or as a list of NumPy scalars, compare as the doubles they are)
    as_float32 = np.array(scores, dtype=np.float32)
    for given_scores in (scores, np.array(scores), as_float32, list(as_float32)):
        compiled = choose_removals(text, segments, given_scores, kinds, config, threshold, kept=False,
                                   run_threshold=run_threshold, learned=learned)
        with native.switched_off():
            expected = choose_removals(text, segments, given_scores, kinds, config, threshold, kept=False,
                                       run_threshold=run_threshold, learned=learned)
        assert compiled == expected
        ranges = removed_ranges(text, segments, given_scores, kinds, config, threshold, run_threshold=run_threshold)
        assert ranges == [(s.start, s.end) for s in expected]


@needs_core
@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_POLICY_PIECES), max_size=10).map("".join), min_size=1, max_size=4),
       st.data(),
       st.sampled_from([None, 0.3, 0.5]),
       st.sampled_from([None, {"ad", "cta"}]),
       st.booleans())
def test_a_compiled_batch_strips_and_reports_each_text_as_the_python_policy_does(texts, data, run_threshold, remove_kinds,
                                                                    builtin_rules):
    from promofilter import Kind, StripConfig
    from promofilter.policy import choose_removals, remove_spans, removed_spans_many, strip_texts
    from promofilter.segment import segment

    segments = [segment(t) for t in texts]
    n = sum(map(len, segments))
    scores = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.01, 0.03, 0.3, 0.5, 0.7, 0.9, 1.0]),
                                         min_size=n, max_size=n)))
    kinds = data.draw(st.lists(st.sampled_from(list(Kind)), min_size=n, max_size=n))
    config = StripConfig(builtin_rules=builtin_rules, **({} if remove_kinds is None else {"remove_kinds": remove_kinds}))
    learned = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    got = strip_texts(texts, segments, scores, kinds, config, 0.5, run_threshold)
    got_spans = removed_spans_many(texts, segments, scores, kinds, config, 0.5, run_threshold, learned=learned)
    expected, expected_spans, at = [], [], 0
    with native.switched_off():
        for text, segs in zip(texts, segments):
            spans = choose_removals(text, segs, scores[at:at + len(segs)], kinds[at:at + len(segs)], config, 0.5,
                                    kept=False, run_threshold=run_threshold, learned=learned[at:at + len(segs)])
            expected.append(remove_spans(text, spans))
            expected_spans.append(spans)
            at += len(segs)
        assert strip_texts(texts, segments, scores, kinds, config, 0.5, run_threshold) == expected
        assert removed_spans_many(texts, segments, scores, kinds, config, 0.5, run_threshold,
                                  learned=learned) == expected_spans
    assert got == expected
    assert got_spans == expected_spans
    assert all(type(t) is str for t in got)


@needs_core
def test_a_compiled_batch_refuses_what_does_not_add_up():
    from promofilter import Kind
    from promofilter.segment import segment

    strip = native.core().strip_texts
    texts = ["Story. Follow us!", "Other."]
    segments = [segment(t) for t in texts]
    kinds = [Kind.CONTENT, Kind.CTA, Kind.CONTENT]
    limits = {k: 0.5 for k in Kind}
    assert strip(texts, segments, np.array([0.0, 0.9, 0.0]), kinds, limits, None, 0.5, []) == ["Story.", "Other."]
    assert strip(texts, segments, np.array([0.0, 0.0, 0.0]), kinds, limits, None, 0.5, [(1, 0)]) == [texts[0], ""]
    with pytest.raises(ValueError, match="fewer scores"):
        strip(texts, segments, np.zeros(2), kinds[:2], limits, None, 0.5, [])
    with pytest.raises(ValueError, match="different lengths"):
        strip(texts, segments, np.zeros(3), kinds[:2], limits, None, 0.5, [])
    with pytest.raises(ValueError, match="out of order"):
        strip(texts, segments, np.zeros(3), kinds, limits, None, 0.5, [(1, 0), (0, 0)])
    with pytest.raises(IndexError, match="outside the segments"):
        strip(texts, segments, np.zeros(3), kinds, limits, None, 0.5, [(0, 2)])
    with pytest.raises(ValueError, match="after the last text"):
        strip(texts, segments, np.zeros(3), kinds, limits, None, 0.5, [(2, 0)])
    with pytest.raises(ValueError, match="outside the text"):
        strip(["Hi."], [segments[0]], np.zeros(2), kinds[:2], limits, None, 0.5, [])
    ranges = native.core().removal_ranges_many(texts, segments, np.array([0.0, 0.9, 0.0]), kinds, limits, None, 0.5,
                                                [])
    assert ranges == [[(6, 17, 1)], []]
    with pytest.raises(ValueError, match="removal_ranges_many: fewer scores"):
        native.core().removal_ranges_many(texts, segments, np.zeros(2), kinds[:2], limits, None, 0.5, [])


@needs_core
def test_compiled_removals_refuse_segments_outside_their_text():
    from promofilter import Kind
    from promofilter.results import Segment

    with pytest.raises(ValueError, match="outside the text"):
        native.core().removal_ranges_many(["Hi."], [[Segment(0, 9, 0, 9, True, True)]], np.ones(1), [Kind.AD],
                                          {Kind.AD: 0.5}, None, 0.5, [])


def _json_literal(text: str) -> bytes | None:
    try:
        return json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return None


# what json escapes (quotes, backslashes, control characters), the edges of UTF-8's lengths and of
# the compiled core's blocks of ASCII (bytes over 0x7F, units over 0x7FFF read as negative), lone
# surrogates: those surrogateescape writes back as bytes and those it cannot
_JSON_TRICKY = ("\"\\/\x00\x01\x08\t\n\x0b\x0c\r\x1f \x7f\x80\xff\u0100\u07ff\u0800\u7fff\u8000\ud7ff\ue000"
                "\uffff\U00010000\U0010ffff\ud800\udbff\udc00\udc7f\udc80\udcff\udd00\udfff’é😀")


@needs_core
@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.text(alphabet=_JSON_TRICKY, max_size=40),
                 st.lists(st.one_of(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                                            min_size=0, max_size=40),
                                    st.text(alphabet=_JSON_TRICKY, max_size=3)), max_size=8).map("".join),
                 st.text(max_size=60)))
def test_json_utf8_writes_what_json_and_surrogateescape_write(text):
    assert native.core().json_utf8(text) == _json_literal(text)
