"""Shared fixtures: a small model trained once per session from the authored corpus."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    """A model directory trained on a small generated sample of the authored corpus."""
    from promofilter.build import build_model

    out = tmp_path_factory.mktemp("model")
    build_model(out_dir=out, corpus_dir=ROOT / "training" / "corpus", n_train_docs=1200,
                n_eval_docs=300, realworld=False, plots=False, command="pytest fixture", batch_share=0.4)
    return out


@pytest.fixture(scope="session")
def model(model_dir):
    import promofilter

    return promofilter.load_model(model_dir)


@pytest.fixture(scope="session")
def shipped_model():
    """The model the repository ships in models/: the one users get."""
    import promofilter

    return promofilter.load_model(ROOT / "models")


@pytest.fixture(autouse=True)
def _isolated_default_model(monkeypatch, request, tmp_path_factory):
    """Point the module-level API at the fixture model, never at the shipped one."""
    import promofilter

    promofilter._default_model.cache_clear()
    # trained versions and the CURRENT pointer live in a per-test home, never the user's
    monkeypatch.setenv("PROMOFILTER_HOME", str(tmp_path_factory.mktemp("home")))
    if "model_dir" in request.fixturenames or "model" in request.fixturenames:
        monkeypatch.setenv(promofilter.MODEL_ENV, str(request.getfixturevalue("model_dir")))
    yield
    promofilter._default_model.cache_clear()
