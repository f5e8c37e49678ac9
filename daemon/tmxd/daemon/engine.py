"""The daemon's engine: each watched project's state, and what the daemon does on its events.

The engine thread hands every project event here (:meth:`Engine.handle`, dispatched
by type): an edit of ``tasks.json`` is observed (:mod:`tmxd.history.observe`: the
changes become transition rows and log lines), the hook spool is drained into notes
and closes (:func:`tmxd.commits.sync.sync_project`), and a changed ``[daemon]``
config is read again. Outside edits of subtasks can have their parents recomputed
(``cascade_external``: recorded as source ``cascade``) — never a parent whose own
status the same edit changed (see :func:`_due`) — and tasks that became ready run the
project's ``[notify]`` command (:mod:`tmxd.daemon.notify`).

What the engine logs about a change is written before the change shows in ``tmxd
status`` (the counters of :meth:`Engine.describe`): whoever waits for the status to
move finds the log lines already there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tmxd import clock
from tmxd.daemon import notify
from tmxd.daemon.events import (
    ConfigChanged,
    HeadMoved,
    HooksSpooled,
    ProjectEvent,
    TasksFileChanged,
)
from tmxd.daemon.settings import DAEMON, DaemonConfig
from tmxd.errors import TmxdError
from tmxd.git import NotARepository
from tmxd.history.ledger import SnapshotLedger
from tmxd.history.observe import Observation, attributed, observe
from tmxd.history.snapshot import Transition, Unblocked
from tmxd.taskmaster.store import ChangedMeanwhile, wait_settled

if TYPE_CHECKING:
    from tmxd.commits.sync import SyncResult
    from tmxd.daemon.schedule import JobLog
    from tmxd.metrics.recorder import Recorder
    from tmxd.taskmaster.project import Project

log = logging.getLogger("tmxd.engine")

# A tasks.json that does not parse and was written less than this ago is most likely an
# editor's save still under way (truncate, then write): logged at debug level, and looked
# at again once this has passed (then, still invalid, it is an error).
INVALID_GRACE = 5.0
# the sync error of a drain whose write met an editor's save (retried, never logged as one)
SAVED_MEANWHILE = "tasks.json was saved by another program meanwhile; retrying after it"


def gone_message(root: Path) -> str:
    """What the daemon says of a watched project whose folder was deleted or moved."""
    return (
        f"{root}: the project folder is gone (deleted or moved); nothing there is "
        f"followed until it is back. Stop watching it: `tmxd watch remove {root}`"
    )


@dataclass
class ProjectState:
    project: Project
    ledger: SnapshotLedger
    config: DaemonConfig
    notify: notify.NotifyConfig = field(default_factory=lambda: notify.NotifyConfig(command=[]))
    notify_error: str | None = None  # the last [notify] config error logged
    error: str | None = None  # the current parse error (shown by `tmxd status`)
    logged_error: str | None = None  # the last one logged (each is logged once)
    sync_error: str | None = None
    last_change: datetime | None = None
    transitions: int = 0
    syncs: int = 0
    notes: int = 0
    announced_stale: set[tuple[str, str]] = field(default_factory=set)
    # ``(tag, parent id)`` whose recompute is due but not made yet (the file was being
    # saved): see :func:`_due`
    cascade_pending: set[tuple[str, str]] = field(default_factory=set)
    cascade_error: str | None = None  # the last one logged
    gone: bool = False  # the project folder no longer exists (logged once)
    caught_up: bool = False  # the first look and drain after opening are done


class Engine:
    """The daemon's per-project state; every method but :attr:`recorder` runs on the
    engine thread."""

    def __init__(
        self,
        recorder: Recorder | None = None,
        *,
        recheck: Callable[[Path, float], None] | None = None,
    ) -> None:
        self._recorder = recorder
        # asks for another look at a project's tasks.json in so many seconds (the daemon's
        # timer); without one, the periodic reconcile looks again
        self._recheck = recheck
        self._recorder_error: str | None = None
        self._recorder_lock = threading.Lock()
        self._projects: dict[Path, ProjectState] = {}
        self._thread: int | None = None  # the thread that handles events (the engine's)
        self.notifier = notify.Notifier()

    # -- resources ------------------------------------------------------

    @property
    def recorder(self) -> Recorder | None:
        """The metrics recorder, opened on first use; None while the database is unusable."""
        if self._recorder is not None:
            return self._recorder
        with self._recorder_lock:  # the engine thread and the scheduler may ask at once
            if self._recorder is None:
                from tmxd.metrics.recorder import Recorder

                try:
                    self._recorder = Recorder.open()
                except TmxdError as exc:
                    if exc.message != self._recorder_error:
                        log.error("metrics are not recorded until this is fixed: %s", exc.message)
                    self._recorder_error = exc.message
                    return None
                if self._recorder_error:
                    log.info("the metrics database works again")
                    self._recorder_error = None
            return self._recorder

    def job_log(self) -> JobLog | None:
        return self.recorder

    def close(self) -> None:
        self.notifier.close()
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None

    # -- projects -------------------------------------------------------

    def open(self, root: Path) -> Project | None:
        """Load (or refresh) the project at ``root``; None when it cannot be loaded.

        A project that was loaded before and now fails to load stays as it was (the
        error shows in ``tmxd status``). The daemon watches what this returns, then
        calls :meth:`catch_up`, so nothing falls between.
        """
        from tmxd.taskmaster.project import find_project

        known = self._projects.get(root)
        if known is not None and self._gone(known):
            return known.project
        try:
            if not root.is_dir():
                raise TmxdError(gone_message(root))
            project = find_project(explicit=root)
            config = DAEMON.load(project.root)
        except TmxdError as exc:
            if known is None or known.error != exc.message:
                log.error("%s", exc.message)
            if known is not None:
                known.error = exc.message
            return known.project if known else None
        state = self._projects.get(root)
        if state is None:
            state = self._projects[root] = ProjectState(project, SnapshotLedger(root), config)
        else:
            state.project, state.config = project, config
        self._load_notify(state)
        return project

    def _load_notify(self, state: ProjectState) -> None:
        """The project's ``[notify]`` table; an invalid one turns the commands off (logged once)."""
        try:
            state.notify = notify.load(state.project.root)
        except TmxdError as exc:
            if exc.message != state.notify_error:
                log.error("%s (no [notify] command runs until this is fixed)", exc.message)
            state.notify_error = exc.message
            state.notify = notify.NotifyConfig(command=[])
            return
        state.notify_error = None

    def tell(self, state: ProjectState, notice: notify.Notice) -> None:
        """Run the project's ``[notify]`` command for ``notice`` (on the notifier's thread)."""
        self.notifier.send(state.notify, notice)

    def autopilot_event(self, root: Path, kind: str, data: dict[str, Any]) -> None:
        """An event of an autopilot pass (on its worker thread): tell the user about the
        ones ``[notify]`` knows (``autopilot-done``, ``autopilot-blocked``, ``breaker-open``)."""
        state = self._projects.get(root)
        notice = notify.from_autopilot(root, kind, data)
        if state is not None and notice is not None:
            self.tell(state, notice)

    def catch_up(self, root: Path) -> None:
        """Record edits and drain commits made while nobody was watching."""
        self._thread = threading.get_ident()
        state = self._projects.get(root)
        if state is not None and not self._gone(state):
            self._observe(state, "external")
            self._sync(state)
            state.caught_up = True

    def forget(self, root: Path) -> None:
        self._projects.pop(root, None)

    def project(self, root: Path) -> Project | None:
        """The loaded project at ``root`` (None until :meth:`open` succeeded)."""
        state = self._projects.get(root)
        return state.project if state else None

    def states(self) -> list[ProjectState]:
        """Every loaded project's state (for the scheduled jobs)."""
        return list(self._projects.values())

    def handle(self, event: ProjectEvent) -> None:
        """React to one event of a watched project."""
        self._thread = threading.get_ident()
        state = self._projects.get(event.root)
        if state is None or self._gone(state):
            return
        match event:
            case ConfigChanged():
                try:
                    state.config = DAEMON.load(state.project.root)
                except TmxdError as exc:
                    log.error("%s (keeping the previous [daemon] settings)", exc.message)
                self._load_notify(state)
            case TasksFileChanged():
                self._observe(state, "external")
            case HooksSpooled() | HeadMoved():
                self._sync(state)

    def reconcile(self, root: Path) -> None:
        """The periodic safety net: anything the OS failed to tell us gets picked up here."""
        if root not in self._projects and self.open(root) is None:
            return
        self.catch_up(root)

    def describe(self, root: Path) -> dict[str, Any]:
        state = self._projects.get(root)
        if state is None:
            if not root.is_dir():
                return {"error": gone_message(root), "gone": True}
            return {"error": "not loaded (see the daemon log)"}
        return {
            "gone": state.gone,
            "tasks_path": str(state.project.tasks_path),
            "baseline": state.ledger.path.exists(),
            # what was written while nobody watched is recorded and drained: a change
            # made from now on is seen as one
            "caught_up": state.caught_up,
            "error": state.error,
            "sync_error": state.sync_error,
            "last_change": clock.iso_ms(state.last_change) if state.last_change else None,
            # recorded by the engine (once logged) and by its autopilot mode's passes
            "transitions": state.transitions + self._autopilot_transitions(root),
            "syncs": state.syncs,
            "notes": state.notes,
        }

    def _autopilot_transitions(self, root: Path) -> int:
        """Transitions recorded through the shared recorder by other threads than the
        engine's: the autopilot mode's passes (their outside edits seen first, their
        status changes, their commits' closes). The engine counts its own once logged."""
        recorder = self._recorder  # never opened here: `tmxd status` must not wait on it
        if recorder is None:
            return 0
        return recorder.transitions_stored(root, except_thread=self._thread)

    # -- internals ------------------------------------------------------

    def _gone(self, state: ProjectState) -> bool:
        """Whether the project folder no longer exists: then nothing is looked at (its
        spool went with it), and the log (once) and ``tmxd status`` say what to do."""
        root = state.project.root
        if root.is_dir():
            if state.gone:
                log.info("%s: the project folder is back", root)
                state.gone, state.error, state.logged_error = False, None, None
            return False
        if not state.gone:
            log.error("%s", gone_message(root))
            state.gone = True
        state.error = state.logged_error = gone_message(root)
        return True

    def _observe(self, state: ProjectState, source: str) -> None:
        with state.ledger.locked():
            # without a database the changes wait in the ledger's outbox until it works
            result = observe(state.project.tasks_path, state.ledger, self.recorder, source=source)
        self._outside(state, result)
        if result.error is None and state.sync_error is not None:
            # commits spooled while tasks.json could not be read: their notes now, not at
            # the next reconcile
            self._sync(state)

    def _outside(self, state: ProjectState, result: Observation) -> None:
        """Report what was changed outside tmxd; with ``cascade_external``, follow it up."""
        self._report(state, result, "external")
        if state.config.cascade_external and result.error is None:
            due = _due(state.cascade_pending, result.transitions)
            if due:
                self._cascade(state, due)
            else:
                state.cascade_pending = due  # a later edit set those parents itself

    def _cascade(self, state: ProjectState, due: set[tuple[str, str]]) -> None:
        """Recompute the parents of subtasks edited outside tmxd, as ``set-status`` would.

        One locked, minimal write (:func:`tmxd.taskmaster.ops.recompute_parents`, the one
        cascade rule), recorded as ``cascade``. Never inside the half-written grace window
        of the edit, never over a file that does not parse (then it is made at the next
        valid look); edits that arrive meanwhile are recorded first (``external``) and
        folded in by the same rule, in the order they were seen (:func:`_due`): a parent
        one of them set itself is left as it was written. The daemon then sees its own
        write with the snapshot already up to date: nothing loops.
        """
        from tmxd.taskmaster import ops
        from tmxd.taskmaster.store import TaskStore

        project = state.project
        wait_settled(project.tasks_path)
        state.cascade_pending = due  # until the write is made
        scope = None
        try:
            with attributed(project.root, project.tasks_path, "cascade", self.recorder) as scope:
                before = scope.before
                if before is not None and before.error is None:
                    # the edits seen now are recorded: they stay folded in if the write fails
                    state.cascade_pending = due = _due(due, before.transitions)
                    if due:
                        ops.recompute_parents(TaskStore(project), sorted(due))
                    state.cascade_pending, state.cascade_error = set(), None
        except TmxdError as exc:
            if exc.message != state.cascade_error:
                log.error("%s (parent statuses not recomputed yet)", exc.message)
            state.cascade_error = exc.message
        if scope is not None and scope.before is not None:
            self._report(state, scope.before, "external")
        if scope is not None and scope.after is not None:
            self._report(state, scope.after, "cascade")

    def _report(self, state: ProjectState, result: Observation, source: str) -> None:
        root = state.project.root
        if result.error:
            state.error = result.error
            if result.error == state.logged_error:
                return
            young = _written_within(state.project.tasks_path, INVALID_GRACE)
            seen = result.written_before
            if young is None and seen is not None and seen < INVALID_GRACE:
                # read moments after a write, reported only now (a sync ran first, the
                # machine was busy): what was read may be a save under way; look again
                log.debug("%s (read %.1f s after a write; looking again)", result.error, seen)
                if self._recheck is not None:
                    self._recheck(root, 0.1)
                return
            if young is not None:
                # a writer truncated the file and has not finished writing it (an editor's
                # non-atomic save, a loaded machine): its write is the next change; if none
                # comes, the file is looked at again once the grace period has passed
                log.debug("%s (written %.1f s ago; looking again later)", result.error, young)
                if self._recheck is not None:
                    self._recheck(root, INVALID_GRACE - young + 0.1)
                return
            log.error("%s (waiting for the next change; the file is left as it is)", result.error)
            if self.recorder is not None:
                self.recorder.event(root, "tasks-invalid", {"error": result.error})
            state.logged_error = result.error
            return
        if state.logged_error:
            log.info("%s: readable again", state.project.tasks_path)
        state.error = state.logged_error = None
        if not result.changed:
            return
        if result.first:
            log.info("%s: baseline snapshot taken", state.project.tasks_path)
        for change in result.transitions:
            log.info(
                "%s: task %s%s %s -> %s (%s)",
                root,
                change.task_id,
                "" if change.tag == "master" else f" [{change.tag}]",
                change.old or "(new)",
                change.new,
                source,
            )
            state.transitions += 1
        self._unblocked(state, result.unblocked)
        state.last_change = clock.now()

    def _unblocked(self, state: ProjectState, unblocked: list[Unblocked]) -> None:
        """Announce tasks whose dependencies just became done; tell ``[notify]``."""
        root = state.project.root
        for item in unblocked:
            if state.config.announce_unblocked:
                log.info("%s: task %s is now unblocked: %s", root, item.task_id, item.title)
            self.tell(state, notify.task_ready(root, item.task_id, item.title, item.tag))

    def _sync(self, state: ProjectState) -> None:
        """Drain the hook spool: notes and closes written for commits.

        ``sync_project`` records its own transitions (source ``commit``) with the
        snapshot ledger's step, so the write is not seen again as an edit.
        """
        from tmxd.commits.sync import sync_project

        root = state.project.root
        try:
            with attributed(
                root, state.project.tasks_path, "commit", self.recorder, others="external"
            ) as scope:
                result = sync_project(state.project, self.recorder, record_status=scope.record)
        except ChangedMeanwhile:
            # an editor's save landed between the read and the write: it stands, and its
            # change event (queued behind this) records it and then drains the spool again
            log.info(
                "%s: saved by another program while commit notes were written; "
                "they are written once that save is recorded",
                state.project.tasks_path,
            )
            state.sync_error = SAVED_MEANWHILE
            return
        except TmxdError as exc:
            if exc.message != state.sync_error:
                if isinstance(exc, NotARepository):  # a project may live outside git
                    log.warning(
                        "%s: not in a git repository: its commits cannot be linked to tasks "
                        "(`git init`, then `tmxd hooks install`)",
                        root,
                    )
                else:
                    log.error("%s (commits stay in the spool until this is fixed)", exc.message)
            state.sync_error = exc.message
            return
        if state.sync_error:
            if state.sync_error != SAVED_MEANWHILE:
                log.info("%s: commit linking works again", root)
            state.sync_error = None
        for obs in (scope.before, scope.after):
            if obs is not None:
                self._outside(state, obs)
        for level, text in _sync_lines(result):
            log.log(level, "%s: %s", root, text)
        self._unblocked(state, scope.unblocked)  # by the commits' closes
        # counted once logged: `tmxd status` never shows what the log does not have yet
        state.transitions += len(result.closed)
        state.notes += len(result.notes_added)
        state.syncs += 1


def _sync_lines(result: SyncResult) -> list[tuple[int, str]]:
    """What the engine logs about one drain of the spool: ``(level, message)``."""
    info, warning = logging.INFO, logging.WARNING
    lines: list[tuple[int, str]] = []
    for n in result.notes_added:
        only = " (the only task in progress)" if n.inferred else ""
        lines.append((info, f"note for commit {n.sha[:7]} added to task {n.task_id}{only}"))
    for u in result.unlinked:
        lines.append(
            (
                info,
                f"commit {u.sha[:7]} names no task and {u.in_progress} tasks are in progress: "
                "linked to none",
            )
        )
    for t in result.misread:
        lines.append(
            (
                info,
                f"commit {t.sha[:7]}: {t.written!r} is not read as a task link; "
                f"tmxd reads {t.meant!r}",
            )
        )
    for m in result.notes_moved:
        lines.append(
            (info, f"note of task {m.task_id} moved from {m.old_sha[:7]} to {m.new_sha[:7]}")
        )
    for kept in result.notes_kept:
        lines.append((info, f"note of task {kept.task_id} stays on {kept.old_sha[:7]}: {kept.why}"))
    for c in result.closed:
        lines.append(
            (info, f"task {c.task_id} {c.old_status} -> {c.new_status} (commit {c.sha[:7]})")
        )
    for k in result.unknown_ids:
        lines.append((warning, f"commit {k.sha[:7]} names task {k.task_id}, which does not exist"))
    lines.extend((warning, error) for error in result.errors)
    return lines


def _due(pending: set[tuple[str, str]], edit: list[Transition]) -> set[tuple[str, str]]:
    """The ``(tag, parent id)`` to recompute once ``edit`` (one observed outside edit) is
    folded into those already ``pending``.

    A parent is due when the edit changed the status of one of its subtasks (new subtasks
    aside) but not its own: an editor or an MCP server that set a subtask and left the
    parent. A parent whose own status the edit changed was set deliberately by the edit's
    author (a ``git checkout`` restoring a committed file, a hand edit of both) and is
    taken as written: it is not due, and no longer due for earlier edits either — the
    latest edit to touch a parent decides. A first look (the baseline) has no transitions:
    nothing is due, whatever the parents say.
    """
    subtasks = {(c.tag, c.task_id.split(".", 1)[0]) for c in edit if "." in c.task_id and c.old}
    parents = {(c.tag, c.task_id) for c in edit if "." not in c.task_id}
    return (pending | subtasks) - parents


def _written_within(path: Path, seconds: float) -> float | None:
    """How long ago ``path`` was written, when that is less than ``seconds``; else None."""
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return None
    return max(0.0, age) if age < seconds else None
