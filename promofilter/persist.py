"""Model files: save a trained filter as a directory, and load one without running its code.

A model directory holds ``model.npz`` (the estimator, see ``promofilter.modelfile``: arrays and
a JSON tree of class names and attributes, nothing executable) and ``model.json`` (threshold,
versions, sha256 of the model file, training metadata). Loading checks the checksum and refuses
any class in the file that is not on the explicit allowlist below, before importing anything, so
a crafted file cannot run code. Models written by earlier versions (``model.skops``, skops' safe
format) still load, with the same allowlist. Pickle/joblib files load only with ``trusted=True``.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path

from .results import is_probability
from .stripping import PromoFilter
from .textio import atomic_write

__all__ = ["save_model", "load_model_file", "ModelLoadError", "TRUSTED_TYPES", "MODEL_FILE", "META_FILE"]

MODEL_FILE = "model.npz"
SKOPS_FILE = "model.skops"  # the model file of promofilter 0.1 (skops), still loaded
META_FILE = "model.json"

# Every type a promofilter model is built from. Anything else in a file is refused.
TRUSTED_TYPES = [
    "promofilter.model.PromoClassifier",
    "promofilter.model.AveragedClassifier",
    "promofilter.features.TextMasker",
    "promofilter.features.ShapeFeatures",
    "sklearn.pipeline.Pipeline",
    "sklearn.feature_extraction.text.HashingVectorizer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.preprocessing._label.LabelEncoder",
    "numpy.random._pcg64.PCG64",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "builtins.slice",
    "numpy.float64",
    "numpy.int64",
]


class ModelLoadError(RuntimeError):
    """A model file that is missing, corrupt, tampered with, untrusted or incompatible."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(model: PromoFilter, directory: str | os.PathLike) -> Path:
    """Write ``model`` to ``directory`` (created if needed) as model.npz + model.json."""
    import io

    import sklearn

    from . import modelfile

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MODEL_FILE
    buffer = io.BytesIO()
    modelfile.dump(model.estimator(), buffer)
    atomic_write(path, buffer.getvalue())
    from . import __version__

    meta = dict(model.metadata)
    meta.pop("skops_version", None)
    meta.pop("run_threshold", None)
    if model.run_threshold is not None:
        meta["run_threshold"] = model.run_threshold
    meta.update(
        threshold=model.threshold,
        model_file=MODEL_FILE,
        model_format=modelfile.FORMAT,
        model_sha256=_sha256(path),
        promofilter_version=__version__,
        sklearn_version=sklearn.__version__,
    )
    atomic_write(directory / META_FILE, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())
    if (directory / SKOPS_FILE).exists():  # a model of the old format rewritten in place
        (directory / SKOPS_FILE).unlink()
    return directory


def _load_trusted_pickle(path: Path):
    import joblib

    return joblib.load(path)


def load_model_file(path: str | os.PathLike, trusted: bool = False) -> PromoFilter:
    """Load a model directory (or its model file / model.json), or a trusted pickle."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"model not found: {path}")
    if path.suffix in {".pkl", ".pickle", ".joblib"}:
        if not trusted:
            raise ModelLoadError(
                f"{path} is a pickle file, which can run arbitrary code when loaded; "
                "pass --trust-model (trusted=True) only if you made it or trust its source"
            )
        obj = _load_trusted_pickle(path)
        if isinstance(obj, PromoFilter):
            return obj
        return PromoFilter(classifier=obj, threshold=0.5, metadata={"source": str(path)})
    directory = path if path.is_dir() else path.parent
    meta_path = directory / META_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{directory} has no {META_FILE}: not a promofilter model directory") from None
    except (OSError, ValueError) as e:
        raise ModelLoadError(f"{meta_path} is unreadable or not JSON: {e}") from None
    if meta.get("model_file", MODEL_FILE) not in (MODEL_FILE, SKOPS_FILE):
        raise ModelLoadError(f"{meta_path} names the model file {meta.get('model_file')!r}: "
                             f"only {MODEL_FILE} (or {SKOPS_FILE}) beside it")
    model_path = directory / meta.get("model_file", MODEL_FILE)
    if not model_path.is_file():
        raise ModelLoadError(f"model file missing: {model_path}")
    expected = meta.get("model_sha256")
    if expected and _sha256(model_path) != expected:
        raise ModelLoadError(
            f"{model_path} does not match the sha256 in {META_FILE}: the file is corrupt, truncated "
            "or was modified; rebuild or re-download the model"
        )
    installed = _sklearn_version()
    trained_with = meta.get("sklearn_version")
    if trained_with and trained_with.split(".")[:2] != installed.split(".")[:2]:
        raise ModelLoadError(
            f"{model_path} was trained with scikit-learn {trained_with}, but {installed} "
            "is installed; install the matching version or retrain the model (promofilter train --base)"
        )
    threshold = float(meta.get("threshold", 0.5))
    run_threshold = meta.get("run_threshold")
    if run_threshold is not None and not is_probability(run_threshold):
        raise ModelLoadError(f"{meta_path}: run_threshold must be a number between 0 and 1, got {run_threshold!r}")
    run_threshold = None if run_threshold is None else float(run_threshold)
    if model_path.suffix == ".npz" and not trusted:
        # scored with NumPy alone: scikit-learn is imported only if the estimator itself is wanted
        compiled = _compiled(model_path)
        if compiled is not None:
            return PromoFilter(classifier=compiled, threshold=threshold, metadata=meta, run_threshold=run_threshold)
    return PromoFilter(classifier=_load_estimator(model_path, trusted), threshold=threshold, metadata=meta,
                       run_threshold=run_threshold)


def _sklearn_version() -> str:
    """The installed scikit-learn's version, without importing it: from its ``.dist-info``, or
    else from importlib.metadata (about 20 ms to import)."""
    found = _dist_info_version("scikit_learn")
    if found is not None:
        return found
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scikit-learn")
    except PackageNotFoundError:  # pragma: no cover - scikit-learn is a dependency
        return "none"


def _dist_info_version(project: str) -> str | None:
    """The version in the METADATA of the first ``{project}-*.dist-info`` on ``sys.path``, looked
    up as importlib.metadata looks; None where it finds none, finds an ``.egg-info`` of the project
    first (importlib.metadata reads those), or cannot read it."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.split("-", 1)[0].lower().replace(".", "_") != project:
                continue
            if not name.endswith(".dist-info"):
                return None
            try:
                with open(os.path.join(entry or ".", name, "METADATA"), encoding="utf-8") as f:
                    for line in f:
                        if line[:8].lower() == "version:":  # (headers ignore case)
                            return line.split(":", 1)[1].strip()
                        if not line.strip():
                            break  # the end of the headers
            except OSError:
                pass
    return None


def _compiled(model_path: Path):
    """The model in ``model_path`` compiled for scoring without scikit-learn (``promofilter.scoring``),
    or None where that module cannot score it exactly (the estimator is loaded instead)."""
    from . import modelfile
    from .scoring import Unsupported, compile_classifier

    try:
        state = modelfile.load_state(model_path, allowed=TRUSTED_TYPES)
    except modelfile.ForeignClassError as e:
        _refuse_foreign(model_path, set(e.names), False)
        raise
    except modelfile.FormatError as e:
        raise ModelLoadError(f"{model_path} is not a readable model file: {e}") from None
    _refuse_old_design(model_path, state)
    try:
        # a partial, not a lambda: a loaded model pickles (Dask, joblib)
        compiled = compile_classifier(state, source=functools.partial(_load_estimator, model_path, False))
    except (Unsupported, AttributeError, TypeError, ValueError, IndexError, KeyError):
        return None  # the estimator's own checks name what is wrong, if anything is
    from .resources import release_freed_memory

    release_freed_memory()  # unpacking the archive took several times what the model keeps
    return compiled


def _members(model_path: Path, classifier) -> list:
    """The PromoClassifiers of a classifier: itself, or an averaged model's members (a list)."""
    from .scoring import _class_name

    if _class_name(classifier) != "promofilter.model.AveragedClassifier":
        return [classifier]
    members = getattr(classifier, "members_", None)
    if type(members) is not list or not members:
        raise ModelLoadError(f"{model_path} holds an averaged model whose members are not a list of models")
    return members


def _refuse_old_design(model_path: Path, classifier) -> None:
    if any(getattr(c, "uses_repetition_", False) and getattr(c, "batch_stage2_", None) is None
           for c in _members(model_path, classifier)):
        # batch-aware models of promofilter before the batch head: one stage 2 read repetition
        # columns for every segment; today's code cannot score them
        raise ModelLoadError(f"{model_path} is a batch-aware model of an older design (before the batch head); "
                             "retrain it (promofilter train --base)")


def _load_estimator(model_path: Path, trusted: bool):
    """The scikit-learn estimator in ``model_path``, checked as a promofilter classifier."""
    import warnings

    import sklearn

    read = _read_skops if model_path.suffix == ".skops" else _read_npz
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", category=sklearn.exceptions.InconsistentVersionWarning)
            classifier = read(model_path, trusted)
    except ModelLoadError:
        raise
    except Exception as e:
        raise ModelLoadError(f"could not load {model_path}: {type(e).__name__}: {e}") from None
    from .model import AveragedClassifier, PromoClassifier

    if not trusted:
        if not (isinstance(classifier, PromoClassifier) or (isinstance(classifier, AveragedClassifier) and all(
                type(m) is PromoClassifier for m in _members(model_path, classifier)))):
            raise ModelLoadError(f"{model_path} holds a {type(classifier).__name__}, not a promofilter classifier")
        for member in _members(model_path, classifier):
            _check_trees(model_path, member)
    _refuse_old_design(model_path, classifier)
    from .resources import release_freed_memory

    release_freed_memory()  # unpacking the archive took several times what the model keeps
    return classifier


def _refuse_foreign(model_path: Path, names: set[str], trusted: bool) -> None:
    refused = sorted(names - set(TRUSTED_TYPES))
    if refused and not trusted:
        raise ModelLoadError(
            f"{model_path} contains types that are not part of a promofilter model and could run "
            f"code: {', '.join(refused)}; pass --trust-model (trusted=True) only if you trust its source"
        )


def _read_npz(model_path: Path, trusted: bool):
    from . import modelfile

    try:
        return modelfile.load(model_path, allowed=TRUSTED_TYPES, trusted=trusted)
    except modelfile.ForeignClassError as e:
        _refuse_foreign(model_path, set(e.names), trusted)
        raise
    except modelfile.FormatError as e:
        raise ModelLoadError(f"{model_path} is not a readable model file: {e}") from None


def _read_skops(model_path: Path, trusted: bool):
    import skops.io as sio

    try:
        untrusted = sio.get_untrusted_types(file=model_path)
    except Exception as e:  # skops raises several types for damaged archives
        raise ModelLoadError(f"{model_path} is not a readable skops model file: {e}") from None
    _refuse_foreign(model_path, set(untrusted), trusted)
    return sio.load(model_path, trusted=sorted(set(untrusted)))


def _check_trees(model_path: Path, classifier) -> None:
    """The gradient-boosted trees' nodes, as compiled code walks them (see
    ``promofilter.scoring.tree_problem``): a crafted file could otherwise make scoring read out
    of bounds or loop forever (true of skops files too)."""
    from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE

    from .scoring import tree_problem

    for name in ("stage2_", "batch_stage2_"):
        booster = getattr(classifier, name, None)
        if booster is None:
            continue
        n_features = getattr(booster, "n_features_in_", 0)
        for predictor in (p for per_iteration in getattr(booster, "_predictors", []) for p in per_iteration):
            nodes = getattr(predictor, "nodes", None)
            # scikit-learn's compiled walk reads the exact record layout
            problem = ("malformed nodes" if getattr(nodes, "dtype", None) != PREDICTOR_RECORD_DTYPE
                       else tree_problem(nodes, n_features))
            if problem is not None:
                raise ModelLoadError(f"{model_path}: a tree of {name} has {problem}")
