"""Process resources: give heap memory freed by a large, short-lived step back to the system.

Loading a model (the archive is unpacked in memory) and batch mode's counting pass allocate far more
than they keep. glibc keeps the freed small blocks in its heap, where they count in the
process's resident memory for the rest of a long batch run; ``malloc_trim`` returns them.
Elsewhere (macOS, Windows, musl) this does nothing.
"""
from __future__ import annotations

import ctypes
import functools
import sys

__all__ = ["release_freed_memory"]


@functools.cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim  # by name: find_library would run ldconfig
    except (OSError, AttributeError):  # not glibc
        return None


def release_freed_memory() -> bool:
    """Return freed heap memory to the system where the C library can (glibc); True if it did."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False
