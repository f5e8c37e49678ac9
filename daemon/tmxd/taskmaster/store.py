"""The one writer of ``tasks.json``: Task Master's lock, re-read inside it, atomic replace.

``TaskStore(project).read()`` parses the file as it is now. ``edit()`` is the only way
tmxd changes it::

    with TaskStore(project).edit() as doc:      # lock taken, file re-read
        doc.task_dicts("master")[0]["status"] = "done"
    # only the changed values are spliced into the original text, written to a temp
    # file, fsynced and renamed over tasks.json; nothing is written if nothing changed.

A program that saves tasks.json without the lock (an editor, an agent) while ``edit()``
holds it would lose its save to the rename: the file is read once more just before
the rename, and when it changed nothing is written (:class:`ChangedMeanwhile`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ParamSpec, TypeVar

from tmxd.errors import InputError, TmxdError
from tmxd.taskmaster.document import TasksFile, decode, display_path, parse_tasks
from tmxd.taskmaster.lock import TaskLock
from tmxd.taskmaster.project import Project

# A tasks.json younger than this that does not parse may be a save under way (an editor or
# an agent writing in place, Task Master before 0.42): it is read once more after it.
HALF_WRITTEN_GRACE = 0.3


def wait_settled(path: Path) -> bool:
    """Wait until ``path`` is :data:`HALF_WRITTEN_GRACE` old; False when it already was.

    A file written a moment ago may be half written (a truncate-then-write save) or
    about to be written again: neither read it as final nor write over it before then.
    """
    young = HALF_WRITTEN_GRACE - file_age(path)
    if young <= 0:
        return False
    time.sleep(young)
    return True


def file_age(path: Path) -> float:
    """Seconds since ``path`` was last written (0 when it cannot be read)."""
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


class ChangedMeanwhile(TmxdError):
    """tasks.json was saved by another program (without Task Master's lock) while tmxd
    was changing it: tmxd wrote nothing, and the other program's save stands."""


P = ParamSpec("P")
R = TypeVar("R")
SAVE_ATTEMPTS = 3


def retry_if_saved_meanwhile(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` (one :meth:`TaskStore.edit` that only reads and changes the file)
    again when another program saved the file meanwhile: its change is then made to
    that save, as running the command again would. After :data:`SAVE_ATTEMPTS` such
    saves in a row, :class:`ChangedMeanwhile` stands."""

    @functools.wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        for _ in range(SAVE_ATTEMPTS - 1):
            with contextlib.suppress(ChangedMeanwhile):
                return func(*args, **kwargs)
        return func(*args, **kwargs)

    return run


def unreadable(path: Path, exc: OSError | RuntimeError) -> InputError:
    """One line for a tasks.json the system cannot open (a symlink loop, an I/O error)."""
    if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
        return InputError(
            f"{display_path(path)} is a symlink loop (it points back at itself); "
            "make it a file or a link to one"
        )
    return InputError(f"{display_path(path)}: cannot read it: {exc.strerror or exc}")


class TaskStore:
    """Reads and writes one project's ``tasks.json``."""

    def __init__(self, project: Project | Path) -> None:
        if isinstance(project, Project):
            self.project: Project | None = project
            self.path = project.tasks_path
        else:
            self.project = None
            self.path = Path(project)

    def read(self) -> TasksFile:
        """The file as it is now (no lock: Task Master's writers replace it atomically)."""
        return parse_tasks(self._read_text(), self.path)

    def read_settled(self) -> TasksFile:
        """:meth:`read` for a reader beside other writers (agents, editors): a file that
        does not parse and was written a moment ago is read once more after
        :data:`HALF_WRITTEN_GRACE`; still invalid, the error stands."""
        try:
            return self.read()
        except InputError:
            if not wait_settled(self.path):  # its age: a symlink's target's
                raise
            return self.read()

    def _read_text(self) -> str:
        return decode(self._read_bytes(), self.path)

    def _read_bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            raise InputError(
                f"{display_path(self.path)} does not exist; create tasks with Task Master "
                "(`task-master init`, then `task-master parse-prd` or `task-master add-task`)"
            ) from None
        except IsADirectoryError:
            raise InputError(f"{display_path(self.path)} is a folder, not a tasks file") from None
        except PermissionError:
            raise InputError(f"{display_path(self.path)}: permission denied") from None
        except OSError as exc:
            raise unreadable(self.path, exc) from None

    def _target(self) -> Path:
        """The file to lock and replace: tasks.json itself, or what its symlink points at."""
        try:
            return self.path.resolve()
        except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11)
            raise unreadable(self.path, exc) from None

    @contextlib.contextmanager
    def edit(self, *, lock_timeout: float | None = None) -> Iterator[TasksFile]:
        """Hold the lock, yield the freshly read file, write back only what changed."""
        # A symlinked tasks.json is locked and replaced at its target (as proper-lockfile
        # does), so the link itself survives.
        real = self._target()
        if not real.exists():
            self._read_bytes()  # raises: there is no file to lock or change (nor its folder)
        with TaskLock(real, timeout=lock_timeout):
            try:
                doc = self.read_settled()
            except InputError as exc:  # a write was asked for: say that none happened
                raise InputError(f"{exc.message} (the file was not changed)") from None
            yield doc
            new_text = doc.render()
            if new_text != doc.text:
                self._refuse_read_only(real)
                self._write(new_text, real, read=doc.text)

    def _refuse_read_only(self, target: Path) -> None:
        """A read-only tasks.json is refused as an editor refuses it: the rename would
        replace it anyway (the folder is writable), so the mode is checked first."""
        try:
            mode = target.stat().st_mode
        except OSError:
            return  # gone meanwhile: the write reports it
        if not mode & 0o222 or not os.access(target, os.W_OK):
            raise InputError(
                f"{display_path(self.path)} is read-only; tmxd did not change it "
                f"(make it writable with `chmod u+w {display_path(self.path)}` and retry)"
            )

    def _unchanged_since(self, read: str) -> None:
        """Raise :class:`ChangedMeanwhile` when the file no longer holds ``read``."""
        try:
            now: str | None = self._read_text()
        except InputError:
            now = None  # gone, or unreadable: changed all the same
        if now != read:
            raise ChangedMeanwhile(
                f"{display_path(self.path)} was saved by another program while tmxd was "
                "changing it; tmxd wrote nothing and kept that save: run the command again"
            )

    def _write(self, text: str, target: Path, *, read: str) -> None:
        from tmxd.fsutil import write_atomic  # reads, the common case, start without it

        try:
            # keeps the file's mode; never over a save made since the file was read
            write_atomic(target, text, before_replace=lambda: self._unchanged_since(read))
        except OSError as exc:
            raise TmxdError(
                f"could not write {display_path(self.path)}: {exc.strerror or exc}; "
                "the file was not changed"
            ) from None
