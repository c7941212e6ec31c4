"""Features as scikit-learn transformers over a segment table (see ``promofilter.signals``).

``TextMasker`` gives the masked words for hashing, ``ShapeFeatures`` the hand-made shape, voice
and position features. The functions behind them live in ``promofilter.signals``, which strips
text without importing scikit-learn; their names are re-exported here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .signals import (  # noqa: F401 (re-exported: older imports name them here)
    EMAIL, EMOJI, HANDLE, HASHTAG, SHAPE_FEATURE_NAMES, URL, WORD, _maybe_url, build_table,
    mask_text, mask_texts, shape_features,
)

__all__ = ["build_table", "TextMasker", "ShapeFeatures", "SHAPE_FEATURE_NAMES"]


class TextMasker(TransformerMixin, BaseEstimator):
    """Select the ``text`` column of a segment table and mask volatile tokens (see ``mask_text``).

    Stateless: fitting learns nothing, but follows the estimator contract.
    """

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    def transform(self, X) -> list[str]:
        check_is_fitted(self)
        return mask_texts(list(X["text"]))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags


class ShapeFeatures(TransformerMixin, BaseEstimator):
    """Hand-made shape, voice and position features of each row of a segment table.

    Parameters
    ----------
    max_distance : int, default=10
        Distances in segments from the start and the end are capped here.
    """

    def __init__(self, max_distance: int = 10):
        self.max_distance = max_distance

    def fit(self, X, y=None):
        self.n_features_out_ = len(SHAPE_FEATURE_NAMES)
        return self

    def get_feature_names_out(self, input_features=None):
        return np.asarray(SHAPE_FEATURE_NAMES, dtype=object)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self)
        return shape_features(X, self.max_distance)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags
