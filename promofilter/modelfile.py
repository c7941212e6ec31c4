"""A model file format that loads without running code and without importing all of scikit-learn.

A fitted estimator is written as one ``.npz`` archive: every NumPy array of its object tree is
a member of its own, and the tree itself (class names, parameters and fitted attributes, with
references to those members) is JSON in the member ``__tree__``. Loading reads the arrays with
``allow_pickle=False`` and rebuilds only classes named in an allowlist: a name outside it is
refused before any module is imported, and nothing in the file is ever executed.

skops does the same job in general, but its type checks import every scikit-learn estimator
(half a second and 40 MB at start-up); a promofilter model needs a dozen classes.

>>> import io
>>> from sklearn.preprocessing import StandardScaler
>>> buffer = io.BytesIO()
>>> dump(StandardScaler().fit([[0.0], [2.0]]), buffer)
>>> load(io.BytesIO(buffer.getvalue()), allowed=["sklearn.preprocessing._data.StandardScaler"]).mean_
array([1.])
"""
from __future__ import annotations

import importlib
import io
import json
import zipfile
from collections.abc import Iterable
from typing import IO, Any

import numpy as np

__all__ = ["dump", "load", "FormatError", "ForeignClassError", "class_names", "FORMAT"]

FORMAT = "promofilter-npz-1"
_TREE = "__tree__"
# objects rebuilt by calling the class with no arguments (extension types with no state)
_CALLED = "call"


class FormatError(ValueError):
    """A file that is not a readable model archive, or that names a class not allowed."""


class ForeignClassError(FormatError):
    """The file names classes outside the allowlist (``names``)."""

    def __init__(self, names: list[str]):
        super().__init__(f"the file names classes that are not allowed: {', '.join(names)}")
        self.names = names


def _name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class _Writer:
    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, np.generic):  # before int/float: np.float64 is a float
            return {"$scalar": value.dtype.str, "value": value.item()}
        if isinstance(value, (int, float)):
            return value
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                items = value.ravel().tolist()
                if not all(x is None or isinstance(x, (bool, int, float, str)) for x in items):
                    raise FormatError("an object array holds something other than numbers and strings")
                return {"$objects": items, "shape": list(value.shape)}
            key = f"a{len(self.arrays)}"
            self.arrays[key] = value
            return {"$array": key}
        if isinstance(value, list):
            return [self.encode(x) for x in value]
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(x) for x in value]}
        if isinstance(value, dict):
            if not all(isinstance(k, str) for k in value):
                raise FormatError("a dict with keys other than strings")
            return {"$dict": {k: self.encode(x) for k, x in value.items()}}
        if isinstance(value, slice):
            return {"$slice": [self.encode(value.start), self.encode(value.stop), self.encode(value.step)]}
        if isinstance(value, type):
            return {"$type": _name(value)}
        if isinstance(value, np.random.Generator):
            return {"$generator": _name(type(value.bit_generator)), "state": self.encode(value.bit_generator.state)}
        return self.encode_object(value)

    def encode_object(self, obj: Any) -> dict:
        cls = type(obj)
        reduced = obj.__reduce_ex__(4)
        if isinstance(reduced, tuple) and len(reduced) == 2 and reduced[0] is cls and reduced[1] == ():
            return {"$object": _name(cls), "new": _CALLED}
        state = obj.__getstate__()
        if state is None:
            state = {}
        if not isinstance(state, dict):
            raise FormatError(f"cannot write a {_name(cls)}: its state is not a dict of attributes")
        return {"$object": _name(cls), "state": self.encode(state)["$dict"]}


def dump(obj: Any, file: str | IO[bytes]) -> None:
    """Write ``obj`` (an estimator built of plain attributes, arrays and other such objects)."""
    writer = _Writer()
    tree = json.dumps({"format": FORMAT, "root": writer.encode(obj)}, separators=(",", ":"))
    np.savez_compressed(file, **writer.arrays, **{_TREE: np.frombuffer(tree.encode("utf-8"), dtype=np.uint8)})


class _Reader:
    def __init__(self, arrays, allowed: set[str]):
        self.arrays, self.allowed = arrays, allowed

    def resolve(self, name: str) -> Any:
        if name not in self.allowed:
            raise FormatError(f"the file names {name}, which is not part of a promofilter model")
        module, _, qualname = name.rpartition(".")
        return getattr(importlib.import_module(module), qualname)

    def decode(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.decode(x) for x in value]
        if not isinstance(value, dict):
            return value
        if "$array" in value:
            return self.arrays[value["$array"]]
        if "$scalar" in value:
            dtype = np.dtype(value["$scalar"])
            if dtype.kind not in "biuf":
                raise FormatError(f"a scalar of type {dtype} in the model tree")
            return dtype.type(value["value"])
        if "$objects" in value:
            out = np.empty(len(value["$objects"]), dtype=object)
            out[:] = value["$objects"]
            return out.reshape(value["shape"])
        if "$tuple" in value:
            return tuple(self.decode(x) for x in value["$tuple"])
        if "$dict" in value:
            return {k: self.decode(x) for k, x in value["$dict"].items()}
        if "$slice" in value:
            return slice(*(self.decode(x) for x in value["$slice"]))
        if "$type" in value:
            return self.resolve(value["$type"])
        if "$generator" in value:
            bit_generator = self.resolve(value["$generator"])()
            bit_generator.state = self.decode(value["state"])
            return np.random.Generator(bit_generator)
        if "$object" in value:
            cls = self.resolve(value["$object"])
            if value.get("new") == _CALLED:
                return cls()
            obj = cls.__new__(cls)
            state = {k: self.decode(x) for k, x in value["state"].items()}
            if hasattr(obj, "__setstate__"):
                obj.__setstate__(state)
            else:
                obj.__dict__.update(state)
            return obj
        raise FormatError(f"unknown entry in the model tree: {sorted(value)}")


def _open(file: str | IO[bytes]) -> tuple[dict, Any]:
    try:
        archive = np.load(file, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise FormatError("not a promofilter model archive (a single array, not an archive)")
        with archive:  # closes the file: it may be replaced or removed next (Windows locks it)
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise FormatError(f"not a readable model archive: {e}") from None
    if _TREE not in arrays:
        raise FormatError("not a promofilter model archive (no model tree)")
    try:
        tree = json.loads(arrays.pop(_TREE).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FormatError(f"the model tree is not JSON: {e}") from None
    if not isinstance(tree, dict) or tree.get("format") != FORMAT:
        raise FormatError(f"not a {FORMAT} archive")
    return tree, arrays


def _class_names(tree: dict) -> set[str]:
    names: set[str] = set()

    def walk(value):
        if isinstance(value, list):
            for x in value:
                walk(x)
        elif isinstance(value, dict):
            for key in ("$object", "$type", "$generator"):
                if key in value:
                    names.add(value[key])
            for x in value.values():
                walk(x)

    walk(tree["root"])
    return names


def class_names(file: str | IO[bytes]) -> set[str]:
    """Every class and type a file names (nothing is imported or built)."""
    return _class_names(_open(file)[0])


def load(file: str | IO[bytes], allowed: Iterable[str] | None) -> Any:
    """Rebuild the object in ``file``. A class or type not in ``allowed`` is refused
    (``ForeignClassError``, naming them all) before anything is imported; None allows any."""
    if isinstance(file, (bytes, bytearray)):
        file = io.BytesIO(file)
    tree, arrays = _open(file)
    names = _class_names(tree)
    allowed = names if allowed is None else set(allowed)
    if names - allowed:
        raise ForeignClassError(sorted(names - allowed))
    return _Reader(arrays, allowed).decode(tree["root"])
