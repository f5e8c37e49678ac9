"""The filesystem's durability primitives: the one atomic write and the one file lock.

Every file tmxd replaces goes through :func:`write_atomic`: the new content is written
to a temp file beside the target (``.<name>.tmxd-<random>.tmp``, so a leftover after a
crash is easy to recognise), flushed to disk, given its mode and renamed over the
target; then the folder itself is flushed, so the rename survives a power cut.
Readers see the old file or the new one, never half of either.

Every cross-process ``flock`` is taken with :func:`locked` (a block) or
:func:`acquire` (a lock held until its descriptor is closed, e.g. for a process's
whole life). Append-only logs grow with :func:`append_durably`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

TEMP_MARK = ".tmxd-"
TEMP_SUFFIX = ".tmp"
DEFAULT_MODE = 0o644


def temp_prefix(path: Path) -> str:
    """The start of the name of every temp file written on the way to ``path``."""
    return f".{path.name}{TEMP_MARK}"


def is_temp(name: str) -> bool:
    """Whether ``name`` is one of :func:`write_atomic`'s temp files."""
    return name.startswith(".") and TEMP_MARK in name and name.endswith(TEMP_SUFFIX)


def write_atomic(path: Path, data: str | bytes, *, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8, byte for byte).

    The new file gets ``mode``; without one it keeps the mode ``path`` has now, or
    gets 0644 when it is new. The folder must exist. An ``OSError`` leaves ``path``
    as it was and no temp file behind; the caller turns it into its own message.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    directory = path.parent
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = DEFAULT_MODE
    fd, tmp_name = tempfile.mkstemp(prefix=temp_prefix(path), suffix=TEMP_SUFFIX, dir=directory)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(directory)


def append_durably(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` (created private if missing) in one write, then fsync."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(directory: Path) -> None:
    """Flush a folder's entries (a rename into it) to disk; best effort.

    Some filesystems refuse to open or fsync a directory; the rename has then
    already happened and there is nothing more to do, so errors are ignored.
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def acquire(path: Path, *, wait: bool = True, shared: bool = False) -> int | None:
    """Take an exclusive ``flock`` on ``path`` (created private if missing).

    Returns the open descriptor: the lock is held until it is closed. With
    ``wait=False`` it returns None at once when another process holds the lock.
    ``shared`` takes a shared lock instead (many holders; an exclusive one waits).
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    kind = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    try:
        fcntl.flock(fd, kind if wait else kind | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if wait or exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def locked(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive (or ``shared``) ``flock`` on ``path`` for the block, waiting for it
    if need be."""
    fd = acquire(path, shared=shared)
    assert fd is not None
    try:
        yield
    finally:
        os.close(fd)
