"""Files on disk: atomic writes (a reader never sees half a model, cache entry or metrics
file) and opening a file that comes from outside only when it is a regular file.

An atomic write goes to ``.<name>.<pid>.<random>.tmp`` in the target's folder, then is
renamed over the target.  A writer killed before the rename (SIGKILL, power loss) leaves
that temporary behind; the next write of the same file removes the ones whose process
is gone.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from dagnet.errors import DagnetError, FileWriteError

# "<pid>.<mkstemp's random part>" between ".<name>." and ".tmp"; before the pid was part
# of the name, just the random part (removed once it is an hour old).
_TEMPORARY = re.compile(r"(\d+)\.[a-z0-9_]+")
_OLD_TEMPORARY = re.compile(r"[a-z0-9_]{8}")
_OLD_TEMPORARY_AGE = 3600.0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file in ``path``'s folder, then rename it over ``path``.

    The file gets the permissions an ordinary write would give (0666 less the
    umask), not the 0600 of a temporary file.  A failure of the operating system
    (full disk, no permission) raises FileWriteError naming ``path``, and leaves
    the previous file, if any, as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                                   dir=path.parent)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, DagnetError):
            raise _write_error(path, exc) from None
        raise
    return path


def _write_error(path: Path, exc: OSError) -> FileWriteError:
    reason = exc.strerror or str(exc)
    hint = ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "; free some space or write to another folder"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "; write to a folder you can write to"
    error = FileWriteError(f"{path}: cannot write it ({reason}){hint}; any previous version "
                           "of the file is unchanged")
    error.errno = exc.errno
    return error


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that killed writers of ``path`` left in its folder.

    A temporary is stale when the process named in it no longer runs (or, for one
    without a process id, when it is over an hour old); the temporaries of running
    writers are kept.  Returns the files removed.
    """
    path = Path(path)
    prefix, removed = f".{path.name}.", []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(".tmp")
                and entry.is_file(follow_symlinks=False)):
            continue
        if _is_stale(name[len(prefix):-len(".tmp")], entry):
            try:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
            except OSError:  # another writer removed it first, or we may not
                pass
    return removed


def _is_stale(middle: str, entry: os.DirEntry) -> bool:
    match = _TEMPORARY.fullmatch(middle)
    if match:
        pid = int(match.group(1))
        return pid != os.getpid() and not _running(pid)
    if _OLD_TEMPORARY.fullmatch(middle):
        try:
            age = time.time() - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            return False
        return age > _OLD_TEMPORARY_AGE
    return False


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # another user's process, or a number we cannot ask about: keep it
    return True


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, data) -> Path:
    """Pretty JSON, written atomically (NaN and infinities refused: they are not JSON)."""
    return atomic_write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def open_regular_file(path: str | os.PathLike, error: type[DagnetError],
                      what: str = "file") -> tuple[BinaryIO, int]:
    """``path`` opened for binary reading, and its size, if it is a regular file.

    Symbolic links are followed, but only to a regular file: a folder, device
    (/dev/zero), FIFO or socket is refused before it is opened, and checked
    again on what was opened.  Errors are ``error`` naming ``path`` (``what``
    says what it should have been: "model file", "image").
    """
    path = Path(path)
    try:
        kind = _kind(os.stat(path).st_mode)
        if kind is None:
            # Non-blocking: a FIFO swapped in after the stat must not hang the open.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                         | getattr(os, "O_BINARY", 0))
            f = os.fdopen(fd, "rb")
            info = os.fstat(fd)
            kind = _kind(info.st_mode)
            if kind is None:
                return f, info.st_size
            f.close()
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read it ({exc.strerror or exc})") from None
    raise error(f"{path}: is {kind}, not a regular file; a {what} is read only from a "
                "regular file")


def _kind(mode: int) -> str | None:
    """What a file of ``mode`` is, in words; None for a regular file."""
    for test, kind in ((stat.S_ISREG, None), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "an unknown kind of file"
