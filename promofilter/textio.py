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


def _temp_prefix(path: Path) -> str:
    # host and pid in the name: a later run can tell a temporary file left by a killed run
    # (SIGKILL, power loss: no cleanup code runs) from one a live run is still writing. The
    # target's name is cut short so a long name still leaves room for the rest.
    return f".{path.name[:40]}.promofilter-{socket.gethostname()[:40]}-{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # os.kill(pid, 0) is not an existence test on Windows: never clean up there
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # someone else's live process, or no such pid number
        return True
    return True


def _unlocked(path: Path) -> bool:
    """Whether no process holds the write lock of a temporary file (a live writer in another
    PID namespace with the same host name still holds it); True where locks are unavailable."""
    try:
        import fcntl
    except ImportError:
        return True
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


_CLEANED_DIRS: set = set()  # directories (and scratch stems) cleaned once by this process


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Remove temporary files that runs on this host left in ``directory`` when they were killed
    before they could rename or remove them; returns what was removed. Files of live processes
    (or still locked by a writer) and of other hosts (a shared file system) are left alone.
    Each directory is cleaned once per process: writing many files into one directory does not
    list it again for each file."""
    key = os.path.realpath(directory)
    if key in _CLEANED_DIRS:
        return []
    _CLEANED_DIRS.add(key)
    pattern = re.compile(r"\..*\.promofilter-" + re.escape(socket.gethostname()[:40]) + r"-(\d{1,10})-\w+\.tmp")
    removed = []
    try:
        candidates = list(Path(directory).iterdir())
    except OSError:
        return removed
    for candidate in candidates:
        match = pattern.fullmatch(candidate.name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))) \
                and _unlocked(candidate):
            with contextlib.suppress(OSError):
                candidate.unlink()
                removed.append(candidate)
    return removed


class ScratchDirectory:
    """A temporary directory for one process's scratch files (``$TMPDIR``), removed by
    ``cleanup()``. Its name carries host and pid, and it holds a locked file while alive, so a
    later run removes the directories that killed runs left behind (as for temporary output
    files, see ``remove_stale_temporaries``)."""

    def __init__(self, stem: str):
        parent = tempfile.gettempdir()
        _remove_stale_directories(parent, stem)
        host = socket.gethostname()[:40]
        self.name = tempfile.mkdtemp(prefix=f"{stem}-{host}-{os.getpid()}-", dir=parent)
        self._lock = os.open(os.path.join(self.name, "lock"), os.O_CREAT | os.O_RDWR, 0o600)
        with contextlib.suppress(ImportError, OSError):  # held until cleanup: see _unlocked
            import fcntl

            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def cleanup(self) -> None:
        import shutil

        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
            shutil.rmtree(self.name, ignore_errors=True)

    def __del__(self):
        with contextlib.suppress(Exception):
            self.cleanup()


def _remove_stale_directories(parent: str, stem: str) -> None:
    key = (os.path.realpath(parent), stem)
    if key in _CLEANED_DIRS:
        return
    _CLEANED_DIRS.add(key)
    import shutil

    pattern = re.compile(re.escape(stem) + "-" + re.escape(socket.gethostname()[:40]) + r"-(\d{1,10})-\w+")
    with contextlib.suppress(OSError):
        for candidate in Path(parent).iterdir():
            match = pattern.fullmatch(candidate.name)
            if (match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1)))
                    and candidate.is_dir() and not candidate.is_symlink() and _unlocked(candidate / "lock")):
                shutil.rmtree(candidate, ignore_errors=True)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary file that replaces ``path`` only when the block ends without error: readers see
    the old file or the new one, never half. On error the temporary file is removed.

    A symlink is followed (the file it points to is replaced, the link stays). Something that is
    not a regular file (``/dev/stdout``, a FIFO, ``/dev/null``) cannot be replaced: it is
    written to directly. Temporary files left in the directory by earlier runs that were
    killed are removed first (see ``remove_stale_temporaries``)."""
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file():
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory", str(path))
        with open(path, "wb") as f:
            yield f
        return
    remove_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=_temp_prefix(path), suffix=".tmp")
    try:
        with contextlib.suppress(ImportError, OSError):  # held until closed: see _unlocked
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
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
