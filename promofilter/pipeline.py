"""promofilter inside data pipelines: a scikit-learn transformer and a pandas column cleaner.

>>> from promofilter.pipeline import PromoStripper, strip_column   # doctest: +SKIP
>>> Pipeline([("clean", PromoStripper()), ("tfidf", TfidfVectorizer()), ...])  # doctest: +SKIP
>>> strip_column(df, "body", spans_column="promo_spans")           # doctest: +SKIP
"""
from __future__ import annotations

import functools
import os
from contextlib import nullcontext
from typing import Iterable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .results import Kind, StripConfig
from .reuse import reusing

__all__ = ["PromoStripper", "strip_column", "strip_dask_column"]


def _load(model):
    """A PromoFilter from a PromoFilter, a model directory, or None (the shipped model)."""
    from . import load_model
    from .stripping import PromoFilter

    if isinstance(model, PromoFilter):
        return model
    if model is None or isinstance(model, (str, os.PathLike)):
        return load_model(model)
    raise TypeError(f"model must be a PromoFilter, a model directory or None, not {type(model).__name__}")


def _config(threshold, remove_kinds) -> StripConfig:
    if remove_kinds is None:
        return StripConfig(threshold=threshold)
    return StripConfig(threshold=threshold, remove_kinds=frozenset(Kind(k) for k in remove_kinds))


def _texts(values: Iterable, where: str) -> list[str]:
    texts = []
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise TypeError(f"{where}: item {i} is {type(value).__name__}, not str")
        texts.append(value)
    return texts


class PromoStripper(TransformerMixin, BaseEstimator):
    """Strip promo segments from documents, as a step of a scikit-learn ``Pipeline``.

    ``transform`` takes an iterable of strings (list, array, pandas Series) and returns the
    cleaned strings: a Series with the same index and name for a Series, else a 1-d object array.
    Fitting learns nothing from the data; it loads the model once so transforms do not.

    Parameters
    ----------
    model : PromoFilter, path or None, default=None
        A loaded model, a model directory, or None for the shipped model.
    threshold : float or None, default=None
        Removal threshold; None uses the model's own.
    remove_kinds : iterable of str or None, default=None
        Only remove promos of these kinds (``"ad"``, ``"cta"``, ...); None removes every kind.
    batch : bool, default=False
        Treat the documents of each ``transform`` call as one batch: segments repeated across
        them (trailers, footers) count as evidence (see ``promofilter.repetition``). Off by
        default: on the team's real-world file it scores lower than documents alone, at half
        the speed (training/README.md, experiment BM).
    """

    def __init__(self, model=None, threshold: float | None = None, remove_kinds=None, batch: bool = False):
        self.model = model
        self.threshold = threshold
        self.remove_kinds = remove_kinds
        self.batch = batch

    def fit(self, X=None, y=None):
        self.filter_ = _load(self.model)
        self.config_ = _config(self.threshold, self.remove_kinds)
        return self

    def transform(self, X):
        check_is_fitted(self)
        cleaned = self.filter_.strip_many(_texts(X, "PromoStripper.transform"), self.config_, batch=self.batch)
        if isinstance(X, pd.Series):
            return pd.Series(cleaned, index=X.index, name=X.name, dtype=object)
        out = np.empty(len(cleaned), dtype=object)
        out[:] = cleaned
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.requires_fit = False
        return tags


def strip_column(df: pd.DataFrame, column: str, model=None, *, threshold: float | None = None,
                 remove_kinds=None, spans_column: str | None = None,
                 count_column: str | None = None, batch: bool = False, site_column: str | None = None,
                 repetition=None) -> pd.DataFrame:
    """A copy of ``df`` with promos stripped from the text column ``column``.

    With ``batch`` (off by default), the rows are one batch: segments repeated across them
    (trailers, footers) count as evidence, per site when ``site_column`` names each row's site.
    ``repetition`` gives counts gathered elsewhere (the whole dataset, when ``df`` is one part).

    The column keeps its dtype. Missing values (None/NaN) pass through untouched; any other non-string value is an error
    naming its row. ``spans_column`` adds the removed spans of each row as a list of dicts
    (``start``, ``end``, ``kind``, ``score``, ``text``; offsets into the original text);
    ``count_column`` adds how many spans were removed. Other columns, the index and the row
    order are unchanged.
    """
    if column not in df.columns:
        raise KeyError(f"no column {column!r} (columns: {', '.join(map(str, df.columns))})")
    values = df[column]
    present = values.notna().to_numpy()
    for label, value in values[present].items():
        if not isinstance(value, str):
            raise TypeError(f"column {column!r}, row {label!r}: {type(value).__name__}, not str")
    if site_column is not None and site_column not in df.columns:
        raise KeyError(f"no site column {site_column!r}")
    texts = values[present].tolist()
    sites = None if site_column is None else [v if isinstance(v, str) else None for v in df[site_column][present]]
    model = _load(model)
    counting = batch and repetition is None and model.uses_repetition and len(texts) >= 2
    with reusing() if counting else nullcontext():  # the counting pass's work serves scoring
        if counting:
            repetition = model.count_repetition(texts, sites)
        results = list(model.explain_many(texts, _config(threshold, remove_kinds), sites,
                                          repetition if batch else None))
    # results line up with the present rows; missing rows keep their value and get no spans
    per_row = iter(results)
    row_results = [next(per_row) if ok else None for ok in present]
    out = df.copy()
    cleaned = pd.Series([r.text if r else v for r, v in zip(row_results, values)],
                        index=df.index, dtype=object)
    out[column] = cleaned.astype(values.dtype) if values.dtype != object else cleaned
    if spans_column is not None:
        out[spans_column] = pd.Series(
            [[_span_record(s) for s in r.removed] if r else [] for r in row_results],
            index=df.index, dtype=object)
    if count_column is not None:
        out[count_column] = np.array([len(r.removed) if r else 0 for r in row_results], dtype=np.int64)
    return out


def _span_record(span) -> dict:
    return {"start": span.start, "end": span.end, "kind": span.kind.value,
            "score": round(float(span.score), 4), "text": span.text}


@functools.lru_cache(maxsize=4)
def _worker_filter(model_path: str | None, trusted: bool):
    """The model, loaded once per worker process (the path travels with tasks, the model does not)."""
    from . import load_model

    return load_model(model_path, trusted=trusted)


def _strip_partition(df: pd.DataFrame, column: str, model_path, trusted, threshold, remove_kinds,
                     spans_column, count_column, site_column=None, repetition=None) -> pd.DataFrame:
    return strip_column(df, column, _worker_filter(model_path, trusted), threshold=threshold,
                        remove_kinds=remove_kinds, spans_column=spans_column, count_column=count_column,
                        batch=repetition is not None, site_column=site_column, repetition=repetition)


# key ranges the Dask counting pass reduces separately: no task holds every distinct form
COUNT_RANGES = 16


def _count_partition(df: pd.DataFrame, column: str, site_column):
    """A partition's counts, cut into ``COUNT_RANGES`` key ranges, and its number of documents."""
    import sys

    from .repetition import RepetitionCounter, split_key_ranges

    counter = RepetitionCounter(max_keys=sys.maxsize)  # the partition is in memory anyway
    present = df[column].notna().to_numpy()
    texts = [v for v in df[column][present] if isinstance(v, str)]
    sites = (None if site_column is None else
             [s if isinstance(s, str) else None for v, s in zip(df[column][present], df[site_column][present])
              if isinstance(v, str)])
    counter.add(texts, sites)
    keys, counts, documents = counter.totals()
    return split_key_ranges(keys, counts, COUNT_RANGES), documents


def _key_range(part, r: int):
    return part[0][r]


def _documents(part) -> int:
    return part[1]


def _add_up_range(*pieces):
    from .repetition import add_up_key_range

    return add_up_key_range(pieces)


def _gather_counts(documents, *ranges):
    from .repetition import RepetitionCounts

    documents = sum(documents)
    if documents < 2:
        return None
    return RepetitionCounts(np.concatenate([k for k, _ in ranges]), np.concatenate([c for _, c in ranges]), documents)


def strip_dask_column(ddf, column: str, model_path: str | os.PathLike | None = None, *,
                      trusted: bool = False, threshold: float | None = None, remove_kinds=None,
                      spans_column: str | None = None, count_column: str | None = None,
                      batch: bool = False, site_column: str | None = None):
    """Lazily clean the text column ``column`` of a Dask DataFrame, partition by partition.

    Same arguments and result per row as ``strip_column``. Only ``model_path`` (None: the shipped
    model) is sent to the workers; each worker process loads the model once and reuses it.
    In batch mode (``batch``) the whole dataframe is one batch: each partition's
    repetition counts are gathered and merged before any partition is cleaned, so the result
    does not depend on the partitioning (the data is read twice).

    >>> import dask.dataframe as dd                                     # doctest: +SKIP
    >>> clean = strip_dask_column(dd.read_parquet("crawl/"), "text")     # doctest: +SKIP
    >>> clean.to_parquet("clean/")                                      # doctest: +SKIP
    """
    if column not in ddf.columns:
        raise KeyError(f"no column {column!r} (columns: {', '.join(map(str, ddf.columns))})")
    meta = ddf._meta.copy()
    if spans_column is not None:
        meta[spans_column] = pd.Series(dtype=object)
    if count_column is not None:
        meta[count_column] = pd.Series(dtype=np.int64)
    path = None if model_path is None else str(model_path)
    repetition = None
    # counting is a whole extra pass over the data: only for a model that uses the counts
    if batch and _worker_filter(path, trusted).uses_repetition:
        import dask

        if site_column is not None and site_column not in ddf.columns:
            raise KeyError(f"no site column {site_column!r}")
        columns = [column] + ([site_column] if site_column and site_column != column else [])
        parts = [dask.delayed(_count_partition)(part, column, site_column) for part in ddf[columns].to_delayed()]
        # each key range is added up across partitions on its own (keeping forms of two or more
        # documents), then the ranges are joined: one delayed value, computed once and handed to
        # every partition's cleaning task
        ranges = [dask.delayed(_add_up_range)(*[dask.delayed(_key_range)(p, r) for p in parts])
                  for r in range(COUNT_RANGES)]
        repetition = dask.delayed(_gather_counts)([dask.delayed(_documents)(p) for p in parts], *ranges)
    return ddf.map_partitions(_strip_partition, column, path, trusted, threshold,
                              None if remove_kinds is None else tuple(remove_kinds),
                              spans_column, count_column, site_column, repetition, meta=meta)
