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


def test_saved_model_round_trips_exactly(model, tmp_path):
    from promofilter.corpus import generate, load_corpus
    from promofilter.persist import MODEL_FILE, save_model

    save_model(model, tmp_path / "copy")
    assert (tmp_path / "copy" / MODEL_FILE).is_file()
    again = promofilter.load_model(tmp_path / "copy")
    assert again.threshold == model.threshold
    assert again.run_threshold == model.run_threshold
    texts = [d["text"] for d in generate(load_corpus(), 40, seed=11)]
    counts = model.count_repetition(texts)

    def spans(m, repetition=None):
        return [[(s.start, s.end, s.score, s.kind) for s in r] for r in m.detect_many(texts, repetition=repetition)]

    assert spans(again) == spans(model)  # scores bit for bit, kinds too
    assert spans(again, counts) == spans(model, counts)


def _with_run_threshold(model, directory, value, threshold=None):
    """``model`` saved to ``directory`` with ``value`` as the run threshold in its model.json
    (``...``: without the key, as models made before runs), and ``threshold`` if given."""
    from promofilter.persist import save_model

    save_model(model, directory)
    meta = json.loads((directory / "model.json").read_text())
    meta.pop("run_threshold", None)
    if value is not ...:
        meta["run_threshold"] = value
    if threshold is not None:
        meta["threshold"] = threshold
    (directory / "model.json").write_text(json.dumps(meta))
    return directory


def test_the_run_threshold_stored_with_a_model_is_used_by_every_way_of_stripping(model, tmp_path):
    from promofilter import StripConfig

    # the trailer opens the text; the model's threshold is set to its score, so it alone is removed
    text = "Subscribe to our newsletter for the latest news, delivered every morning!\n" + ARTICLE
    trailer, article = (s.score for s in model.detect(text))
    assert trailer > article
    loaded = promofilter.load_model(_with_run_threshold(model, tmp_path / "runs", 0.0, threshold=trailer))
    assert loaded.run_threshold == 0.0
    assert loaded.strip(text, StripConfig(threshold=trailer)) == ARTICLE  # a threshold of your own: no runs
    # with a run threshold of 0 the run takes everything after it
    assert loaded.strip(text).strip() == ""
    assert loaded.strip_many([text, text]) == [loaded.strip(text)] * 2
    assert [s.removed for s in loaded.detect(text)] == [True, True]
    assert loaded.strip(text, StripConfig(run_threshold=1.0)) == ARTICLE  # 1: off
    # models made before runs have none
    assert promofilter.load_model(_with_run_threshold(model, tmp_path / "old", ...)).run_threshold is None


@pytest.mark.parametrize("value", ["high", True, 1.5, -1])
def test_a_malformed_run_threshold_in_model_json_is_refused_with_the_file_named(model, tmp_path, value):
    directory = _with_run_threshold(model, tmp_path / "bad", value)
    with pytest.raises(ModelLoadError, match=r"model\.json: run_threshold must be a number between 0 and 1"):
        promofilter.load_model(directory)


def _write_tree(directory, root, **arrays):
    """A model directory whose model.npz holds ``root`` as its tree (no checksum in model.json)."""
    import numpy as np

    tree = json.dumps({"format": "promofilter-npz-1", "root": root}).encode()
    np.savez(directory / "model.npz", __tree__=np.frombuffer(tree, dtype=np.uint8), **arrays)
    meta = json.loads((directory / "model.json").read_text())
    meta.pop("model_sha256", None)
    (directory / "model.json").write_text(json.dumps(meta))


def _model_with_tree(model_dir, tmp_path, root, **arrays):
    """A copy of the fixture model whose model.npz holds ``root`` as its tree."""
    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    _write_tree(bad, root, **arrays)
    return bad


def test_model_file_naming_a_foreign_class_is_refused_before_its_module_is_imported(model_dir, tmp_path,
                                                                                    monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "pf_evil_module.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Evil:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    bad = _model_with_tree(model_dir, tmp_path, {"$object": "pf_evil_module.Evil", "state": {}})
    with pytest.raises(ModelLoadError, match="could run code: pf_evil_module.Evil"):
        promofilter.load_model(bad)
    assert not marker.exists()


def test_model_file_classes_are_rebuilt_only_the_way_a_model_is_built(model_dir, tmp_path):
    import sklearn

    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    # an allowed extension type rebuilt from attributes without its constructor crashed the
    # process (null pointers); a class where a numpy type belongs; not a classifier at all
    for root, message in [
        ({"$object": "numpy.random._pcg64.PCG64", "state": {"state": {"$dict": {"state": 1, "inc": 3}}}},
         "cannot be rebuilt from attributes"),
        ({"$type": "promofilter.model.PromoClassifier"}, "cannot stand as a type"),
        ({"$object": "sklearn.preprocessing._data.StandardScaler", "state": {"_sklearn_version": sklearn.__version__}},
         "not a promofilter classifier"),
        ({"$object": 7, "state": {}}, "not a string"),
    ]:
        _write_tree(bad, root)
        with pytest.raises(ModelLoadError, match=message):
            promofilter.load_model(bad)


def test_model_file_that_would_unpack_too_big_is_refused_before_it_is_read(model_dir, tmp_path, monkeypatch):
    import numpy as np

    from promofilter import modelfile

    monkeypatch.setattr(modelfile, "MAX_UNPACKED_BYTES", 1 << 20)
    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    _write_tree(bad, {"$array": "a0"}, a0=np.zeros(1 << 18))  # 2 MB unpacked
    with pytest.raises(ModelLoadError, match="unpacks to more than 1 MB"):
        promofilter.load_model(bad)


def test_model_whose_trees_point_outside_themselves_is_refused(model, tmp_path):
    import copy

    from promofilter.persist import save_model

    broken = copy.deepcopy(model)
    nodes = broken.estimator().stage2_._predictors[0][0].nodes
    inner = (~nodes["is_leaf"].astype(bool)).nonzero()[0][0]
    nodes["left"][inner] = 0  # a node whose child is the root: scoring would loop forever
    save_model(broken, tmp_path / "broken")
    with pytest.raises(ModelLoadError, match="node outside the tree"):
        promofilter.load_model(tmp_path / "broken")


def test_model_json_cannot_point_at_a_file_outside_the_model_directory(model_dir, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    meta = json.loads((bad / "model.json").read_text())
    meta["model_file"] = "../elsewhere.npz"
    (bad / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="names the model file"):
        promofilter.load_model(bad)


def test_model_file_with_pickled_arrays_is_not_readable(model_dir, tmp_path):
    import numpy as np

    marker = tmp_path / "ran"
    bad = _model_with_tree(model_dir, tmp_path, {"$array": "a0"}, a0=np.array([_Boom(str(marker))], dtype=object))
    with pytest.raises(ModelLoadError, match="not a readable model file"):
        promofilter.load_model(bad)
    assert not marker.exists()


@pytest.mark.parametrize("array", [
    [1.5, -0.0], [[1, 2], [3, 4]], 7, [], [[]], ["ab", "c"], [True, False],
    ("fortran", [[1.0, 2.0], [3.0, 4.0]]), ("records", [(1, 2.5), (3, 4.5)]), ("big-endian", [1, 258]),
])
def test_model_arrays_read_as_numpy_reads_them(array):
    import io

    import numpy as np

    from promofilter.modelfile import _npy_array

    kind, values = array if isinstance(array, tuple) else ("plain", array)
    a = {"plain": lambda: np.asarray(values), "fortran": lambda: np.asfortranarray(values),
         "records": lambda: np.array(values, dtype=[("n", "<i8"), ("x", "<f8")]),
         "big-endian": lambda: np.array(values, dtype=">u4")}[kind]()
    buffer = io.BytesIO()
    np.save(buffer, a)
    read = _npy_array(buffer.getvalue())
    assert read.dtype == a.dtype and read.shape == a.shape and read.tobytes("A") == a.tobytes("A")
    assert read.flags.writeable and read.flags.f_contiguous == a.flags.f_contiguous


def test_every_array_of_a_trained_model_reads_as_numpy_reads_it(model_dir):
    import io
    import zipfile

    import numpy as np

    from promofilter.modelfile import _npy_array

    with zipfile.ZipFile(model_dir / "model.npz") as archive:
        for info in archive.infolist():
            data = archive.read(info)
            ours, numpys = _npy_array(data), np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
            assert ours.dtype == numpys.dtype and ours.shape == numpys.shape and ours.tobytes() == numpys.tobytes()


def test_small_arrays_are_packed_into_a_few_members_and_read_back_exactly(model, model_dir):
    import zipfile

    from promofilter.modelfile import FORMAT

    with zipfile.ZipFile(model_dir / "model.npz") as archive:
        names = [info.filename for info in archive.infolist()]
    # hundreds of tree-node arrays, one member per dtype (opening each cost most of the load time)
    assert len(names) < 30
    assert json.loads((model_dir / "model.json").read_text())["model_format"] == FORMAT
    trees = model.estimator().stage2_._predictors
    assert len(trees) > 20 and all(p[0].nodes.flags.writeable for p in trees)


def test_the_same_model_is_written_as_the_same_bytes(model, monkeypatch):
    import io
    import time
    import zipfile

    from promofilter import modelfile

    first = io.BytesIO()
    modelfile.dump(model.estimator(), first)
    # an hour later, the stop words held at another address: nothing of either is written
    monkeypatch.setattr(time, "time", lambda: 1_900_000_000.0)
    words = model.estimator().words_.steps[1][1]
    monkeypatch.setattr(words, "_stop_words_id", 12345, raising=False)
    second = io.BytesIO()
    modelfile.dump(model.estimator(), second)
    assert first.getvalue() == second.getvalue()
    assert b"_stop_words_id" not in zipfile.ZipFile(second).read("__tree__.npy")
    from promofilter.persist import TRUSTED_TYPES

    assert modelfile.load_state(io.BytesIO(second.getvalue()), allowed=TRUSTED_TYPES) is not None


def test_model_files_of_the_unpacked_format_still_load(model, tmp_path, monkeypatch):
    import zipfile

    from promofilter import modelfile
    from promofilter.persist import save_model

    with monkeypatch.context() as m:  # written as promofilter-npz-1 wrote it: every array a member
        m.setattr(modelfile, "PACK_MAX_BYTES", -1)
        m.setattr(modelfile, "FORMAT", "promofilter-npz-1")
        save_model(model, tmp_path / "old")
    with zipfile.ZipFile(tmp_path / "old" / "model.npz") as archive:
        assert len(archive.infolist()) > 100
    again = promofilter.load_model(tmp_path / "old")
    text = ARTICLE + "Subscribe to our newsletter for more stories like this one!\n"
    assert [(s.start, s.end, s.score) for s in again.detect(text)] == [(s.start, s.end, s.score) for s in model.detect(text)]


@pytest.mark.parametrize("entry", [
    {"$packed": "p0", "offset": 3, "shape": [4]},  # past the end of its pack
    {"$packed": "p0", "offset": -1, "shape": [2]},
    {"$packed": "p0", "offset": 0, "shape": [2**32, 2**32]},  # a count that would wrap around
    {"$packed": "p0", "offset": 0, "shape": [2**70]},
    {"$packed": "p0", "offset": 0, "shape": [-1]},
    {"$packed": "p0", "offset": 0, "shape": [1] * 70},
    {"$packed": "p0", "offset": "0", "shape": [1]},
    {"$packed": "p0", "offset": 0, "shape": {"a": 1}},
    {"$packed": "p9", "offset": 0, "shape": [1]},  # no such pack
    {"$packed": "p1", "offset": 0, "shape": [1]},  # a pack of two dimensions
])
def test_a_malformed_packed_array_gets_a_message_not_a_traceback(model_dir, tmp_path, entry):
    import numpy as np

    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    _write_tree(bad, {"$object": "promofilter.model.PromoClassifier", "state": {"x": entry}},
                p0=np.zeros(5), p1=np.zeros((2, 2)))
    with pytest.raises(ModelLoadError, match="not a readable model file"):
        promofilter.load_model(bad)


def test_many_references_to_one_packed_range_cost_no_memory(model_dir, tmp_path):
    import numpy as np

    from promofilter import modelfile

    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    entry = {"$packed": "p0", "offset": 0, "shape": [1 << 21]}  # 16 MB, referenced 40 times
    _write_tree(bad, {"$tuple": [entry] * 40}, p0=np.zeros(1 << 21))
    arrays = modelfile.load(bad / "model.npz")
    # views of the one pack, not 40 copies of 16 MB
    assert len(arrays) == 40 and all(np.shares_memory(a, arrays[0]) for a in arrays)


def _averaged_tree(model_dir, members):
    """A model tree of an averaged model around the fixture model's tree."""
    import numpy as np

    with np.load(model_dir / "model.npz") as archive:
        arrays = {k: archive[k] for k in archive.files}
    tree = json.loads(arrays.pop("__tree__").tobytes())
    root = {"$object": "promofilter.model.AveragedClassifier",
            "state": {"estimator": None, "members_": members(tree["root"]), "uses_repetition_": False,
                      "classes_": None}}
    return root, arrays


@pytest.mark.parametrize("members", [
    lambda m: {"$tuple": [m]},  # not a list: its trees would go unchecked
    lambda m: [],
    lambda m: [m, {"$object": "promofilter.features.TextMasker",
                   "state": {"_sklearn_version": __import__("sklearn").__version__}}],
])
def test_an_averaged_model_is_made_of_a_list_of_promofilter_classifiers(model_dir, tmp_path, members):
    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    root, arrays = _averaged_tree(model_dir, members)
    _write_tree(bad, root, **arrays)
    with pytest.raises(ModelLoadError, match="members are not a list|not a promofilter classifier"):
        promofilter.load_model(bad).strip(ARTICLE)


def test_every_member_of_an_averaged_model_has_its_trees_checked(model, model_dir, tmp_path):
    import copy

    from promofilter.model import AveragedClassifier
    from promofilter.persist import save_model
    from promofilter.stripping import PromoFilter

    good, broken = model.estimator(), copy.deepcopy(model.estimator())
    nodes = broken.stage2_._predictors[0][0].nodes
    nodes["left"][(~nodes["is_leaf"].astype(bool)).nonzero()[0][0]] = 10**6  # outside the tree
    averaged = AveragedClassifier()
    averaged.members_, averaged.uses_repetition_, averaged.classes_ = [good, broken], good.uses_repetition_, good.classes_
    save_model(PromoFilter(averaged, model.threshold, {}), tmp_path / "averaged")
    with pytest.raises(ModelLoadError, match="node outside the tree"):
        promofilter.load_model(tmp_path / "averaged")


def test_a_file_that_is_not_an_archive_gets_a_message_that_does_not_suggest_pickle(model_dir, tmp_path):
    bad = _model_with_tree(model_dir, tmp_path, {})
    (bad / "model.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ModelLoadError, match="not a zip file") as error:
        promofilter.load_model(bad)
    assert "pickle" not in str(error.value)


def test_models_of_the_skops_format_still_load(model, model_dir, tmp_path):
    import skops.io as sio

    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    (old / "model.npz").unlink()
    (old / "model.skops").write_bytes(sio.dumps(model.estimator()))
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
    old.estimator().uses_repetition_ = True
    del old.estimator().batch_stage2_  # what such models lack
    save_model(old, tmp_path / "old")
    with pytest.raises(ModelLoadError, match="older design"):
        promofilter.load_model(tmp_path / "old")


def test_the_installed_scikit_learn_version_is_read_without_importing_it():
    import importlib.metadata

    from promofilter.persist import _sklearn_version

    assert _sklearn_version() == importlib.metadata.version("scikit-learn")
