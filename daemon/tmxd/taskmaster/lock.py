"""Task Master's cross-process lock on ``tasks.json``: ``<tasks.json>.lock``.

Task Master 0.42+ takes this lock before every write: its TypeScript core with
``proper-lockfile`` (``mkdir`` of the lock path, stale after 10 s) and its legacy
commands with an exclusive-create *file* at the same path. Creating the directory
with ``mkdir`` therefore excludes both, and both exclude us. A lock older than the
stale limit belongs to a crashed writer and is taken over.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import time
from pathlib import Path

from tmxd.errors import TmxdError

STALE_SECONDS = 10.0


class LockTimeout(TmxdError):
    """Another writer held the lock for longer than we were willing to wait."""


def lock_path_for(target: Path) -> Path:
    return target.with_name(target.name + ".lock")


class TaskLock:
    """``with TaskLock(tasks_path):`` — hold Task Master's lock on ``tasks_path``."""

    def __init__(
        self,
        target: Path,
        *,
        stale: float = STALE_SECONDS,
        timeout: float | None = None,
    ) -> None:
        self.target = target
        self.path = lock_path_for(target)
        self.stale = stale
        # Waiting a little longer than the stale limit means a crashed holder never blocks us.
        self.timeout = stale + 5.0 if timeout is None else timeout
        self.held = False

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                os.mkdir(self.path, 0o700)
            except FileExistsError:
                if self._break_if_stale():
                    continue
            except OSError as exc:
                if exc.errno == errno.ENOENT:
                    raise TmxdError(
                        f"cannot lock {self.target}: folder {self.path.parent} does not exist"
                    ) from None
                raise TmxdError(f"cannot create lock {self.path}: {exc.strerror}") from None
            else:
                self.held = True
                return
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"{self.path} is held by another writer (Task Master or tmxd); "
                    "try again, or remove it if no such process is running"
                )
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.2)

    def _break_if_stale(self) -> bool:
        """Remove a lock older than the stale limit; True when the caller should retry now."""
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return True  # released meanwhile
        if age <= self.stale:
            return False
        try:
            if self.path.is_dir():
                os.rmdir(self.path)
            else:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return True

    def refresh(self) -> None:
        """Touch the lock so long operations are not mistaken for a crashed writer."""
        if self.held:
            os.utime(self.path)

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(self.path)

    def __enter__(self) -> TaskLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
