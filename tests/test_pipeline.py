"""promofilter in pipelines: the scikit-learn transformer and the pandas column cleaner."""
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.pipeline import Pipeline

from promofilter.pipeline import PromoStripper, strip_column

ARTICLE = ("Shares of the port operator rose 4% after it reported record container volumes.\n\n"
           "The company said it would raise its dividend for the third year running.\n\n")
TRAILER = "Subscribe to our newsletter for the latest market news, delivered every morning!\n"
DOCS = [ARTICLE + TRAILER, "Rain is forecast for Tuesday.\n", "", ARTICLE]


def test_transform_equals_stripping_each_document(model):
    out = PromoStripper(model=model).fit().transform(DOCS)
    assert isinstance(out, np.ndarray) and out.dtype == object
    assert list(out) == [model.strip(d) for d in DOCS]


def test_a_series_keeps_its_index_and_name(model):
    series = pd.Series(DOCS, index=[10, 7, 3, 99], name="body")
    out = PromoStripper(model=model).fit().transform(series)
    assert out.index.tolist() == [10, 7, 3, 99] and out.name == "body"
    assert out.tolist() == [model.strip(d) for d in DOCS]


def test_threshold_one_keeps_everything(model):
    assert list(PromoStripper(model=model, threshold=1.0).fit_transform(DOCS)) == DOCS


def test_it_is_a_pipeline_step_and_clones(model):
    pipe = Pipeline([("clean", PromoStripper(model=model)), ("bag", CountVectorizer())]).fit(DOCS)
    assert pipe.transform(DOCS).shape[0] == len(DOCS)
    copy = clone(PromoStripper(model=model, threshold=0.7, remove_kinds=["cta"]))
    assert copy.get_params()["threshold"] == 0.7 and copy.get_params()["remove_kinds"] == ["cta"]


def test_non_string_items_are_an_error_naming_the_item(model):
    with pytest.raises(TypeError, match="item 1 is int"):
        PromoStripper(model=model).fit().transform(["text", 5])


def test_strip_column_cleans_one_column_and_leaves_the_rest(model):
    df = pd.DataFrame({"id": [3, 1, 2, 8], "body": DOCS, "site": list("abcd")}, index=list("wxyz"))
    out = strip_column(df, "body", model, spans_column="promo_spans", count_column="n_removed")
    assert out["body"].tolist() == [model.strip(d) for d in DOCS]
    assert out[["id", "site"]].equals(df[["id", "site"]]) and out.index.equals(df.index)
    assert df["body"].tolist() == DOCS  # the input frame is not modified
    for original, cleaned, spans, n in zip(DOCS, out["body"], out["promo_spans"], out["n_removed"]):
        assert len(spans) == n
        rebuilt = original
        for span in sorted(spans, key=lambda s: -s["start"]):
            assert original[span["start"]:span["end"]] == span["text"]
            rebuilt = rebuilt[:span["start"]] + rebuilt[span["end"]:]
        assert rebuilt == cleaned


def test_strip_column_passes_missing_values_through(model):
    df = pd.DataFrame({"body": pd.Series([DOCS[0], None, np.nan, DOCS[1]], dtype=object)})
    out = strip_column(df, "body", model, count_column="n")
    assert out["body"].iloc[1] is None and out["body"].iloc[2] is df["body"].iloc[2]
    assert out["body"].iloc[0] == model.strip(DOCS[0]) and out["n"].iloc[1] == 0


def test_strip_column_keeps_the_column_dtype(model):
    df = pd.DataFrame({"body": pd.Series(DOCS, dtype="string")})
    assert strip_column(df, "body", model)["body"].dtype == df["body"].dtype


def test_strip_column_errors_name_the_column_and_row(model):
    with pytest.raises(KeyError, match="no column 'text'"):
        strip_column(pd.DataFrame({"body": ["x"]}), "text", model)
    with pytest.raises(TypeError, match="row 'b'"):
        strip_column(pd.DataFrame({"body": ["x", 4]}, index=["a", "b"]), "body", model)
