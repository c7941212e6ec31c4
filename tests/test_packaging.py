"""The shipped model: it loads cleanly, cleans the example, and reaches users of the wheel."""
import os
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

import promofilter
from promofilter import native

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_model_loads_without_version_warnings(monkeypatch):
    import sklearn

    monkeypatch.delenv(promofilter.MODEL_ENV, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", sklearn.exceptions.InconsistentVersionWarning)
        model = promofilter.load_model()
    assert 0 < model.threshold < 1
    assert model.metadata["corpus"]["sha256"]


def test_shipped_model_strips_exactly_the_trailer_of_the_example(monkeypatch):
    monkeypatch.delenv(promofilter.MODEL_ENV, raising=False)
    text = (ROOT / "examples" / "article.txt").read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    assert lines[-1].startswith("KEY Difference Wire")
    assert promofilter.load_model().strip(text) == "".join(lines[:-1])


def test_shipped_model_card_states_the_false_removal_budget():
    card = (ROOT / "models" / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert "False-removal budget" in card and "content loss" in card


def test_model_card_states_the_model_file_size_and_load_time(model_dir):
    import json

    card = json.loads((model_dir / "model_card.json").read_text(encoding="utf-8"))
    assert card["model_size"]["bytes"] == (model_dir / card["model_size"]["file"]).stat().st_size
    # (the load time is a figure for the card, not a timed test: machines are shared)
    assert card["model_size"]["bytes"] <= 20e6 and card["model_size"]["load_seconds"] > 0


def test_model_card_sweep_has_a_row_at_the_shipped_threshold(model_dir):
    import json

    card = json.loads((model_dir / "model_card.json").read_text(encoding="utf-8"))
    (row,) = [r for r in card["metrics"]["test_sweep"] if r["threshold"] == card["threshold"]]
    test = card["metrics"]["test"]
    if card.get("run_threshold") is None:
        assert row["f1"] == pytest.approx(test["f1"])
    else:  # the sweep is of thresholds alone; runs only ever remove more
        assert test["recall"] >= row["recall"] and test["content_loss"] >= row["content_loss"]


@pytest.mark.slow
def test_built_wheel_contains_the_model_and_the_corpus(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True)
    (wheel,) = tmp_path.glob("promofilter-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"promofilter/_model/model.npz", "promofilter/_model/model.json", "promofilter/py.typed"} <= names
    assert any(n.startswith("promofilter/_corpus/articles/") for n in names)
    if os.environ.get("PROMOFILTER_PURE_PYTHON") != "1" and native.core() is not None:
        # the compiled core is in it, so the wheel is for this platform only
        assert any(n.startswith("promofilter/_native.") and not n.endswith(".c") for n in names)
        assert not wheel.name.endswith("-py3-none-any.whl")
