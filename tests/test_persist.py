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


class _Marker:
    """Rebuilding this from a model file would create ``path``: proof that code ran."""

    def __setstate__(self, state):
        open(state["path"], "w").close()


def test_saved_model_round_trips_exactly(model, tmp_path):
    from promofilter.corpus import generate, load_corpus
    from promofilter.persist import MODEL_FILE, save_model

    save_model(model, tmp_path / "copy")
    assert (tmp_path / "copy" / MODEL_FILE).is_file()
    again = promofilter.load_model(tmp_path / "copy")
    assert again.threshold == model.threshold
    texts = [d["text"] for d in generate(load_corpus(), 40, seed=11)]
    counts = model.count_repetition(texts)

    def spans(m, repetition=None):
        return [[(s.start, s.end, s.score, s.kind) for s in r] for r in m.detect_many(texts, repetition=repetition)]

    assert spans(again) == spans(model)  # scores bit for bit, kinds too
    assert spans(again, counts) == spans(model, counts)


def test_model_file_naming_a_foreign_class_is_refused_before_it_is_imported_or_built(model_dir, tmp_path):
    from promofilter import modelfile

    marker = tmp_path / "ran"
    evil = _Marker()
    evil.__dict__["path"] = str(marker)
    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    modelfile.dump(evil, bad / "model.npz")
    meta = json.loads((bad / "model.json").read_text())
    meta.pop("model_sha256")
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match=r"could run code: \S*_Marker"):
        promofilter.load_model(bad)
    assert not marker.exists()
    # the user's word is what lets it through
    promofilter.persist._read_npz(bad / "model.npz", trusted=True)
    assert marker.exists()


def test_model_file_with_pickled_arrays_is_not_readable(model_dir, tmp_path):
    import numpy as np

    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    np.savez(bad / "model.npz", __tree__=np.frombuffer(b'{"format": "promofilter-npz-1", "root": {"$array": "a0"}}',
                                                        dtype=np.uint8), a0=np.array([_Boom("x")], dtype=object))
    meta = json.loads((bad / "model.json").read_text())
    meta.pop("model_sha256")
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="not a readable model file"):
        promofilter.load_model(bad)


def test_models_of_the_skops_format_still_load(model, model_dir, tmp_path):
    import skops.io as sio

    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    (old / "model.npz").unlink()
    (old / "model.skops").write_bytes(sio.dumps(model.classifier))
    meta = json.loads((old / "model.json").read_text())
    meta.update(model_file="model.skops")
    meta.pop("model_sha256")
    (old / "model.json").write_text(json.dumps(meta))
    assert promofilter.load_model(old).detect(ARTICLE)[0].score == model.detect(ARTICLE)[0].score


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
    (bad / "model.npz").unlink()
    (bad / "model.skops").write_bytes(sio.dumps({"payload": _Boom("x")}))
    meta = json.loads((bad / "model.json").read_text())
    meta.update(model_file="model.skops")
    meta.pop("model_sha256")
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="could run code"):
        promofilter.load_model(bad)


def test_tampered_model_fails_its_checksum(model_dir, tmp_path):
    bad = tmp_path / "tampered"
    shutil.copytree(model_dir, bad)
    data = bytearray((bad / "model.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / "model.npz").write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="sha256"):
        promofilter.load_model(bad)


def test_truncated_model_without_checksum_gets_a_message_not_a_traceback(model_dir, tmp_path):
    bad = tmp_path / "truncated"
    shutil.copytree(model_dir, bad)
    data = (bad / "model.npz").read_bytes()
    (bad / "model.npz").write_bytes(data[: len(data) // 3])
    meta = json.loads((bad / "model.json").read_text())
    meta.pop("model_sha256")
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="not a readable model file"):
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
