"""Versioned models: train writes a new version, a guard decides whether it becomes current,
`promofilter models` lists versions and switches back."""
import json

import pytest
from click.testing import CliRunner

import promofilter
from promofilter.cli import cli
from promofilter.registry import versions


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMOFILTER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(promofilter.MODEL_ENV, raising=False)
    promofilter._default_model.cache_clear()
    return tmp_path / "home"


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    from promofilter.corpus import generate, load_corpus

    path = tmp_path_factory.mktemp("samples") / "samples.jsonl"
    docs = generate(load_corpus(), 150, seed=42)
    path.write_text("".join(json.dumps({k: d[k] for k in ("id", "text", "promo_spans")}) + "\n" for d in docs))
    return path


def _run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_a_version_that_passes_the_guard_becomes_current_and_the_default(home, samples):
    shipped = promofilter.shipped_model_path()
    assert promofilter.default_model_path() == shipped
    result = _run("train", str(samples), "--max-loss-rise", "1.0")
    assert result.exit_code == 0, result.output
    (version,) = versions()
    assert version.current and "is now the current model" in result.stderr
    assert promofilter.default_model_path() == version.path
    card = version.card
    assert card["parent"]["path"] == str(shipped) and card["parent"]["test"]["docs"] == card["metrics"]["test"]["docs"]
    listing = _run("models").stdout
    assert f"* {version.name}" in listing and "  shipped" in listing
    assert _run("models", "use", "shipped").exit_code == 0
    assert promofilter.default_model_path() == shipped
    assert _run("models", "use", version.name).exit_code == 0
    assert promofilter.default_model_path() == version.path


def test_a_version_that_loses_more_text_than_its_parent_is_not_made_current_unless_forced(home, samples):
    refused = _run("train", str(samples), "--max-loss-rise", "-1")
    assert refused.exit_code == 0 and "was NOT made current" in refused.stderr
    assert [v.current for v in versions()] == [False]
    assert promofilter.default_model_path() == promofilter.shipped_model_path()
    forced = _run("train", str(samples), "--max-loss-rise", "-1", "--force")
    assert "forced" in forced.stderr
    assert [v.current for v in versions()] == [False, True]
    assert versions()[1].name.startswith("v002-")


def test_unknown_versions_are_an_error_listing_the_known_ones(home):
    result = _run("models", "use", "v999")
    assert result.exit_code == 1 and "no model version 'v999'" in result.stderr and "shipped" in result.stderr


def test_train_with_out_writes_there_and_leaves_the_versions_alone(home, samples, tmp_path):
    result = _run("train", str(samples), "--out", str(tmp_path / "mine"))
    assert result.exit_code == 0 and (tmp_path / "mine" / "model.json").is_file()
    assert versions() == []


def test_a_quick_retrain_writes_the_model_it_measured(home, samples, tmp_path, monkeypatch):
    import promofilter.build as build

    monkeypatch.setitem(build.QUICK, "n_train_docs", 300)  # the recipe's shape, a test's size
    monkeypatch.setitem(build.QUICK, "n_eval_docs", 150)
    result = _run("train", "--base", str(samples), "--quick", "--out", str(tmp_path / "quick"))
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "quick" / "model.json").read_text())
    assert card["refit"] is False and card["documents_requested"] == {"train": 300, "eval": 150}
    assert "are those of this model" in card["metrics"]["note"]
    model = promofilter.load_model(tmp_path / "quick")
    assert model.threshold == card["threshold"]
    assert model.strip("Prices rose. Subscribe to our newsletter for more!")  # usable at once
