"""Scoring with a fitted classifier's arrays alone: the same scores, without scikit-learn.

Training needs scikit-learn; scoring a fitted ``PromoClassifier`` is arithmetic on a few arrays:
hashed words (MurmurHash3, as ``HashingVectorizer`` computes them) dotted with linear weights,
and a walk down the gradient-boosted trees. ``CompiledClassifier`` does that with NumPy, so a
process that only strips text loads neither scikit-learn nor SciPy: ``promofilter strip`` of a
short article starts in a fraction of the time, and a worker holds less memory.

It is built from a fitted ``PromoClassifier`` or from the state of one read from a model file
(``promofilter.modelfile.load_state``: nothing imported). Scores equal scikit-learn's to
floating-point rounding (``tests/test_scoring.py`` compares them); anything this module cannot
reproduce exactly (other hashing options, categorical splits) raises ``Unsupported``, and the
caller falls back to scikit-learn.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import count

import numpy as np

from . import native
from .modelfile import ObjectState
from .repetition import REPETITION_FEATURE_NAMES
from .results import Kind
from .signals import country_texts, mask_links, mask_tails, shape_features

__all__ = ["CompiledClassifier", "CompiledEnsemble", "compile_classifier", "Unsupported", "murmurhash3_32", "tree_problem", "CONTEXT_FEATURE_NAMES"]

CONTEXT_FEATURE_NAMES = (
    "p", "p_prev1", "p_prev2", "p_next1", "p_next2", "p_max_after", "p_mean_after",
    "share_after_promo", "p_max_before", "n_after",
)
# rows walked down the trees at once: small blocks stay in the CPU cache (256 rows: 0.155 s on
# 9,400 rows, against 0.19 s for 2,048 and 0.25-0.48 s for 8,192; the same scores)
TREE_ROWS = 256
# a node as the compiled walk reads it (node_t in _native.c): one record, one cache line a step
NODE_DTYPE = np.dtype([("threshold", "<f8"), ("value", "<f8"), ("feature", "<i4"), ("right", "<i4"),
                       ("left", "<i4"), ("leaf", "u1"), ("missing_left", "u1"), ("pad", "V2")])
# the fields of scikit-learn's tree nodes the walk reads
_NODE_FIELDS = ("value", "feature_idx", "num_threshold", "missing_go_to_left", "left", "right",
                "is_leaf", "is_categorical")
# counts of other documents sharing the segment's normal form or template, batch-wide or in its site
_RECURRENCE_COLUMNS = ("rep_norm_docs", "rep_tmpl_docs", "rep_norm_site", "rep_tmpl_site")


class Unsupported(ValueError):
    """A fitted model this module cannot score exactly as scikit-learn does."""


# -- stage-2 inputs (shared with promofilter.model, which trains on them) ------------------------

def context_features(p: np.ndarray, doc: np.ndarray) -> np.ndarray:
    """Neighbour features of per-segment scores ``p``; rows of one document are contiguous."""
    n = len(p)
    out = np.zeros((n, len(CONTEXT_FEATURE_NAMES)))
    if n == 0:
        return out
    bounds = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1], True])
    compiled = native.core()
    if compiled is not None and p.dtype == np.float64:
        compiled.context_features(np.ascontiguousarray(p), bounds.astype(np.int64), out)
        return out
    starts, sizes = bounds[:-1], np.diff(bounds)
    # documents of one length are computed together, one per row of a matrix: the same sums in
    # the same order as document by document, with one NumPy call per length, not per document
    for m in np.unique(sizes).tolist():
        rows = starts[sizes == m][:, None] + np.arange(m)
        q = p[rows]
        k = len(q)
        zeros = np.zeros((k, 1))
        padded = np.hstack([zeros, zeros, q, zeros, zeros])
        # suffix statistics over the segments strictly after each one
        rev = q[:, ::-1]
        suffix_max = np.hstack([np.maximum.accumulate(rev, axis=1)[:, ::-1][:, 1:], zeros])
        suffix_sum = np.hstack([np.cumsum(rev, axis=1)[:, ::-1][:, 1:], zeros])
        suffix_hi = np.hstack([np.cumsum(rev >= 0.5, axis=1)[:, ::-1][:, 1:], zeros])
        after = np.arange(m - 1, -1, -1, dtype=float)
        prefix_max = np.hstack([zeros, np.maximum.accumulate(q, axis=1)[:, :-1]])
        out[rows] = np.stack([
            q, padded[:, 1:m + 1], padded[:, 0:m], padded[:, 3:m + 3], padded[:, 4:m + 4],
            suffix_max, suffix_sum / np.maximum(after, 1), suffix_hi / np.maximum(after, 1),
            prefix_max, np.broadcast_to(np.minimum(after, 10), (k, m)),
        ], axis=-1)
    return out


def repetition_columns(X) -> np.ndarray:
    return np.column_stack([np.asarray(X[c], dtype=float) for c in REPETITION_FEATURE_NAMES])


def recurs(X) -> np.ndarray:
    """Rows whose segment recurs (as is or as a template) in another document of the batch."""
    if not all(c in X for c in REPETITION_FEATURE_NAMES):
        return np.zeros(len(X["doc"]), dtype=bool)
    return (np.asarray(X["rep_batch"], dtype=float) > 0) & np.column_stack(
        [np.asarray(X[c], dtype=float) > 0 for c in _RECURRENCE_COLUMNS]).any(axis=1)


# -- hashed words -----------------------------------------------------------------------------

_C1, _C2 = np.uint32(0xCC9E2D51), np.uint32(0x1B873593)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def murmurhash3_32(keys: Sequence[bytes], seed: int = 0) -> np.ndarray:
    """Signed 32-bit MurmurHash3 (x86) of each key, vectorised over keys: the hash scikit-learn's
    ``murmurhash3_32`` and ``HashingVectorizer`` compute."""
    n = len(keys)
    lengths = np.fromiter(map(len, keys), dtype=np.int64, count=n)
    stream = b"".join(k + b"\0" * (-len(k) % 4) for k in keys)
    # every 4-byte word of every key, tails zero-padded, mixed the same way
    k = np.frombuffer(stream, dtype="<u4").astype(np.uint32)
    k = _rotl(k * _C1, 15) * _C2
    starts = np.r_[0, np.cumsum((lengths + 3) // 4)[:-1]].astype(np.int64)
    full = lengths // 4
    h = np.full(n, seed, dtype=np.uint32)
    # body: keys sorted by their number of whole words, so the keys still going are a prefix
    order = np.argsort(-full, kind="stable")
    remaining = full[order]
    for j in range(int(remaining[0]) if n else 0):
        going = order[:np.searchsorted(-remaining, -j, side="left")]
        x = _rotl(h[going] ^ k[starts[going] + j], 13)
        h[going] = x * np.uint32(5) + np.uint32(0xE6546B64)
    tail = np.flatnonzero(lengths % 4)
    h[tail] ^= k[starts[tail] + full[tail]]
    h ^= lengths.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h.view(np.int32)


# token patterns that never match a line feed (scikit-learn's default and the one trained here)
_NEWLINE_FREE_TOKENS = frozenset({r"(?u)\b\w\w+\b", r"(?u)\b\w+\b"})
# the token patterns the compiled core knows: runs of at least this many word characters
_COMPILED_TOKENS = {r"(?u)\b\w\w+\b": 2, r"(?u)\b\w+\b": 1}


class _HashedWords:
    """``HashingVectorizer(ngram_range=(1, n), alternate_sign=False, lowercase=False, norm=...)``
    over masked segment texts, as sparse rows (row, column, count) and their norms."""

    def __init__(self, n_features: int, token_pattern: str, max_n: int, norm: str | None):
        self.n_features, self.max_n, self.norm = n_features, max_n, norm
        self.tokens = re.compile(token_pattern)
        # the same tokens and line feeds ("(?u)" has to stay first)
        self.tokens_or_newline = (re.compile(r"(?u)\n|" + token_pattern.removeprefix("(?u)"))
                                  if token_pattern in _NEWLINE_FREE_TOKENS else None)

    def _grams(self, text: str) -> list[str]:
        words = self.tokens.findall(text)
        grams = list(words)
        for n in range(2, min(self.max_n, len(words)) + 1):
            grams += [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
        return grams

    def _columns(self, grams: Sequence[str]) -> np.ndarray:
        h = murmurhash3_32([g.encode("utf-8") for g in grams]).astype(np.int64)
        # abs(-2**31) overflows in C: scikit-learn maps it as below
        return np.where(h == -(2**31), (2**31 - 1 - (self.n_features - 1)) % self.n_features,
                        np.abs(h) % self.n_features)

    def _text_by_text(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        ids: dict[str, int] = {}
        token_ids: list[int] = []
        sizes = np.zeros(len(texts), dtype=np.int64)
        for i, text in enumerate(texts):
            grams = self._grams(text)
            sizes[i] = len(grams)
            token_ids += [ids.setdefault(g, len(ids)) for g in grams]
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), sizes)
        return rows, self._columns(list(ids))[np.asarray(token_ids, dtype=np.int64)]

    def _joined(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
        """The n-grams of all texts at once: words found in one pass over the texts joined by
        line feeds, each distinct word and n-gram built and hashed once (None: the token pattern
        could match a line feed, or a text holds one)."""
        joined = "\n".join(texts)
        if self.tokens_or_newline is None or joined.count("\n") != len(texts) - 1:
            return None
        tokens = self.tokens_or_newline.findall(joined)
        vocabulary: dict[str, int] = {}
        raw = np.fromiter(map(vocabulary.setdefault, tokens, count()), dtype=np.int64, count=len(tokens))
        _, ids = np.unique(raw, return_inverse=True)  # numbered 0.. in order of first appearance
        strings = list(vocabulary)  # in the same order as the ids
        is_sep = ids == ids[tokens.index("\n")] if len(texts) > 1 else np.zeros(len(ids), dtype=bool)
        text_of = np.cumsum(is_sep)
        rows, columns = [], []
        grams, gram_strings = ids, strings  # the n-gram starting at each token (-1: none)
        used = np.flatnonzero(~is_sep)
        for n in range(1, min(self.max_n, len(ids) + 1) + 1):  # (no n-gram is longer than the tokens)
            if n > 1:
                # an n-gram: an (n-1)-gram and the word n-1 tokens on, none of them a separator;
                # only those are built (a text's last words and the next text's first are not)
                used = used[(used < len(ids) - n + 1)]
                used = used[~is_sep[used + n - 1]]
                keys = grams[used] * len(strings) + ids[used + n - 1]
                pairs, inverse = np.unique(keys, return_inverse=True)
                grams = np.full(max(len(ids) - n + 1, 0), -1, dtype=np.int64)
                grams[used] = inverse
                gram_strings = [f"{gram_strings[a]} {strings[b]}"
                                for a, b in zip((pairs // len(strings)).tolist(), (pairs % len(strings)).tolist())]
            columns.append(self._columns(gram_strings)[grams[used]])
            rows.append(text_of[used])
        return np.concatenate(rows), np.concatenate(columns)

    def _compiled_counts(self, texts: Sequence[str], tails: bool = False) -> tuple[np.ndarray, ...] | None:
        """(row, column, count) of the n-grams of all texts (``tails``: of their ``mask_tail``),
        as ``transform`` sorts them, each text's sum of squared counts and the end of its
        entries, by the compiled core (None: not built, or a token pattern it does not know)."""
        compiled = native.core()
        min_token = _COMPILED_TOKENS.get(self.tokens.pattern)
        if compiled is None or min_token is None:
            return None
        texts = list(texts)
        squares, ends = np.empty(len(texts)), np.empty(len(texts), dtype=np.int64)
        count = compiled.masked_counts if tails else compiled.hashed_counts
        rows, columns, counts = count(texts, min_token, self.max_n, self.n_features, squares, ends)
        return (np.frombuffer(rows, dtype=np.int64), np.frombuffer(columns, dtype=np.int64),
                np.frombuffer(counts, dtype=np.float64), squares, ends)

    def transform(self, texts: Sequence[str], tails: bool = False) -> tuple[np.ndarray, ...]:
        """(row, column, count) of every distinct (row, column), sorted by row then column, each
        row's norm (0: empty) and the end of each row's entries. ``tails``: of each text's
        ``mask_tail`` (the compiled core hashes those without making them)."""
        counted = self._compiled_counts(texts, tails)
        squares = None
        if counted is not None:
            rows, cols, counts, squares, ends = counted
        else:
            if tails:
                texts = mask_tails(texts)
            rows, columns = self._joined(texts) or self._text_by_text(texts)
            keys, counts = np.unique(rows * self.n_features + columns, return_counts=True)
            rows, cols, counts = keys // self.n_features, keys % self.n_features, counts.astype(float)
            ends = np.cumsum(np.bincount(rows, minlength=len(texts)))
        if self.norm == "l2":
            if squares is None:
                squares = np.bincount(rows, counts * counts, minlength=len(texts))
            norms = np.sqrt(squares)
        elif self.norm == "l1":
            norms = np.bincount(rows, counts, minlength=len(texts))
        else:
            norms = np.ones(len(texts))
        return rows, cols, counts, norms, ends


def _dot(words, weights: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Hashed rows times ``weights`` (classes x columns): (rows x classes); with ``rows``
    (increasing indices), of those rows only (len(rows) x classes). ``words``: as
    ``_HashedWords.transform`` gives them."""
    entry_rows, cols, counts, norms, ends = words
    if rows is not None:
        # the entries of those rows alone: not a pass over every entry of a batch for the tenth
        # of its rows whose kinds are asked
        end = ends[rows]
        start = np.where(rows > 0, ends[rows - 1], 0)
        lengths = end - start
        entries = np.arange(int(lengths.sum())) + np.repeat(start - (np.cumsum(lengths) - lengths), lengths)
        entry_rows = np.repeat(np.arange(len(rows)), lengths)
        cols, counts, norms = cols[entries], counts[entries], norms[rows]
    n = len(norms)
    compiled = native.core()
    if compiled is not None and weights.dtype == np.float64:
        out = np.zeros((n, len(weights)))
        compiled.sparse_dot(entry_rows, cols, counts, weights, out)
    else:
        out = np.column_stack([np.bincount(entry_rows, counts * w[cols], minlength=n) for w in weights])
    return out / np.where(norms > 0, norms, 1.0)[:, None]


# -- fitted estimators as arrays --------------------------------------------------------------

def _class_name(obj) -> str:
    name = getattr(obj, "class_name", None)  # a modelfile.ObjectState
    if isinstance(name, str) and not isinstance(obj, type):
        return name
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise Unsupported(what)


def _array(value, what: str, ndim: int) -> np.ndarray:
    _require(isinstance(value, np.ndarray) and value.ndim == ndim and value.dtype.kind in "fiu", what)
    return value.astype(np.float64)


class _Linear:
    """A fitted linear model's decision function over [hashed words | dense columns]."""

    def __init__(self, model, n_words: int, n_dense: int, what: str):
        self.coef = _array(getattr(model, "coef_", None), f"{what}: coef_", 2)
        self.intercept = _array(np.atleast_1d(getattr(model, "intercept_", None)), f"{what}: intercept_", 1)
        _require(self.coef.shape[1] == n_words + n_dense and len(self.intercept) == len(self.coef),
                 f"{what}: coefficients of the wrong shape")
        self.n_words = n_words
        self.classes = list(np.asarray(getattr(model, "classes_", [])).tolist())

    def decision(self, words, dense: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Decision values of every row; with ``rows`` (increasing indices), of those rows only,
        ``dense`` being theirs."""
        sparse = _dot(words, self.coef[:, :self.n_words], rows)
        # einsum, not "@": a matrix product goes to BLAS, whose threads then spin on the other
        # cores for a while after each call (0.7 s of CPU per 1.4 s of stripping, measured)
        return sparse + np.einsum("ij,kj->ik", dense, self.coef[:, self.n_words:]) + self.intercept


def tree_problem(tree, n_features: int) -> str | None:
    """What is wrong with one tree's node array, as a walk down it reads it (None: nothing):
    children after their parent and inside the tree, features inside the input, no categorical
    splits. A crafted model file must not make scoring loop or read out of bounds."""
    if not _well_formed(tree):
        return "malformed nodes"
    inner = np.flatnonzero(~tree["is_leaf"].astype(bool))
    for child in ("left", "right"):
        c = tree[child][inner].astype(np.int64)
        if np.any(c <= inner) or np.any(c >= len(tree)):
            return "a node outside the tree"
    features = tree["feature_idx"][inner]
    if np.any(features >= n_features) or np.any(features < 0):
        return "a split on a feature the model does not have"
    if np.any(tree["is_categorical"][inner]):
        return "categorical splits (never trained here)"
    return None


def _well_formed(tree) -> bool:
    return (isinstance(tree, np.ndarray) and tree.ndim == 1 and tree.dtype.names is not None
            and set(_NODE_FIELDS) <= set(tree.dtype.names) and len(tree) > 0)


def forest_problem(trees: list, n_features: int) -> str | None:
    """``tree_problem`` of the first of ``trees`` that has one (None: none has). The trees are
    checked all at once, and the first that fails is named by ``tree_problem`` (a model's 500
    trees one by one took about 50 ms of the CLI's start-up)."""
    malformed = next((k for k, tree in enumerate(trees) if not _well_formed(tree)), len(trees))
    if malformed > 0:  # the well-formed trees before it
        sizes = np.array([len(t) for t in trees[:malformed]], dtype=np.int64)
        flat = np.concatenate([t[list(_NODE_FIELDS)] for t in trees[:malformed]])
        tree_of = np.repeat(np.arange(malformed), sizes)
        # each node's index within its tree, and its tree's size
        local = np.arange(len(flat), dtype=np.int64) - np.repeat(np.r_[0, np.cumsum(sizes)[:-1]], sizes)
        size = np.repeat(sizes, sizes)
        left, right = flat["left"].astype(np.int64), flat["right"].astype(np.int64)
        features = flat["feature_idx"]
        bad = ((left <= local) | (left >= size) | (right <= local) | (right >= size)
               | (features >= n_features) | (features < 0) | flat["is_categorical"].astype(bool))
        bad &= ~flat["is_leaf"].astype(bool)
        if bad.any():
            return tree_problem(trees[int(tree_of[bad].min())], n_features)
    return "malformed nodes" if malformed < len(trees) else None


class _Trees:
    """A fitted binary ``HistGradientBoostingClassifier``: all its trees as flat node arrays."""

    def __init__(self, booster, what: str):
        _require(_class_name(getattr(booster, "_loss", None)) == "sklearn._loss.loss.HalfBinomialLoss",
                 f"{what}: not a binary log-loss booster")
        _require(getattr(booster, "_preprocessor", None) is None, f"{what}: categorical preprocessing")
        predictors = getattr(booster, "_predictors", None)
        _require(isinstance(predictors, list) and len(predictors) > 0
                 and all(isinstance(p, list) and len(p) == 1 for p in predictors),
                 f"{what}: not one tree per iteration")
        self.n_features = int(getattr(booster, "n_features_in_"))
        self.baseline = float(np.asarray(getattr(booster, "_baseline_prediction")).ravel()[0])
        nodes = [p[0].nodes for p in predictors]
        problem = forest_problem(nodes, self.n_features)
        _require(problem is None, f"{what}: {problem}")
        sizes = np.array([len(t) for t in nodes], dtype=np.int64)
        self.roots = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
        offset = np.repeat(self.roots, sizes)  # node indices are per tree: made global
        flat = np.concatenate([t[list(_NODE_FIELDS)] for t in nodes])
        self.leaf = flat["is_leaf"].astype(bool)
        self.value = flat["value"].astype(np.float64)
        self.feature = np.where(self.leaf, 0, flat["feature_idx"]).astype(np.int64)
        self.threshold = flat["num_threshold"].astype(np.float64)
        self.missing_left = flat["missing_go_to_left"].astype(bool)
        # children[2 * node + went_left]: one lookup a step (a leaf is never looked up)
        self.children = np.column_stack([flat["right"].astype(np.int64) + offset,
                                         flat["left"].astype(np.int64) + offset]).ravel()
        # a walk down a tree is at most its size long (children come after their parent)
        self.max_steps = int(sizes.max())
        # the compiled walk reads each node as one record
        self.nodes = np.zeros(len(flat), dtype=NODE_DTYPE)
        for field, column in (("threshold", self.threshold), ("value", self.value), ("feature", self.feature),
                              ("leaf", self.leaf), ("missing_left", self.missing_left),
                              ("right", self.children[0::2]), ("left", self.children[1::2])):
            self.nodes[field] = column
        self._ready: dict = {}  # see _prepared

    def predict_proba(self, X: np.ndarray, early_exit: tuple[int, float] | None = None,
                      finish: np.ndarray | None = None) -> np.ndarray:
        """Promo probability of each row of ``X`` (rows x features).

        ``early_exit`` (trees, bound): rows whose sum over the first ``trees`` trees is under
        ``bound`` stop there, and get the probability of that partial sum; rows ``finish`` marks
        (a boolean mask) go on whatever their sum. The rows that go on get exactly the
        probability of all the trees (see ``promofilter.early_exit``)."""
        _require(X.shape[1] == self.n_features, "input of the wrong width")
        X = np.ascontiguousarray(X, dtype=np.float64)
        if early_exit is None or not 0 < early_exit[0] < len(self.roots):
            raw = self._sums(X, self.roots)
        else:
            trees, bound = early_exit
            raw = self._sums(X, self.roots[:trees])
            going = raw >= bound
            if finish is not None:
                going |= finish
            rows = np.flatnonzero(going)
            if len(rows):
                raw[rows] = self._sums(X[rows], self.roots[trees:], raw[rows])
        return 1.0 / (1.0 + np.exp(-raw))

    def _sums(self, X: np.ndarray, roots: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
        """Each row's raw score over the trees at ``roots``, from ``start`` (its sum over the trees
        before them) or the baseline."""
        compiled = native.core()
        if compiled is not None and len(X):
            raw = np.full(len(X), self.baseline) if start is None else np.array(start, dtype=np.float64)
            compiled.tree_sums_prepared(self._prepared(compiled, roots, X.shape[1]), X, self.baseline, raw,
                                        start is not None)
            return raw
        return self._sums_numpy(X, roots, start)

    def _prepared(self, compiled, roots: np.ndarray, width: int):
        """The compiled core's trees at ``roots``, checked and sorted once (about 0.3 ms a call
        otherwise), kept per set of roots: all of them, and the two sides of the early exit.
        (The node arrays are never changed once built: what was made from them stays right.)"""
        roots = np.ascontiguousarray(roots, dtype=np.int64)
        key = (roots.tobytes(), width)
        found = self._ready.get(key)
        if found is None:
            found = self._ready[key] = compiled.prepared_trees(self.nodes, roots, width)
        return found

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_ready"}  # (compiled objects do not pickle)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _ready={})

    def predict_proba_numpy(self, X: np.ndarray) -> np.ndarray:
        """``predict_proba`` in NumPy alone (without the compiled core): the same numbers."""
        return 1.0 / (1.0 + np.exp(-self._sums_numpy(np.asarray(X, dtype=np.float64), self.roots)))

    def _sums_numpy(self, X: np.ndarray, roots: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
        out = np.full(len(X), self.baseline) if start is None else np.array(start, dtype=np.float64)
        n_trees, width = len(roots), X.shape[1]
        for a in range(0, len(X), TREE_ROWS):
            x = np.ascontiguousarray(X[a:a + TREE_ROWS], dtype=np.float64)
            flat_x = x.ravel()
            # one walker per (row, tree), row-major; only walkers not yet at a leaf move on
            node = np.tile(roots, len(x))
            row_base = np.repeat(np.arange(len(x), dtype=np.int64) * width, n_trees)
            going = np.flatnonzero(~self.leaf[node])
            has_nan = bool(np.isnan(flat_x).any())
            for _ in range(self.max_steps):
                if not len(going):
                    break
                at = node[going]
                v = flat_x[row_base[going] + self.feature[at]]
                left = v <= self.threshold[at]
                if has_nan:  # a missing value goes where training sent missing values
                    left |= np.isnan(v) & self.missing_left[at]
                at = self.children[2 * at + left]
                node[going] = at
                going = going[~self.leaf[at]]
            node = node.reshape(len(x), n_trees)
            values = self.value[node]
            raw = out[a:a + len(x)]  # (a view: summed in place)
            for t in range(values.shape[1]):  # tree by tree, in scikit-learn's order of addition
                raw += values[:, t]
        return out


class _CompiledScorer:
    """``score_and_kind`` and ``predict_proba`` from ``score_kind_alone``."""

    def score_and_kind(self, X) -> tuple[np.ndarray, list[Kind]]:
        p, kinds, _ = self.score_kind_alone(X)
        return p, kinds

    def predict_proba(self, X) -> np.ndarray:
        p, _, _ = self.score_kind_alone(X)
        return np.column_stack([1 - p, p])


class CompiledClassifier(_CompiledScorer):
    """A fitted ``PromoClassifier`` (or its state read from a model file) scored with NumPy.

    Has the classifier's scoring interface (``score_kind_alone``, ``score_and_kind``,
    ``predict_proba``, ``uses_repetition_``). ``estimator()`` gives the scikit-learn estimator
    itself, for training from it: the object compiled, or the one in ``source`` (a callable that
    loads it), imported only then.
    """

    def __init__(self, fitted, source=None):
        self._fitted = None if isinstance(fitted, ObjectState) else fitted
        self._source = source
        _require(_class_name(fitted) == "promofilter.model.PromoClassifier", "not a PromoClassifier")
        steps = getattr(fitted.words_, "steps", None)
        _require(isinstance(steps, list) and len(steps) == 2, "words_ is not masker + hasher")
        _require(_class_name(steps[0][1]) == "promofilter.features.TextMasker", "words_ does not mask")
        hasher = steps[1][1]
        _require(_class_name(hasher) == "sklearn.feature_extraction.text.HashingVectorizer", "words_ does not hash")
        expected = {"analyzer": "word", "lowercase": False, "alternate_sign": False, "binary": False,
                    "preprocessor": None, "tokenizer": None, "stop_words": None, "strip_accents": None,
                    "input": "content"}
        for name, value in expected.items():
            _require(getattr(hasher, name, None) == value, f"hashing with {name}={getattr(hasher, name, None)!r}")
        ngrams = tuple(getattr(hasher, "ngram_range", ()))
        _require(len(ngrams) == 2 and ngrams[0] == 1 and int(ngrams[1]) >= 1, "n-grams not starting at 1")
        norm = getattr(hasher, "norm", None)
        _require(norm in ("l2", "l1", None), f"hashing with norm={norm!r}")
        n_words = int(hasher.n_features)
        self.words = _HashedWords(n_words, str(hasher.token_pattern), int(ngrams[1]), norm)
        self.max_distance = int(getattr(fitted.shape_, "max_distance", 10))
        scaler = fitted.scaler_
        _require(_class_name(scaler) == "sklearn.preprocessing._data.StandardScaler", "not a StandardScaler")
        n_shape = len(np.atleast_1d(getattr(scaler, "scale_", None) if getattr(scaler, "scale_", None) is not None
                                    else getattr(scaler, "mean_")))
        self.mean = (np.zeros(n_shape) if getattr(scaler, "mean_", None) is None
                     else _array(scaler.mean_, "scaler mean", 1))
        self.scale = (np.ones(n_shape) if getattr(scaler, "scale_", None) is None
                      else _array(scaler.scale_, "scaler scale", 1))
        stage1 = fitted.stage1_
        name = _class_name(stage1)
        _require(name == "sklearn.linear_model._logistic.LogisticRegression"
                 or (name == "sklearn.linear_model._stochastic_gradient.SGDClassifier"
                     and getattr(stage1, "loss", None) == "log_loss"), f"stage 1 is a {name}")
        self.stage1 = _Linear(stage1, n_words, n_shape, "stage 1")
        _require(self.stage1.classes == [0, 1] and len(self.stage1.coef) == 1, "stage 1 is not binary 0/1")
        self.stage2 = _Trees(fitted.stage2_, "stage 2")
        batch = getattr(fitted, "batch_stage2_", None)
        self.batch_stage2 = None if batch is None else _Trees(batch, "the batch head")
        self.uses_repetition_ = bool(getattr(fitted, "uses_repetition_", False))
        kind_model = getattr(fitted, "kind_model_", None)
        self.kind_classes = tuple(Kind(str(k)) for k in getattr(fitted, "kind_classes_"))
        self.kinds = None
        if kind_model is not None:
            _require(_class_name(kind_model) == "sklearn.svm._classes.LinearSVC", "the kind model is not a LinearSVC")
            self.kinds = _Linear(kind_model, n_words, n_shape, "the kind model")
            self.kind_labels = [Kind(str(k)) for k in self.kinds.classes]
            _require(len(self.kind_labels) == (2 if len(self.kinds.coef) == 1 else len(self.kinds.coef)),
                     "kind classes do not match the kind model")

    def estimator(self):
        """The scikit-learn ``PromoClassifier`` this was compiled from (loaded on first use)."""
        if self._fitted is None:
            self._fitted = self._source()
        return self._fitted

    def _stage2_matrix(self, context, shape, X, rows, repetition: bool) -> np.ndarray:
        parts = [context[rows], shape[rows]]
        if repetition:
            parts.append(repetition_columns(X)[rows])
        return np.hstack(parts)

    @property
    def inputs_key(self) -> tuple:
        """What the segment inputs depend on: members with the same key share them."""
        w = self.words
        return (w.n_features, w.tokens.pattern, w.max_n, w.norm, self.max_distance)

    def inputs(self, X) -> tuple[np.ndarray, tuple]:
        """The shape features and hashed words of every row of a segment table."""
        texts = list(X["text"])
        # both start from these (the Python code converts each text itself)
        countried = country_texts(texts) if native.core() is not None else None
        shape = shape_features(X, self.max_distance, countried)
        return shape, self.words.transform(mask_links(texts, countried), tails=True)

    def scaled(self, shape: np.ndarray) -> np.ndarray:
        """The shape features standardised, as both linear models take them."""
        scaled = np.subtract(shape, self.mean)
        return np.divide(scaled, self.scale, out=scaled)

    def kinds_of(self, shape: np.ndarray, words: tuple, rows: np.ndarray | None = None,
                 scaled: np.ndarray | None = None) -> list[Kind]:
        """The kind of every row of ``inputs(X)``; with ``rows`` (a mask), of those rows only, the
        others ``Kind.CONTENT``. ``scaled``: ``scaled(shape)``, when it is at hand."""
        n = len(shape)
        if self.kinds is None:
            return [self.kind_classes[0]] * n
        if rows is None:
            d = self.kinds.decision(words, self.scaled(shape) if scaled is None else scaled)
            best = (d[:, 0] > 0).astype(int) if d.shape[1] == 1 else d.argmax(axis=1)
            return [self.kind_labels[i] for i in best.tolist()]
        out = [Kind.CONTENT] * n
        wanted = np.flatnonzero(rows)
        if len(wanted):
            # the dense columns of the wanted rows alone (a tenth of the rows, when stripping)
            d = self.kinds.decision(words, self.scaled(shape[wanted]) if scaled is None else scaled[wanted], wanted)
            best = (d[:, 0] > 0).astype(int) if d.shape[1] == 1 else d.argmax(axis=1)
            for i, b in zip(wanted.tolist(), best.tolist()):
                out[i] = self.kind_labels[b]
        return out

    def stage2_inputs(self, X, shape: np.ndarray, words: tuple, scaled: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Stage 2's input matrix for every row of ``inputs(X)``, and its context columns."""
        scaled = self.scaled(shape) if scaled is None else scaled
        p1 = 1.0 / (1.0 + np.exp(-self.stage1.decision(words, scaled)[:, 0]))
        context = context_features(p1, np.asarray(X["doc"]))
        return self._stage2_matrix(context, shape, X, slice(None), False), context

    def score_inputs(self, X, shape: np.ndarray, words: tuple, kinds: bool = True,
                     early_exit: tuple[int, float] | None = None, finish: np.ndarray | None = None,
                     scaled: np.ndarray | None = None, alone: bool = True
                     ) -> tuple[np.ndarray, list[Kind] | None, np.ndarray | None]:
        """``score_kind_alone`` from ``inputs(X)`` (kinds None unless asked for)."""
        scaled = self.scaled(shape) if scaled is None else scaled
        matrix, context = self.stage2_inputs(X, shape, words, scaled)
        names = self.kinds_of(shape, words, scaled=scaled) if kinds else None
        batch = self.batch_stage2 is not None and "rep_batch" in X and np.asarray(X["rep_batch"]).any()
        if not batch:
            return self.stage2.predict_proba(matrix, early_exit, finish), names, None
        recurs_mask = recurs(X)
        recurring = np.flatnonzero(recurs_mask)
        p_alone = None
        if alone:
            if early_exit is not None:
                # a recurring row's stage-2 score is its score alone, reported beside the batch
                # head's: exact. The others are scored as in a document alone, so they may stop
                finish = recurs_mask if finish is None else finish | recurs_mask
            p2 = self.stage2.predict_proba(matrix, early_exit, finish)
            p_alone = p2.copy()
        else:  # no scores alone: stage 2 scores only the rows the batch head does not
            p2 = np.empty(len(matrix))
            others = np.flatnonzero(~recurs_mask)
            if len(others):
                p2[others] = self.stage2.predict_proba(matrix[others], early_exit,
                                                       None if finish is None else finish[others])
        if len(recurring):
            p2[recurring] = self.batch_stage2.predict_proba(self._stage2_matrix(context, shape, X, recurring, True))
        return p2, names, p_alone

    def score_kind_alone(self, X, kinds_wanted=None, early_exit: tuple[int, float] | None = None,
                         finish: np.ndarray | None = None, alone: bool = True
                         ) -> tuple[np.ndarray, list[Kind], np.ndarray | None]:
        """Promo probability and kind of every row of a segment table, and (batch mode) the
        probability each row would get without batch repetition; as ``PromoClassifier``.
        ``kinds_wanted`` (the scores -> a mask of rows): kinds of those rows only, the others
        ``Kind.CONTENT`` (stripping needs the kinds of what it may remove, not of every sentence).
        ``early_exit`` and ``finish``: as ``_Trees.predict_proba`` (in batch mode, rows that
        recur in other documents always finish: their scores alone are exact). Without
        ``alone``, batch mode gives no scores alone (None), and the rows the batch head scores
        are not scored by stage 2 too."""
        shape, words = self.inputs(X)
        scaled = self.scaled(shape)
        if kinds_wanted is None:
            return self.score_inputs(X, shape, words, early_exit=early_exit, finish=finish, scaled=scaled,
                                     alone=alone)
        p, _, p_alone = self.score_inputs(X, shape, words, kinds=False, early_exit=early_exit, finish=finish,
                                          scaled=scaled, alone=alone)
        return p, self.kinds_of(shape, words, kinds_wanted(p), scaled), p_alone



class CompiledEnsemble(_CompiledScorer):
    """A fitted ``AveragedClassifier`` (or its state read from a model file) scored with NumPy:
    the members' mean scores, the first member's kinds. Members whose inputs are built the same
    way (the shipped ones) share one pass over the texts."""

    def __init__(self, fitted, source=None):
        self._fitted = None if isinstance(fitted, ObjectState) else fitted
        self._source = source
        _require(_class_name(fitted) == "promofilter.model.AveragedClassifier", "not an AveragedClassifier")
        members = getattr(fitted, "members_", None)
        _require(isinstance(members, list) and len(members) > 0, "no members")
        self.members = [CompiledClassifier(m) for m in members]
        self.uses_repetition_ = bool(getattr(fitted, "uses_repetition_", False))

    def estimator(self):
        """The scikit-learn ``AveragedClassifier`` this was compiled from (loaded on first use)."""
        if self._fitted is None:
            self._fitted = self._source()
        return self._fitted

    def score_kind_alone(self, X, kinds_wanted=None, early_exit=None, finish=None, alone: bool = True
                         ) -> tuple[np.ndarray, list[Kind], np.ndarray | None]:
        """As ``CompiledClassifier.score_kind_alone``; the first member names the kinds. Every
        score is exact (``early_exit`` is not used: the bounds are a single model's)."""
        inputs: dict[tuple, tuple] = {}
        p, scores_alone = [], []
        for member in self.members:
            key = member.inputs_key
            if key not in inputs:
                inputs[key] = member.inputs(X)
            pm, _, am = member.score_inputs(X, *inputs[key], kinds=False, alone=alone)
            p.append(pm)
            scores_alone.append(am)
        p_alone = None
        if any(a is not None for a in scores_alone):
            p_alone = np.mean([pm if a is None else a for pm, a in zip(p, scores_alone)], axis=0)
        mean = np.mean(p, axis=0)
        first = self.members[0]
        kinds = first.kinds_of(*inputs[first.inputs_key], None if kinds_wanted is None else kinds_wanted(mean))
        return mean, kinds, p_alone



def compile_classifier(fitted, source=None):
    """``CompiledClassifier`` or ``CompiledEnsemble`` of a fitted classifier or its file state."""
    if _class_name(fitted) == "promofilter.model.AveragedClassifier":
        return CompiledEnsemble(fitted, source)
    return CompiledClassifier(fitted, source)
