"""Dask: a real two-worker LocalCluster cleans a multi-partition Parquet dataset exactly as one
process does, loading the model once per worker."""
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

from promofilter.pipeline import strip_column, strip_dask_column  # noqa: E402

ARTICLE = ("Shares of the port operator rose 4% after it reported record container volumes.\n\n"
           "The company said it would raise its dividend for the third year running.\n\n")
TRAILERS = ["Subscribe to our newsletter for the latest market news, delivered every morning!\n",
            "Follow us on Telegram and X for breaking news alerts!\n", ""]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as c, distributed.Client(c) as client:
        yield client


def test_two_workers_give_the_single_process_result(cluster, model, model_dir, tmp_path):
    df = pd.DataFrame({"id": range(60), "text": [ARTICLE + TRAILERS[i % 3] for i in range(60)],
                       "site": [f"s{i % 4}" for i in range(60)]})
    for part in range(4):  # a multi-partition dataset, as crawlers write them
        df.iloc[part * 15:(part + 1) * 15].to_parquet(tmp_path / f"part-{part}.parquet", index=False)
    ddf = dd.read_parquet(str(tmp_path / "*.parquet"))
    assert ddf.npartitions == 4
    # batch mode: counts gathered from all four partitions before any is cleaned, per site
    out = strip_dask_column(ddf, "text", model_dir, spans_column="spans", count_column="n", site_column="site",
                            batch=True)
    got = out.compute().sort_values("id").reset_index(drop=True)
    expected = strip_column(df, "text", model, spans_column="spans", count_column="n", site_column="site",
                            batch=True)
    assert got["text"].tolist() == expected["text"].tolist()
    assert got["n"].tolist() == expected["n"].tolist() and sum(got["n"]) > 0
    assert got["spans"].tolist() == expected["spans"].tolist()
    assert got["id"].tolist() == list(range(60)) and got["site"].tolist() == df["site"].tolist()


def test_each_worker_loads_the_model_once(cluster, model_dir, tmp_path):
    df = pd.DataFrame({"text": [ARTICLE] * 40})
    ddf = dd.from_pandas(df, npartitions=8)
    strip_dask_column(ddf, "text", model_dir).compute()

    def loads():
        from promofilter.pipeline import _worker_filter
        return _worker_filter.cache_info().misses

    assert set(cluster.run(loads).values()) <= {1}


def test_an_unknown_column_fails_before_any_work():
    ddf = dd.from_pandas(pd.DataFrame({"body": ["x"]}), npartitions=1)
    with pytest.raises(KeyError, match="no column 'text'"):
        strip_dask_column(ddf, "text")


def test_the_cli_runs_a_parquet_dataset_on_a_scheduler_address(cluster, model, model_dir, tmp_path):
    from click.testing import CliRunner

    from promofilter.cli import cli

    df = pd.DataFrame({"id": range(30), "text": [ARTICLE + TRAILERS[i % 3] for i in range(30)]})
    src = tmp_path / "in"
    src.mkdir()
    for part in range(3):
        df.iloc[part * 10:(part + 1) * 10].to_parquet(src / f"part-{part}.parquet", index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["strip", str(src), "--dask", cluster.scheduler.address, "-o", str(out),
                                      "--model", str(model_dir), "--batch"])
    assert result.exit_code == 0, result.output
    got = dd.read_parquet(str(out)).compute().sort_values("id")
    assert got["text"].tolist() == model.strip_many(df["text"].tolist(), batch=True)  # the dataset is one batch
