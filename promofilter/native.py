"""The optional compiled core (``promofilter/_native.c``), when it was built and matches.

Its C functions compute exactly what the Python functions they restate compute (segmentation,
the segment table, shape features, masking, hashed n-grams, the tree walk, repetition-key
hashes; the list is at the top of ``_native.c``), several times faster.
``core()`` returns the compiled module, or ``None`` when there is none (built without a
compiler), when it was compiled from another version of the source (a stale build in a source
tree), or when ``PROMOFILTER_NATIVE=0`` is set (to measure or debug the NumPy path).
"""
from __future__ import annotations

import os
from types import ModuleType

__all__ = ["core", "NATIVE_VERSION"]

# the version of _native.c this Python code calls (its NATIVE_VERSION constant)
NATIVE_VERSION = 12

_loaded: list[ModuleType | None] = []


def core() -> ModuleType | None:
    """The compiled module, or None (then the NumPy code runs)."""
    if os.environ.get("PROMOFILTER_NATIVE") == "0":
        return None
    if not _loaded:
        try:
            from . import _native
        except ImportError:
            _native = None
        if _native is not None and getattr(_native, "NATIVE_VERSION", None) != NATIVE_VERSION:
            _native = None
        _loaded.append(_native)
    return _loaded[0]
