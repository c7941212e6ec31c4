"""The classifier: a two-stage scikit-learn estimator over segment tables, and its kind model.

Stage 1 scores each segment alone from masked hashed words and hand-made shape/position
features (logistic regression). Stage 2 re-scores it with its neighbours' stage-1 scores (the
segments before and after it, and everything that follows it up to the end of the document),
with gradient-boosted trees: promos come in runs and cluster after the last prose paragraph.
Stage 2 is trained on out-of-fold stage-1 scores so it learns how far to trust them on unseen
documents. A separate multinomial model names the kind of each promo segment.

Batch mode (see ``promofilter.repetition``) has a head of its own: a second stage-2 model that
also reads the repetition columns, trained on documents composed in site batches, and used only
for segments that recur in other documents of the batch. Everything else (and every segment of
a document scored alone) goes through the stage 2 that never saw repetition, so a model with a
batch head scores a single document exactly as the same recipe without one.
"""
from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from scipy import sparse
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from .features import ShapeFeatures, TextMasker
from .repetition import REPETITION_FEATURE_NAMES
# the stage-2 inputs, computed where the NumPy scorer computes them too
from .scoring import CONTEXT_FEATURE_NAMES, context_features, recurs, repetition_columns
from .results import Kind

__all__ = ["PromoClassifier", "AveragedClassifier", "CONTEXT_FEATURE_NAMES"]

# Rows whose hashed word features are built and scored at once (see PromoClassifier._score).
SCORE_ROWS = 20_000

class _SegmentScorer:
    """The scoring interface of the classifiers below, from their ``_score``: promo
    probabilities, kinds, and (batch mode) the scores without repetition."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p, _, _ = self._score(X)
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def score_and_kind(self, X: pd.DataFrame) -> tuple[np.ndarray, list[Kind]]:
        """Promo probability and most likely promo kind of every row, in one pass."""
        p, kinds, _ = self.score_kind_alone(X)
        return p, kinds

    def score_kind_alone(self, X: pd.DataFrame) -> tuple[np.ndarray, list[Kind], np.ndarray | None]:
        """Like ``score_and_kind``, plus each row's probability without batch repetition (None
        when the rows carry no repetition features or the model does not use them)."""
        p, p_alone, kinds = self._score(X, alone=True, kinds=True)
        return p, kinds, p_alone

    def predict_kind(self, X: pd.DataFrame) -> list[Kind]:
        return self.score_and_kind(X)[1]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags


class PromoClassifier(_SegmentScorer, ClassifierMixin, BaseEstimator):
    """Score segments of a segment table as promo (class 1) or content (class 0).

    ``fit(X, y)`` takes a segment table (see ``promofilter.features.build_table``) and one label
    per row: ``"content"`` or a promo kind. ``predict_proba`` gives calibrated-by-training
    probabilities of ``[content, promo]``; ``predict_kind`` names the most likely promo kind.

    Parameters
    ----------
    n_features : int, default=2**18
        Width of the hashed word/bigram space.
    C : float, default=2.0
        Inverse regularisation of the stage-1 logistic regression.
    n_splits : int, default=3
        Folds (grouped by document) for the out-of-fold stage-1 scores stage 2 learns from.
    max_iter : int, default=250
        Boosting iterations of stage 2.
    solver : {"liblinear", "sgd"}, default="liblinear"
        How the stage-1 logistic regression is fitted.
    random_state : int, default=0
        Seed for stage 2.
    kinds : bool, default=True
        Fit the kind model (members of an ``AveragedClassifier`` after the first do not: the
        first member names the kinds).
    """

    kinds = True  # estimators read from files written before the parameter existed

    def __init__(self, n_features: int = 2**18, C: float = 2.0, n_splits: int = 3,
                 max_iter: int = 250, solver: str = "liblinear", random_state: int = 0, kinds: bool = True):
        self.n_features = n_features
        self.kinds = kinds
        self.solver = solver
        self.C = C
        self.n_splits = n_splits
        self.max_iter = max_iter
        self.random_state = random_state

    def _features(self, X: pd.DataFrame, fit_rows: np.ndarray | None = None):
        """Sparse stage-1 matrix (hashed words + scaled shape) and the raw shape features; with
        ``fit_rows``, the scaler is fitted on those rows first."""
        if fit_rows is not None:
            self.words_ = Pipeline([
                ("mask", TextMasker()),
                ("hash", HashingVectorizer(n_features=self.n_features, ngram_range=(1, 2),
                                           alternate_sign=False, lowercase=False,
                                           token_pattern=r"(?u)\b\w+\b")),
            ]).fit(X)
            self.shape_ = ShapeFeatures().fit(X)
        shape = self.shape_.transform(X)
        if fit_rows is not None:
            self.scaler_ = StandardScaler().fit(shape[fit_rows])
        words = self.words_.transform(X)
        Z = sparse.hstack([words, sparse.csr_matrix(self.scaler_.transform(shape))], format="csr")
        return Z, shape

    def _stage1(self):
        if self.solver == "sgd":
            # logistic loss by SGD: ~10x faster than liblinear on wide hashed features; stage 2
            # re-calibrates its scores anyway
            return SGDClassifier(loss="log_loss", alpha=1.0 / (self.C * 50_000), max_iter=12, tol=None,
                                 random_state=self.random_state)
        return LogisticRegression(C=self.C, max_iter=2000, solver="liblinear")

    def _stage2_matrix(self, X: pd.DataFrame, p: np.ndarray, shape: np.ndarray,
                       repetition: bool = False, context: np.ndarray | None = None,
                       rows: slice | np.ndarray = slice(None)) -> np.ndarray:
        """Stage-2 inputs of ``X.iloc[rows]`` (with ``repetition``, the batch head's: the
        repetition columns too); ``context`` (the neighbour features of all of ``X``, which need
        whole documents) may be passed in when scoring chunk by chunk."""
        if context is None:
            context = context_features(p, X["doc"].to_numpy())
        parts = [context[rows], shape[rows]]
        if repetition:
            parts.append(repetition_columns(X)[rows])
        return np.hstack(parts)

    def _stage2(self, n_inputs: int) -> HistGradientBoostingClassifier:
        # Small trees with large leaves, and a segment's own stage-1 score ("p", the first input)
        # may only raise its stage-2 score. Generated documents can be told apart in many ways
        # and bigger trees learn more of the generator's quirks: at the same threshold, trees of
        # 31 leaves of 30 removed more article text on the real-world file at two seeds (see
        # training/README.md), and could score a segment lower for a higher stage-1 score.
        monotonic = np.zeros(n_inputs, dtype=int)
        monotonic[CONTEXT_FEATURE_NAMES.index("p")] = 1
        return HistGradientBoostingClassifier(
            max_iter=self.max_iter, learning_rate=0.08, max_leaf_nodes=15, l2_regularization=1.0,
            min_samples_leaf=100, monotonic_cst=monotonic, random_state=self.random_state)

    def fit(self, X: pd.DataFrame, y):
        """Fit on a segment table and one label per row. Rows with repetition columns and
        ``rep_batch`` set come from documents composed in batches: they train the batch head
        only (the other models learn from documents alone, as ``strip(text)`` sees them)."""
        y = np.asarray([Kind(k).value for k in y], dtype=object)
        is_promo = (y != Kind.CONTENT.value).astype(int)
        if len(np.unique(is_promo)) < 2:
            raise ValueError("training data needs both promo and content segments")
        in_batch = (X["rep_batch"].to_numpy(float) > 0 if all(c in X for c in REPETITION_FEATURE_NAMES)
                    else np.zeros(len(X), dtype=bool))
        alone = ~in_batch
        if len(np.unique(is_promo[alone])) < 2:
            raise ValueError("training data needs promo and content segments in documents alone")
        Z, shape = self._features(X, fit_rows=alone)
        # out-of-fold scores must come from models that never saw the document's article or
        # promo style, or stage 2 learns to trust stage 1 more than it deserves on new sites
        groups = (X["group"] if "group" in X else X["doc"]).astype(str).to_numpy()
        oof = np.zeros(len(X))
        alone_rows = np.flatnonzero(alone)
        n_splits = min(self.n_splits, len(np.unique(groups[alone_rows])))
        # folds are drawn over documents alone (so batch documents do not change them); a batch
        # document is scored by the fold model that did not see its group
        folds = list(GroupKFold(n_splits=n_splits).split(alone_rows, groups=groups[alone_rows]))
        fold_of_group = {g: k for k, (_, test) in enumerate(folds) for g in groups[alone_rows[test]]}
        batch_rows = np.flatnonzero(in_batch)
        batch_fold = np.array([fold_of_group.get(g, zlib.crc32(g.encode("utf-8", "surrogatepass")) % n_splits)
                               for g in groups[batch_rows]], dtype=int)
        for k, (train, test) in enumerate(folds):
            train, test = alone_rows[train], np.r_[alone_rows[test], batch_rows[batch_fold == k]].astype(int)
            if len(np.unique(is_promo[train])) < 2:
                oof[test] = is_promo[train].mean()
                continue
            oof[test] = clone(self._stage1()).fit(Z[train], is_promo[train]).predict_proba(Z[test])[:, 1]
        self.stage1_ = self._stage1().fit(Z[alone], is_promo[alone])
        context = context_features(oof, X["doc"].to_numpy())
        inputs = self._stage2_matrix(X, oof, shape, context=context, rows=alone)
        self.stage2_ = self._stage2(inputs.shape[1]).fit(inputs, is_promo[alone])
        # the batch head learns how far to trust repetition, from the segments it will score:
        # those that recur in other documents of their batch
        recurring = in_batch & recurs(X)
        self.batch_stage2_ = None
        if len(np.unique(is_promo[recurring])) == 2:
            inputs = self._stage2_matrix(X, oof, shape, repetition=True, context=context, rows=recurring)
            self.batch_stage2_ = self._stage2(inputs.shape[1]).fit(inputs, is_promo[recurring])
        self.uses_repetition_ = self.batch_stage2_ is not None
        promo_rows = alone & (is_promo == 1)
        kinds = y[promo_rows]
        # A linear SVM names the kind: multiclass, fast on hashed features, deterministic.
        self.kind_model_ = (LinearSVC(C=0.5, max_iter=5000, random_state=self.random_state).fit(Z[promo_rows], kinds)
                            if len(np.unique(kinds)) > 1 and self.kinds else None)
        self.kind_classes_ = tuple(np.unique(kinds))
        self.classes_ = np.array([0, 1])
        return self

    def _score(self, X: pd.DataFrame, alone: bool = False, kinds: bool = False):
        """Promo probabilities, (with ``alone``, for rows in a batch) the probabilities each
        segment would get without batch repetition, and (with ``kinds``) each row's promo kind.

        Word features are built ``SCORE_ROWS`` rows at a time: a huge document or batch costs
        memory for its shape and context columns, not for all its hashed words at once. Shape
        and context features see the whole table, so the result does not depend on the chunking."""
        check_is_fitted(self)
        n = len(X)
        shape = self.shape_.transform(X)
        p1 = np.zeros(n)
        kind_names: list[Kind] = []
        for a in range(0, n, SCORE_ROWS):
            b = min(n, a + SCORE_ROWS)
            scaled = sparse.csr_matrix(self.scaler_.transform(shape[a:b]))
            Z = sparse.hstack([self.words_.transform(X.iloc[a:b]), scaled], format="csr")
            p1[a:b] = self.stage1_.predict_proba(Z)[:, 1]
            if kinds:
                kind_names += self._kinds(Z)
        context = context_features(p1, X["doc"].to_numpy())
        p2 = np.zeros(n)
        for a in range(0, n, SCORE_ROWS):
            rows = slice(a, min(n, a + SCORE_ROWS))
            p2[rows] = self.stage2_.predict_proba(self._stage2_matrix(X, p1, shape, context=context, rows=rows))[:, 1]
        p_alone = None
        if getattr(self, "batch_stage2_", None) is not None and "rep_batch" in X and X["rep_batch"].any():
            p_alone = p2.copy() if alone else None
            recurring = np.flatnonzero(recurs(X))
            for a in range(0, len(recurring), SCORE_ROWS):
                rows = recurring[a:a + SCORE_ROWS]
                p2[rows] = self.batch_stage2_.predict_proba(
                    self._stage2_matrix(X, p1, shape, repetition=True, context=context, rows=rows))[:, 1]
        return p2, p_alone, kind_names

    def _kinds(self, Z) -> list[Kind]:
        if self.kind_model_ is None:
            return [Kind(self.kind_classes_[0])] * Z.shape[0]
        return [Kind(k) for k in self.kind_model_.predict(Z)]



class AveragedClassifier(_SegmentScorer, ClassifierMixin, BaseEstimator):
    """The mean promo score of several ``PromoClassifier`` members, each fit on its own draw of
    training documents (a build generates them at another seed per member, from the same corpus
    split). One model's scores swing with the documents it happened to be trained on (real-world
    F1 0.85-0.89 between seeds of the shipped recipe); the mean of a few swings less.

    ``fit(X, y)`` takes a segment table with a ``member`` column (which member's draw each row
    belongs to; one member per distinct value, in sorted order) and fits a clone of
    ``estimator`` on each member's rows. The first member names the kinds; the others are fit
    without a kind model. Scores and batch-mode scores are the members' means.

    Parameters
    ----------
    estimator : PromoClassifier, default=None
        The member recipe (``PromoClassifier()`` when None).
    """

    def __init__(self, estimator: PromoClassifier | None = None):
        self.estimator = estimator

    def fit(self, X: pd.DataFrame, y):
        if "member" not in X:
            raise ValueError("an AveragedClassifier needs a 'member' column: which member's documents each row is")
        y = np.asarray(y, dtype=object)
        member = X["member"].to_numpy()
        base = self.estimator if self.estimator is not None else PromoClassifier()
        self.members_ = []
        for k, m in enumerate(np.unique(member)):
            rows = np.flatnonzero(member == m)
            recipe = clone(base).set_params(kinds=k == 0)
            self.members_.append(recipe.fit(X.iloc[rows].drop(columns="member").reset_index(drop=True), y[rows]))
        self.uses_repetition_ = any(m.uses_repetition_ for m in self.members_)
        self.classes_ = np.array([0, 1])
        return self

    def _score(self, X: pd.DataFrame, alone: bool = False, kinds: bool = False):
        """As ``PromoClassifier._score``: the members' mean scores, the first member's kinds."""
        check_is_fitted(self)
        p, p_alone, kind_names = [], [], []
        for k, member in enumerate(self.members_):
            pm, am, km = member._score(X, alone=alone, kinds=kinds and k == 0)
            p.append(pm)
            p_alone.append(pm if am is None else am)
            kind_names = kind_names or km
        any_alone = alone and any(m.batch_stage2_ is not None for m in self.members_) and "rep_batch" in X \
            and X["rep_batch"].any()
        return np.mean(p, axis=0), (np.mean(p_alone, axis=0) if any_alone else None), kind_names
