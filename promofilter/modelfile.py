"""A model file format that loads without running code and without importing all of scikit-learn.

A fitted estimator is written as one ``.npz`` archive: every large NumPy array of its object tree
is a member of its own, small ones are packed end to end in one member per dtype, and the tree itself (class names, parameters and fitted attributes, with
references to those members) is JSON in the member ``__tree__``. Loading reads the arrays with
``allow_pickle=False`` and rebuilds only classes named in an allowlist: a name outside it is
refused before any module is imported. Nothing in the file is code; what runs is the allowed
classes' own ``__setstate__`` on the state read from it (plain attributes and arrays).

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

import copyreg
import importlib
import io
import json
import math
import os
import re
import zipfile
from collections.abc import Iterable
from typing import IO, Any

import numpy as np

__all__ = ["dump", "load", "load_state", "ObjectState", "FormatError", "ForeignClassError", "FORMAT"]

FORMAT = "promofilter-npz-2"
# what this module reads: npz-2 packs small arrays together (npz-1 files, one member per array,
# still load)
_READABLE_FORMATS = ("promofilter-npz-1", FORMAT)
_TREE = "__tree__"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # zip's earliest date, for every member
# attributes that hold an object's id() (scikit-learn's vectorizers keep the stop words' one)
_PROCESS_LOCAL = frozenset({"_stop_words_id"})
# Arrays up to this size are written packed, end to end in one member per dtype, not one member
# each: a model's ~1,600 tree-node arrays cost more to open one by one than to read (the shipped
# model loaded in 0.21 s, a three-member one in 0.45 s).
PACK_MAX_BYTES = 1 << 16
# objects rebuilt by calling the class with no arguments (extension types with no state)
_CALLED = "call"
# what an archive may unpack to: a bomb of a small file is refused before anything is read (a
# promofilter model unpacks to ~20 MB, its tree to ~0.1 MB)
MAX_UNPACKED_BYTES = 1 << 28
MAX_TREE_BYTES = 1 << 24
_MEMBER = re.compile(r"(?:__tree__|[ap]\d+)\.npy")
# the only bit generator a file may name (fitted estimators keep a numpy Generator)
_BIT_GENERATOR = "numpy.random._pcg64.PCG64"


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
        self.packs: dict[str, list[np.ndarray]] = {}  # dtype descr -> small arrays, in order
        self.pack_keys: dict[str, str] = {}
        self.pack_sizes: dict[str, int] = {}

    def pack(self, value: np.ndarray) -> dict:
        descr = repr(np.lib.format.dtype_to_descr(value.dtype))
        key = self.pack_keys.setdefault(descr, f"p{len(self.pack_keys)}")
        offset = self.pack_sizes.get(key, 0)
        self.packs.setdefault(key, []).append(value.ravel())
        self.pack_sizes[key] = offset + value.size
        return {"$packed": key, "offset": offset, "shape": list(value.shape)}

    def packed_arrays(self) -> dict[str, np.ndarray]:
        return {key: np.concatenate(parts) for key, parts in self.packs.items()}

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
            if value.nbytes <= PACK_MAX_BYTES and value.flags.c_contiguous:
                return self.pack(value)
            key = f"a{len(self.arrays)}"
            self.arrays[key] = value
            return {"$array": key}
        # exact types: a subclass (namedtuple, OrderedDict) would come back as its base
        if type(value) is list:
            return [self.encode(x) for x in value]
        if type(value) is tuple:
            return {"$tuple": [self.encode(x) for x in value]}
        if type(value) is dict:
            if not all(isinstance(k, str) for k in value):
                raise FormatError("a dict with keys other than strings")
            return {"$dict": {k: self.encode(x) for k, x in value.items()}}
        if type(value) is slice:
            return {"$slice": [self.encode(value.start), self.encode(value.stop), self.encode(value.step)]}
        if isinstance(value, type) and issubclass(value, np.generic):
            return {"$type": _name(value)}
        if type(value) is np.random.Generator and _name(type(value.bit_generator)) == _BIT_GENERATOR:
            return {"$generator": _BIT_GENERATOR, "state": self.encode(value.bit_generator.state)}
        return self.encode_object(value)

    def encode_object(self, obj: Any) -> dict:
        cls = type(obj)
        reduced = obj.__reduce_ex__(4)
        if isinstance(reduced, tuple) and len(reduced) == 2 and reduced[0] is cls and reduced[1] == ():
            return {"$object": _name(cls), "new": _CALLED}
        # only what plain attribute state rebuilds: copyreg's default reduction of a Python class
        if not (isinstance(reduced, tuple) and reduced[0] is copyreg.__newobj__ and reduced[1] == (cls,)
                and all(x is None for x in reduced[3:]) and cls.__new__ is object.__new__):
            raise FormatError(f"cannot write a {_name(cls)}: it is not rebuilt from its attributes alone")
        state = obj.__getstate__()
        if state is None:
            state = {}
        if type(state) is not dict:
            raise FormatError(f"cannot write a {_name(cls)}: its state is not a dict of attributes")
        # an object's id() means nothing in another process (and made equal models differ)
        state = {k: v for k, v in state.items() if k not in _PROCESS_LOCAL}
        return {"$object": _name(cls), "state": self.encode(state)["$dict"]}


def dump(obj: Any, file: str | IO[bytes]) -> None:
    """Write ``obj`` (an estimator built of plain attributes, arrays and other such objects).

    The same object gives the same bytes: members in a fixed order with a fixed date (what
    ``numpy.savez_compressed`` writes, without the time of writing)."""
    writer = _Writer()
    tree = json.dumps({"format": FORMAT, "root": writer.encode(obj)}, separators=(",", ":"))
    members = {**writer.arrays, **writer.packed_arrays(), _TREE: np.frombuffer(tree.encode("utf-8"), dtype=np.uint8)}
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for name, array in members.items():
            info = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)


class _Reader:
    def __init__(self, arrays, allowed: set[str]):
        self.arrays, self.allowed = arrays, allowed

    def resolve(self, name: str) -> Any:
        if name not in self.allowed:
            raise FormatError(f"the file names {name}, which is not part of a promofilter model")
        module, _, qualname = name.rpartition(".")
        return getattr(importlib.import_module(module), qualname)

    def packed(self, value: dict) -> np.ndarray:
        """A view of its pack: many references to one range cost no memory (a copy each could
        make a small file allocate without bound)."""
        pack, offset, shape = self.arrays[value["$packed"]], value["offset"], value["shape"]
        if not (type(offset) is int and type(shape) is list and len(shape) <= 32
                and all(type(n) is int and n >= 0 for n in shape)):
            raise FormatError("a packed array with a malformed offset or shape")
        count = math.prod(shape)
        if not (pack.ndim == 1 and 0 <= offset and offset + count <= len(pack)):
            raise FormatError("a packed array outside its pack")
        return pack[offset:offset + count].reshape(shape)

    def decode(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.decode(x) for x in value]
        if not isinstance(value, dict):
            return value
        if "$array" in value:
            return self.arrays[value["$array"]]
        if "$packed" in value:
            return self.packed(value)
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
            cls = self.resolve(value["$type"])
            if not (isinstance(cls, type) and issubclass(cls, np.generic)):
                raise FormatError(f"{value['$type']} cannot stand as a type in a model tree")
            return cls
        if "$generator" in value:
            if value["$generator"] != _BIT_GENERATOR:
                raise FormatError(f"{value['$generator']} is not a bit generator a model may hold")
            bit_generator = self.resolve(value["$generator"])()
            bit_generator.state = self.decode(value["state"])
            return np.random.Generator(bit_generator)
        if "$object" in value:
            cls = self.resolve(value["$object"])
            if not isinstance(cls, type):
                raise FormatError(f"{value['$object']} is not a class")
            if value.get("new") == _CALLED:
                return cls()
            if cls.__new__ is not object.__new__:
                # an extension type built without its constructor may hold null pointers
                raise FormatError(f"{value['$object']} cannot be rebuilt from attributes")
            obj = cls.__new__(cls)
            state = {k: self.decode(x) for k, x in value["state"].items()}
            if hasattr(obj, "__setstate__"):
                obj.__setstate__(state)
            else:
                obj.__dict__.update(state)
            return obj
        raise FormatError(f"unknown entry in the model tree: {sorted(value)}")


class ObjectState:
    """An object of the tree as data: its class name (``class_name``) and its attributes, read
    as attributes. What ``load_state`` gives instead of the object itself."""

    def __init__(self, class_name: str, state: dict):
        self.class_name = class_name
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return f"ObjectState({self.class_name})"


class _StateReader(_Reader):
    """Decodes objects as ``ObjectState``: nothing is imported, nothing of a class runs."""

    def resolve(self, name: str) -> Any:
        raise AssertionError("a state reader imports nothing")

    def decode(self, value: Any) -> Any:
        if isinstance(value, dict) and "$object" in value:
            name = value["$object"]
            state = {} if value.get("new") == _CALLED else {k: self.decode(x) for k, x in value["state"].items()}
            if "class_name" in state:
                raise FormatError(f"{name} has an attribute named class_name")
            return ObjectState(name, state)
        if isinstance(value, dict) and "$type" in value:
            return value["$type"]
        if isinstance(value, dict) and "$generator" in value:
            return None  # random state: scoring never draws
        return super().decode(value)


def _check_members(file: str | IO[bytes]) -> None:
    """Refuse what is not an archive of arrays, before numpy reads it (numpy's message for a
    file that is not one suggests loading it with pickle), and archives that unpack too big."""
    if not zipfile.is_zipfile(file):
        raise FormatError("not a model archive (not a zip file)")
    if not isinstance(file, (str, bytes, os.PathLike)):
        file.seek(0)
    with zipfile.ZipFile(file) as archive:
        members = archive.infolist()
    strange = [m.filename for m in members if not _MEMBER.fullmatch(m.filename)]
    if strange:
        raise FormatError(f"unexpected members in the archive: {', '.join(strange[:5])}")
    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise FormatError(f"the archive unpacks to more than {MAX_UNPACKED_BYTES >> 20} MB")
    if any(m.filename == _TREE + ".npy" and m.file_size > MAX_TREE_BYTES for m in members):
        raise FormatError(f"the model tree is larger than {MAX_TREE_BYTES >> 20} MB")
    if not isinstance(file, (str, bytes, os.PathLike)):
        file.seek(0)


# The header of an .npy member holding a plain array or a record array of plain fields, as
# numpy.save writes it: read with this pattern, it needs no Python parser (numpy.load parses
# each header with ast.literal_eval: a third of the shipped model's load time, 1,656 members).
# Any other header is left to numpy.lib.format.
_PLAIN_TYPE = r"'[<>|=][a-zA-Z]\d{1,2}'"
_NPY_HEADER = re.compile(
    rf"\{{'descr': (?P<descr>{_PLAIN_TYPE}|\[(?:\('[A-Za-z_]\w*', {_PLAIN_TYPE}\)(?:, )?)+\]), "
    r"'fortran_order': (?P<fortran>False|True), 'shape': \((?P<shape>(?:\d+, ?)*\d*)\), \}\s*\Z")
_FIELD = re.compile(r"\('([A-Za-z_]\w*)', '([<>|=][a-zA-Z]\d{1,2})'\)")


def _npy_array(data: bytes) -> np.ndarray:
    """An .npy file's array from its bytes (never an object array)."""
    if data[:6] == b"\x93NUMPY" and data[6] in (1, 2, 3) and len(data) >= 12:
        size, start = (int.from_bytes(data[8:10], "little"), 10) if data[6] == 1 else (int.from_bytes(data[8:12], "little"), 12)
        found = _NPY_HEADER.match(data[start:start + size].decode("latin-1"))
        if found:
            descr = found["descr"]
            dtype = np.dtype(descr[1:-1] if descr[0] == "'" else _FIELD.findall(descr))
            if not dtype.hasobject:
                shape = tuple(int(x) for x in found["shape"].replace(" ", "").split(",") if x)
                count = int(np.prod(shape, dtype=np.int64)) if shape else 1
                flat = np.frombuffer(data, dtype=dtype, count=count, offset=start + size).copy()
                return flat.reshape(shape, order="F" if found["fortran"] == "True" else "C")
    return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)


def _open(file: str | IO[bytes]) -> tuple[dict, Any]:
    _check_members(file)
    try:
        # members were checked: names ending in .npy, within the size limits
        with zipfile.ZipFile(file) as archive:  # closes the file: it may be replaced or removed next
            arrays = {info.filename[:-4]: _npy_array(archive.read(info)) for info in archive.infolist()}
    except FormatError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise FormatError(f"not a readable model archive: {e}") from None
    if _TREE not in arrays:
        raise FormatError("not a promofilter model archive (no model tree)")
    try:
        tree = json.loads(arrays.pop(_TREE).tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise FormatError(f"the model tree is not JSON: {e}") from None
    if not isinstance(tree, dict) or tree.get("format") not in _READABLE_FORMATS or "root" not in tree:
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
    if not all(isinstance(n, str) for n in names):
        raise FormatError("a class name in the model tree is not a string")
    return names


def _read(file: str | IO[bytes], allowed: Iterable[str], trusted: bool, reader: type[_Reader]) -> Any:
    if isinstance(allowed, str):
        raise TypeError("allowed is a collection of class names, not one string")
    if isinstance(file, (bytes, bytearray)):
        file = io.BytesIO(file)
    tree, arrays = _open(file)
    try:
        names = _class_names(tree)
        allowed = names if trusted else set(allowed)
        if names - allowed:
            raise ForeignClassError(sorted(names - allowed))
        return reader(arrays, allowed).decode(tree["root"])
    except FormatError:
        raise
    except (KeyError, TypeError, AttributeError, IndexError, RecursionError, ValueError, OverflowError,
            MemoryError) as e:
        raise FormatError(f"malformed model tree ({type(e).__name__}: {e})") from None


def load_state(file: str | IO[bytes], *, allowed: Iterable[str]) -> Any:
    """The object tree in ``file`` as data (objects as ``ObjectState``), with the same checks as
    ``load``: a class outside ``allowed`` is refused. Imports no class and runs none of their code."""
    return _read(file, allowed, False, _StateReader)


def load(file: str | IO[bytes], *, allowed: Iterable[str] = (), trusted: bool = False) -> Any:
    """Rebuild the object in ``file``. A class or type not in ``allowed`` is refused
    (``ForeignClassError``, naming them all) before anything is imported, unless ``trusted``.

    The allowed classes' own ``__setstate__`` runs on state read from the file: allow only
    classes whose state is plain data."""
    return _read(file, allowed, trusted, _Reader)
