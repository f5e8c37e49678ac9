"""Filesystem watching for registered projects (the only module importing watchdog).

For each project only a handful of directories are watched, each
non-recursively — never the repository root recursively:

* the folder holding ``tasks.json`` (editors save by rename, so a move's
  destination counts as a write) and, when ``tasks.json`` is a symlink, the folder of
  the file it points to (a write through the link changes only that file; the link
  is resolved again when it is replaced, and at each reconcile);
* ``.taskmaster/`` (``state.json``) and ``.taskmaster/reports/`` (complexity report);
* the folder of the hook spool (``<git common dir>/tmxd/spool``);
* the git dir (``HEAD``, ``packed-refs``, ``index.lock``, ``rebase-*``), its
  ``logs/`` (``logs/HEAD``) and ``refs/heads/``, plus the common dir of a
  linked worktree.

Events are classified into kinds (``tasks``, ``state``, ``complexity``,
``spool``, ``git``) and debounced per project: a change is delivered once the
project has been quiet for the settle window, or at the latest after the
maximum wait. While ``index.lock`` or a rebase is in progress delivery is held
(up to ``max_hold``), so a checkout or rebase produces one batch, not hundreds.

When inotify runs out of watches (ENOSPC) or instances (EMFILE), the project's
directories are polled instead and the log says how to raise the limit.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch
from watchdog.observers.polling import PollingObserver

from tmxd import clock

log = logging.getLogger("tmxd.watch")

KINDS = ("tasks", "state", "config", "complexity", "spool", "git")
HOLD = "hold"  # index.lock / rebase markers: re-check a held project, no work by itself

# Reading a file must not wake us: only events that mean "something was written".
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]

GIT_FILES = {"HEAD", "packed-refs", "ORIG_HEAD", "MERGE_HEAD", "FETCH_HEAD"}
HOLD_MARKERS = ("index.lock", "rebase-merge", "rebase-apply")
INOTIFY_HELP = (
    "raise the limit: echo fs.inotify.max_user_watches=524288 | "
    "sudo tee /etc/sysctl.d/90-tmxd.conf && sudo sysctl --system"
)

OnChange = Callable[[Path, frozenset[str]], None]


def read_git_dirs(root: Path) -> tuple[Path, Path] | None:
    """``(git dir, common dir)`` of the worktree at ``root``, read the way git does.

    ``.git`` is a directory, or a file ``gitdir: <path>`` (linked worktree,
    submodule); a ``commondir`` file inside the git dir points at the shared one.
    """
    dot_git = root / ".git"
    if dot_git.is_dir():
        git_dir = dot_git
    elif dot_git.is_file():
        try:
            line = dot_git.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        if not line.startswith("gitdir:"):
            return None
        git_dir = Path(line.split(":", 1)[1].strip())
        if not git_dir.is_absolute():
            git_dir = (root / git_dir).resolve()
    else:
        return None
    common = git_dir
    commondir_file = git_dir / "commondir"
    with contextlib.suppress(OSError):
        pointer = Path(commondir_file.read_text(encoding="utf-8").strip())
        common = pointer if pointer.is_absolute() else (git_dir / pointer).resolve()
    return git_dir, common


def link_target(path: Path) -> Path | None:
    """The file a symlink at ``path`` points to, fully resolved; None when ``path`` is
    not a symlink (or the link cannot be resolved)."""
    if not path.is_symlink():
        return None
    try:
        target = path.resolve(strict=False)
    except (OSError, RuntimeError):  # a loop
        return None
    return target if target != path else None


@dataclass(frozen=True)
class WatchSpec:
    """What to watch for one project, and how to name what changed."""

    root: Path
    tasks_path: Path
    taskmaster_dir: Path | None = None
    git_dir: Path | None = None
    common_dir: Path | None = None
    spool_path: Path | None = None
    # where a symlinked tasks.json points (resolved); None when it is not a symlink
    tasks_target: Path | None = None

    @classmethod
    def for_project(cls, root: Path, tasks_path: Path, spool_path: Path | None = None) -> WatchSpec:
        dirs = read_git_dirs(root)
        git_dir, common = dirs if dirs else (None, None)
        if spool_path is None and common is not None:
            spool_path = common / "tmxd" / "spool"
        tm_dir = root / ".taskmaster"
        return cls(
            root=root,
            tasks_path=tasks_path,
            taskmaster_dir=tm_dir if tm_dir.is_dir() else None,
            git_dir=git_dir,
            common_dir=common,
            spool_path=spool_path,
            tasks_target=link_target(tasks_path),
        )

    def resolved(self) -> WatchSpec:
        """This spec with ``tasks.json``'s link target as it is now (the link may have
        been replaced by a file, or pointed elsewhere)."""
        return replace(self, tasks_target=link_target(self.tasks_path))

    def directories(self) -> list[Path]:
        """The existing directories to watch, each non-recursively."""
        wanted: list[Path] = [self.tasks_path.parent]
        if self.tasks_target is not None:
            wanted.append(self.tasks_target.parent)
        if self.taskmaster_dir is not None:
            wanted += [self.taskmaster_dir, self.taskmaster_dir / "reports"]
        if self.spool_path is not None:
            wanted.append(self.spool_path.parent)
        if self.git_dir is not None:
            wanted += [self.git_dir, self.git_dir / "logs"]
        if self.common_dir is not None:
            wanted += [self.common_dir, self.common_dir / "refs" / "heads"]
        seen: list[Path] = []
        for directory in wanted:
            if directory not in seen and directory.is_dir():
                seen.append(directory)
        return seen

    def classify(self, path: Path) -> str | None:
        """The kind of change a write to ``path`` means, ``HOLD``, or None to ignore it."""
        if path == self.tasks_path or path == self.tasks_target:
            return "tasks"
        parent = path.parent
        # the spool, or a batch a late hook line was appended to (not its .pos file)
        if (
            self.spool_path is not None
            and parent == self.spool_path.parent
            and (path == self.spool_path or _is_batch(path.name))
        ):
            return "spool"
        if self.taskmaster_dir is not None:
            if path == self.taskmaster_dir / "state.json":
                return "state"
            if path == self.taskmaster_dir / "tmxd.toml":
                return "config"
            if parent == self.taskmaster_dir / "reports" and path.name.startswith(
                "task-complexity-report"
            ):
                return "complexity"
            if path == self.taskmaster_dir / "reports":
                return "complexity"
        for git_dir in {d for d in (self.git_dir, self.common_dir) if d is not None}:
            if parent == git_dir:
                if path.name in HOLD_MARKERS:
                    return HOLD
                if path.name in GIT_FILES:
                    return "git"
            elif path == git_dir / "logs" / "HEAD" or parent == git_dir / "refs" / "heads":
                return "git"
        return None

    def held(self) -> str | None:
        """What a git operation in progress holds us on (``index.lock``, ``rebase-merge``...)."""
        if self.git_dir is None:
            return None
        for marker in HOLD_MARKERS:
            if (self.git_dir / marker).exists():
                return marker
        return None


@dataclass
class _Pending:
    kinds: set[str] = field(default_factory=set)
    first: float = 0.0
    last: float = 0.0
    held_since: float | None = None
    recheck_at: float | None = None


class Debouncer:
    """Per-project settle window with a maximum wait, and holding during git operations."""

    def __init__(
        self,
        deliver: OnChange,
        *,
        settle: float,
        max_wait: float,
        held: Callable[[Path], str | None],
        max_hold: float = 600.0,
        hold_recheck: float = 0.25,
    ) -> None:
        self._deliver = deliver
        self._settle = settle
        self._max_wait = max(max_wait, settle)
        self._held = held
        self._max_hold = max_hold
        self._hold_recheck = hold_recheck
        self._pending: dict[Path, _Pending] = {}
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="tmxd-debounce", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def push(self, root: Path, kind: str) -> None:
        now = clock.monotonic()
        with self._cond:
            pending = self._pending.get(root)
            if pending is None:
                if kind == HOLD:
                    return  # a lock came or went while nothing is waiting
                pending = self._pending[root] = _Pending(first=now)
            if kind == HOLD:
                if pending.held_since is not None:
                    pending.recheck_at = now  # the lock may be gone: look again now
            else:
                pending.kinds.add(kind)
                pending.last = now
                pending.recheck_at = None
            self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def flush_all(self) -> None:
        """Deliver everything pending now, held or not (used on shutdown)."""
        with self._cond:
            items = [(root, p.kinds) for root, p in self._pending.items() if p.kinds]
            self._pending.clear()
        for root, kinds in items:
            self._deliver(root, frozenset(kinds))

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _due(self, pending: _Pending) -> float:
        if pending.recheck_at is not None:
            return pending.recheck_at
        return min(pending.last + self._settle, pending.first + self._max_wait)

    def _run(self) -> None:
        while True:
            ready: list[tuple[Path, frozenset[str]]] = []
            with self._cond:
                if self._stopped:
                    return
                now = clock.monotonic()
                timeout: float | None = None
                for root, pending in list(self._pending.items()):
                    due = self._due(pending)
                    if due > now:
                        timeout = due - now if timeout is None else min(timeout, due - now)
                        continue
                    if self._hold(root, pending, now):
                        assert pending.recheck_at is not None
                        wait = pending.recheck_at - now
                        timeout = wait if timeout is None else min(timeout, wait)
                        continue
                    del self._pending[root]
                    ready.append((root, frozenset(pending.kinds)))
                if not ready:
                    self._cond.wait(timeout)
                    continue
            for root, kinds in ready:
                try:
                    self._deliver(root, kinds)
                except Exception:
                    log.exception("delivering a change of %s failed", root)

    def _hold(self, root: Path, pending: _Pending, now: float) -> bool:
        marker = self._held(root)
        if marker is None:
            return False
        if pending.held_since is None:
            pending.held_since = now
            log.debug("%s: holding changes while %s exists", root, marker)
        if now - pending.held_since >= self._max_hold:
            log.warning(
                "%s: %s has existed for %.0f s; processing changes anyway "
                "(remove a stale lock if no git command is running)",
                root,
                marker,
                now - pending.held_since,
            )
            return False
        pending.recheck_at = now + self._hold_recheck
        return True


def _is_batch(name: str) -> bool:
    return name.startswith("batch-") and not name.endswith(".pos")


class _Handler(FileSystemEventHandler):
    def __init__(self, spec: WatchSpec, push: Callable[[Path, str], None]) -> None:
        self.spec = spec
        self._push = push

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Writes count; for a move its destination, for a deletion only git's markers.

        A file moved away or deleted (the spool renamed aside by its reader, an
        editor's backup rename) is not a change to process; the write that follows is.
        """
        if event.event_type == "moved":
            # the spool's reader renames it aside into a batch: that is its own doing
            own = _is_batch(Path(os.fsdecode(event.dest_path)).name)
            candidates = [(event.dest_path, own), (event.src_path, True)]
        else:
            candidates = [(event.src_path, event.event_type == "deleted")]
        for raw, hold_only in candidates:
            if not raw:
                continue
            kind = self.spec.classify(Path(os.fsdecode(raw)))
            if kind is not None and (kind == HOLD or not hold_only):
                self._push(self.spec.root, kind)


@dataclass
class _Project:
    spec: WatchSpec
    handler: _Handler
    mode: str = "inotify"
    watches: list[tuple[BaseObserver, ObservedWatch, Path]] = field(default_factory=list)


class _FolderHandler(FileSystemEventHandler):
    def __init__(self, on_write: Callable[[], None]) -> None:
        self._on_write = on_write

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type != "deleted" and not event.is_directory:
            self._on_write()


class Watcher:
    """Watches registered projects and calls ``on_change(root, kinds)`` after debouncing."""

    def __init__(
        self,
        on_change: OnChange,
        *,
        settle: float = 0.1,
        max_wait: float = 1.0,
        poll_interval: float = 2.0,
        max_hold: float = 600.0,
    ) -> None:
        self._lock = threading.RLock()
        self._projects: dict[Path, _Project] = {}
        self._debouncer = Debouncer(
            on_change, settle=settle, max_wait=max_wait, held=self._held, max_hold=max_hold
        )
        self._observer: BaseObserver = Observer()
        self._poller: BaseObserver | None = None
        self._poll_interval = poll_interval
        self._limit_warned = False

    def start(self) -> None:
        self._debouncer.start()
        self._observer.start()

    def stop(self, *, flush: bool = True) -> None:
        """Stop observing; with ``flush`` deliver pending changes before returning."""
        for observer in (self._observer, self._poller):
            if observer is not None and observer.is_alive():
                observer.stop()
                observer.join(timeout=5)
        self._debouncer.stop()
        if flush:
            self._debouncer.flush_all()

    def watch(self, spec: WatchSpec) -> str:
        """Start watching a project (again); returns ``"inotify"`` or ``"polling"``."""
        with self._lock:
            self.unwatch(spec.root)
            project = _Project(spec, _Handler(spec, self._debouncer.push))
            self._projects[spec.root] = project
            self._schedule(project, spec.directories())
            return project.mode

    def watch_folder(self, folder: Path, on_write: Callable[[], None]) -> None:
        """Call ``on_write`` (on the observer's thread, not debounced) whenever a file in
        ``folder`` is written: for the daemon's own folders, such as the metrics journal."""
        try:
            self._observer.schedule(
                _FolderHandler(on_write), str(folder), recursive=False, event_filter=EVENT_FILTER
            )
        except OSError as exc:
            log.warning("cannot watch %s: %s (it is looked at every minute instead)", folder, exc)

    def refresh(self, spec: WatchSpec) -> None:
        """Add watches for directories that appeared since (a reports folder, the spool)."""
        with self._lock:
            project = self._projects.get(spec.root)
            if project is None or project.spec != spec:
                self.watch(spec)
                return
            have = {path for _, _, path in project.watches}
            missing = [d for d in spec.directories() if d not in have]
            if missing:
                self._schedule(project, missing)

    def unwatch(self, root: Path) -> None:
        with self._lock:
            project = self._projects.pop(root, None)
            if project is None:
                return
            self._drop(project)

    def modes(self) -> dict[Path, str]:
        with self._lock:
            return {root: p.mode for root, p in self._projects.items()}

    def specs(self) -> dict[Path, WatchSpec]:
        with self._lock:
            return {root: p.spec for root, p in self._projects.items()}

    def pending(self) -> int:
        return self._debouncer.pending()

    def _held(self, root: Path) -> str | None:
        with self._lock:
            project = self._projects.get(root)
        return project.spec.held() if project else None

    def _schedule(self, project: _Project, directories: list[Path]) -> None:
        for directory in directories:
            observer = self._observer if project.mode == "inotify" else self._polling()
            try:
                watch = observer.schedule(
                    project.handler, str(directory), recursive=False, event_filter=EVENT_FILTER
                )
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EMFILE) and project.mode == "inotify":
                    self._fall_back(project, exc)
                    return
                log.warning("%s: cannot watch %s: %s", project.spec.root, directory, exc)
                continue
            project.watches.append((observer, watch, directory))

    def _drop(self, project: _Project) -> None:
        """Stop ``project``'s handler hearing its folders. Watchdog keys a watch by its path,
        so a folder another project listens to too (two tasks.json linked to one file, two
        worktrees sharing a git dir) keeps its watch and loses only this handler."""
        shared = {
            (id(observer), watch)
            for other in self._projects.values()
            if other is not project
            for observer, watch, _ in other.watches
        }
        for observer, watch, _ in project.watches:
            with contextlib.suppress(KeyError, OSError):
                if (id(observer), watch) in shared:
                    observer.remove_handler_for_watch(project.handler, watch)
                else:
                    observer.unschedule(watch)

    def _fall_back(self, project: _Project, exc: OSError) -> None:
        what = "watches" if exc.errno == errno.ENOSPC else "instances"
        limit = "max_user_watches" if exc.errno == errno.ENOSPC else "max_user_instances"
        message = (
            f"{project.spec.root}: inotify ran out of {what} ({exc.strerror}); polling this "
            f"project's files every {self._poll_interval:g} s instead. To go back to events, "
            + INOTIFY_HELP.replace("max_user_watches", limit)
        )
        if not self._limit_warned:
            log.warning("%s", message)
            self._limit_warned = True
        else:
            log.info("%s", message)
        self._drop(project)
        project.watches.clear()
        project.mode = "polling"
        self._schedule(project, project.spec.directories())

    def _polling(self) -> BaseObserver:
        if self._poller is None:
            self._poller = PollingObserver(timeout=self._poll_interval)
            self._poller.start()
        return self._poller
