"""The filesystem's durability primitives: the one atomic write and the one file lock.

Every file tmxd replaces goes through :func:`write_atomic`: the new content is written
to a temp file beside the target (``.<name>.tmxd-<pid>-<random>.tmp``, so a leftover
after a crash is easy to recognise and says whose it was), flushed to disk, given its
mode and renamed over the target; then the folder itself is flushed, so the rename
survives a power cut. Readers see the old file or the new one, never half of either.
:func:`remove_stale_temps` clears what a killed writer left.

Every file tmxd creates is private to the user (0600): new files of :func:`write_atomic`,
logs and journals opened with :func:`open_private` or grown with :func:`append_durably`,
lock files, and the metrics database (created with :func:`create_private` before SQLite
opens it, so its ``-wal`` and ``-shm`` files get the same mode).

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
import time
from collections.abc import Callable, Iterator
from pathlib import Path

TEMP_MARK = ".tmxd-"
TEMP_SUFFIX = ".tmp"
PRIVATE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
DEFAULT_MODE = PRIVATE_MODE  # a new file; an existing one keeps its mode
STALE_TEMP_AGE = 60.0  # seconds after which anyone's leftover temp file is removed


def temp_prefix(path: Path) -> str:
    """The start of the name of every temp file this process writes on the way to ``path``."""
    return f".{path.name}{TEMP_MARK}{os.getpid()}-"


def is_temp(name: str) -> bool:
    """Whether ``name`` is one of :func:`write_atomic`'s temp files."""
    return name.startswith(".") and TEMP_MARK in name and name.endswith(TEMP_SUFFIX)


def temp_writer(name: str) -> int | None:
    """The pid of the process that wrote temp file ``name`` (None for an older name)."""
    tail = name.rpartition(TEMP_MARK)[2]
    pid, sep, _random = tail.partition("-")
    return int(pid) if sep and pid.isdigit() else None


def remove_stale_temps(
    folder: Path, *, depth: int = 0, older_than: float = STALE_TEMP_AGE
) -> list[Path]:
    """Remove :func:`write_atomic`'s leftovers in ``folder`` (and ``depth`` levels below).

    A temp file is a leftover when its writer is gone (a killed process) or when it is
    older than ``older_than`` seconds; a live writer's fresh temp file is left alone.
    Only names :func:`is_temp` recognises are touched. Returns what was removed.
    """
    from tmxd.proc import pid_alive  # only the clean-up needs it

    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                if depth > 0:
                    removed += remove_stale_temps(
                        Path(entry.path), depth=depth - 1, older_than=older_than
                    )
                continue
            if not is_temp(entry.name) or not entry.is_file(follow_symlinks=False):
                continue
            writer = temp_writer(entry.name)
            gone = writer is not None and not pid_alive(writer)
            if gone or now - entry.stat(follow_symlinks=False).st_mtime > older_than:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # removed meanwhile, or not ours to remove
    return removed


def make_private_dirs(folder: Path) -> None:
    """Create ``folder`` and its missing parents, each 0700 whatever the umask
    (``mkdir(parents=True)`` gives the parents the umask's mode, 0755); folders that
    exist keep their mode. Raises :class:`OSError`."""
    missing: list[Path] = []
    at = folder
    while missing_folder(at) and at != at.parent:
        missing.append(at)
        at = at.parent
    for new in reversed(missing):
        try:
            os.mkdir(new, PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile (another writer): it keeps its mode
        os.chmod(new, PRIVATE_DIR_MODE)


def missing_folder(path: Path) -> bool:
    """Whether the folder ``path`` is not there (one that cannot be looked at counts as
    there: what is written into it then says why it cannot be)."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def create_private(path: Path) -> None:
    """Create ``path`` empty and private (0600) unless it exists; an existing file that
    others can read is made private too.

    An existing file is never opened: closing any descriptor of a SQLite database drops
    every POSIX lock this process holds on it (other connections' too), so it is only
    changed through its path.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))
    except FileExistsError:
        mode = os.stat(path).st_mode & 0o7777
        if mode & 0o077:
            with contextlib.suppress(OSError):  # not ours (a shared file): leave it
                os.chmod(path, mode & 0o7700)


def open_private(path: Path, *, append: bool = True) -> int:
    """Open ``path`` for writing (appending, or truncated), created private (0600); an
    existing file others can read is made private. Returns the descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, PRIVATE_MODE)
    try:
        _make_private(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _make_private(fd: int) -> None:
    mode = os.fstat(fd).st_mode & 0o7777
    if mode & 0o077:
        with contextlib.suppress(OSError):  # not ours (a shared file): leave it
            os.fchmod(fd, mode & 0o7700)


def write_atomic(
    path: Path,
    data: str | bytes,
    *,
    mode: int | None = None,
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8, byte for byte).

    The new file gets ``mode``; without one it keeps the mode ``path`` has now, or
    gets 0600 when it is new. The folder must exist. An ``OSError`` leaves ``path``
    as it was and no temp file behind; the caller turns it into its own message.
    ``before_replace`` runs once the new content is on disk, just before the rename:
    whatever it raises leaves ``path`` as it was (a writer checking that nobody
    changed the file since it read it keeps the window down to that last moment).
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
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_dir(directory)


def append_durably(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` (created private if missing) in one write, then fsync."""
    fd = open_private(path)
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
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_MODE)
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
