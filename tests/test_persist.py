"""Model files load safely: no code runs from an untrusted file, damage gets a clear message."""
import json
import pickle
import shutil

import pytest

import promofilter
from promofilter.persist import ModelLoadError

ARTICLE = "The bridge reopened on Monday after three weeks of repairs, the county said.\n"


class _Boom:
    """Unpickling this runs ``open(path, 'w')``: proof that code ran."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_saved_model_round_trips(model, tmp_path):
    from promofilter.persist import save_model

    save_model(model, tmp_path / "copy")
    again = promofilter.load_model(tmp_path / "copy")
    assert again.threshold == model.threshold
    assert again.detect(ARTICLE)[0].score == pytest.approx(model.detect(ARTICLE)[0].score)


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "model.pkl"
    evil.write_bytes(pickle.dumps(_Boom(str(marker))))
    with pytest.raises(ModelLoadError, match="pickle"):
        promofilter.load_model(evil)
    assert not marker.exists()


def test_pickle_loads_only_when_trusted(model, tmp_path):
    import joblib

    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    assert promofilter.load_model(path, trusted=True).strip(ARTICLE) == ARTICLE


def test_skops_file_with_foreign_types_is_refused(model_dir, tmp_path):
    import skops.io as sio

    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    (bad / "model.skops").write_bytes(sio.dumps({"payload": _Boom("x")}))
    meta = json.loads((bad / "model.json").read_text())
    meta.pop("model_sha256")
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="could run code"):
        promofilter.load_model(bad)


def test_tampered_model_fails_its_checksum(model_dir, tmp_path):
    bad = tmp_path / "tampered"
    shutil.copytree(model_dir, bad)
    data = bytearray((bad / "model.skops").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "model.skops").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="sha256"):
        promofilter.load_model(bad)


def test_truncated_model_without_checksum_gets_a_message_not_a_traceback(model_dir, tmp_path):
    bad = tmp_path / "truncated"
    shutil.copytree(model_dir, bad)
    data = (bad / "model.skops").read_bytes()
    (bad / "model.skops").write_bytes(data[: len(data) // 3])
    meta = json.loads((bad / "model.json").read_text())
    meta.pop("model_sha256")
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="not a readable skops model"):
        promofilter.load_model(bad)


def test_model_from_another_sklearn_version_is_refused(model_dir, tmp_path):
    other = tmp_path / "old"
    shutil.copytree(model_dir, other)
    meta = json.loads((other / "model.json").read_text())
    meta["sklearn_version"] = "0.24.2"
    (other / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="scikit-learn 0.24.2"):
        promofilter.load_model(other)


def test_missing_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        promofilter.load_model(tmp_path / "nowhere")
    with pytest.raises(ModelLoadError, match="not a promofilter model directory"):
        promofilter.load_model(tmp_path)


def test_a_batch_aware_model_of_the_design_before_the_batch_head_is_refused_with_a_message(model, tmp_path):
    import copy

    from promofilter.persist import save_model

    old = copy.deepcopy(model)
    old.classifier.uses_repetition_ = True
    del old.classifier.batch_stage2_  # what such models lack
    save_model(old, tmp_path / "old")
    with pytest.raises(ModelLoadError, match="older design"):
        promofilter.load_model(tmp_path / "old")
