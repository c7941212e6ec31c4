"""Byte-exact text I/O: read and write files and standard streams without losing a byte.

Text is decoded as UTF-8 with ``surrogateescape``, so bytes that are not valid UTF-8 survive a
round trip, and without newline translation, so ``\\r\\n`` and ``\\r`` stay as they were. Files
are written atomically: to a temporary file in the same directory, flushed, then renamed.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

__all__ = ["read_text", "write_text", "atomic_write", "atomic_output", "InputError", "decode", "encode"]


class InputError(Exception):
    """Input that cannot be processed; the message names the file and the problem."""


def decode(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def encode(text: str) -> bytes:
    return text.encode("utf-8", errors="surrogateescape")


def read_text(source: str) -> str:
    """Read a path, or standard input for ``-``, as byte-preserving text."""
    if source == "-":
        return decode(sys.stdin.buffer.read())
    path = Path(source)
    if path.is_dir():
        raise InputError(f"{source}: is a directory, not a text file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{source}: no such file") from None
    except PermissionError:
        raise InputError(f"{source}: permission denied") from None
    except OSError as e:
        raise InputError(f"{source}: cannot read: {e.strerror or e}") from None
    if b"\x00" in data[:8192] and data.count(b"\x00") > len(data[:8192]) // 10:
        raise InputError(f"{source}: looks like a binary file (many NUL bytes), not text")
    return decode(data)


def _temp_prefix(path: Path, host: str | None = None, pid: int | None = None) -> str:
    # host and pid in the name: a later run can tell a temporary file left by a killed run
    # (SIGKILL, power loss: no cleanup code runs) from one a live run is still writing
    return f".{path.name}.promofilter-{host or socket.gethostname()}-{pid or os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Remove temporary files that runs on this host left next to ``path`` when they were killed
    before they could rename or remove them; returns what was removed. Files of live processes
    and of other hosts (a shared file system) are left alone."""
    pattern = re.compile(re.escape(f".{path.name}.promofilter-{socket.gethostname()}-") + r"(\d+)-\w+\.tmp")
    removed = []
    try:
        candidates = list((path.parent or Path(".")).iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        match = pattern.fullmatch(candidate.name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                candidate.unlink()
                removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` only when the block ends without error: readers see
    the old file or the new one, never half. On error the temporary file is removed.

    A symlink is followed (the file it points to is replaced, the link stays). Something that is
    not a regular file (``/dev/stdout``, a FIFO, ``/dev/null``) cannot be replaced: it is
    written to directly. Temporary files left by earlier runs that were killed are removed
    first (see ``remove_stale_temporaries``)."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file():
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory", str(path))
        with open(path, "wb") as f:
            yield f
        return
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=_temp_prefix(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:  # mkstemp creates 0600; a new file gets the usual permissions
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_output``)."""
    with atomic_output(path) as f:
        f.write(data)


def write_text(target: str | None, text: str) -> None:
    """Write to a path atomically, or to standard output for ``None`` / ``-``."""
    data = encode(text)
    if target in (None, "-"):
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        atomic_write(target, data)
