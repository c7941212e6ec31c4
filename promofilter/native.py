"""The optional compiled core (``promofilter/_native.c``), when it was built and matches.

Its C functions compute exactly what the Python functions they restate compute (segmentation,
the segment table, shape features, masking, hashed n-grams, neighbour features, the tree walk,
repetition keys and their hashes; the list is at the top of ``_native.c``), several times faster.

``core()`` returns the compiled module, or ``None`` when there is none (built without a
compiler), when it was compiled from another version of the source (a stale build in a source
tree), when ``PROMOFILTER_NATIVE=0`` was set when it was first asked for, or inside
``switched_off()`` (to measure or test the Python code; it applies to every thread).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

__all__ = ["core", "switched_off", "NATIVE_VERSION"]

# the version of _native.c this Python code calls (its NATIVE_VERSION constant)
NATIVE_VERSION = 34

_loaded: list[ModuleType | None] = []
_off = 0  # switched_off() blocks entered and not left


def core() -> ModuleType | None:
    """The compiled module, or None (then the Python code runs). Called once per text in places:
    after the first call it reads no environment variable."""
    if _off:
        return None
    if not _loaded:
        _loaded.append(_load())
    return _loaded[0]


def _load() -> ModuleType | None:
    if os.environ.get("PROMOFILTER_NATIVE") == "0":
        return None
    try:
        from . import _native
    except ImportError:
        return None
    return _native if getattr(_native, "NATIVE_VERSION", None) == NATIVE_VERSION else None


@contextmanager
def switched_off() -> Iterator[None]:
    """Run the Python code instead of the compiled core inside the block (every thread)."""
    global _off
    _off += 1
    try:
        yield
    finally:
        _off -= 1
