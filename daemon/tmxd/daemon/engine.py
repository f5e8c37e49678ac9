"""The engine: turn what changed in a project into transitions, notes and announcements.

Shared by the daemon and one-shot commands. The heart is :func:`observe`:
read ``tasks.json``, diff it against the last snapshot recorded for the
project (the *ledger*, a small JSON file in the state dir), record every status
change as a transition row ``(task, from, to, time, source)``, announce tasks
whose dependencies just became done, and store the new snapshot.

The ledger is taken under an exclusive lock, so several processes can observe
the same project without recording a transition twice. A writer that wants its
changes attributed (``tmxd`` for the CLI, ``commit`` for commit trailers,
``autopilot``) wraps its write in :func:`attributed`: changes made by anyone
before are recorded as ``external`` first, then the writer's own as its source.

An invalid or half-written ``tasks.json`` is never written over: the engine
reports the parse error (with its position) and keeps the last good snapshot,
so the next valid version is diffed against it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tmxd import clock, paths
from tmxd.daemon.settings import DAEMON, DaemonConfig
from tmxd.errors import TmxdError
from tmxd.fsutil import locked, write_atomic

if TYPE_CHECKING:
    from tmxd.daemon.schedule import JobLog
    from tmxd.daemon.watch import WatchSpec
    from tmxd.metrics.recorder import Recorder
    from tmxd.taskmaster.document import TasksFile
    from tmxd.taskmaster.project import Project

log = logging.getLogger("tmxd.engine")

DONE_LIKE = frozenset({"done", "completed"})
LEDGER_VERSION = 1
# A tasks.json younger than this that does not parse may still be being written.
HALF_WRITTEN_GRACE = 0.3
# An empty tasks.json younger than this is not reported yet (the reconcile reports it later).
EMPTY_GRACE = 5.0


# --------------------------------------------------------------------------- snapshots


@dataclass(frozen=True)
class TaskState:
    status: str
    title: str
    deps: tuple[str, ...] = ()


Snapshot = dict[str, dict[str, TaskState]]  # tag -> task id ("5", "5.2") -> state


@dataclass(frozen=True)
class Transition:
    tag: str
    task_id: str
    old: str | None  # None: the task appeared
    new: str
    title: str


@dataclass(frozen=True)
class Unblocked:
    tag: str
    task_id: str
    title: str


def snapshot_of(tasks_file: TasksFile) -> Snapshot:
    """Every task's and subtask's status, title and dependencies, per tag."""
    snap: Snapshot = {}
    for tag in tasks_file.tag_names():
        states: dict[str, TaskState] = {}
        stack = list(reversed(tasks_file.tasks(tag)))
        while stack:
            task = stack.pop()
            states[str(task.id)] = TaskState(
                str(task.status), str(task.title or ""), tuple(str(d) for d in task.dependencies)
            )
            stack.extend(reversed(task.subtasks))
        snap[tag] = states
    return snap


def diff(before: Snapshot, after: Snapshot) -> list[Transition]:
    """Status changes from ``before`` to ``after``; new tasks come with ``old=None``."""
    changes: list[Transition] = []
    for tag, states in after.items():
        previous = before.get(tag, {})
        for task_id, state in states.items():
            prior = previous.get(task_id)
            if prior is None:
                changes.append(Transition(tag, task_id, None, state.status, state.title))
            elif prior.status != state.status:
                changes.append(Transition(tag, task_id, prior.status, state.status, state.title))
    return changes


def newly_unblocked(before: Snapshot, after: Snapshot) -> list[Unblocked]:
    """Pending tasks whose dependencies are all done now but were not all done before."""
    found: list[Unblocked] = []
    for tag, states in after.items():
        previous = before.get(tag)
        if previous is None:
            continue
        done_now = {i for i, s in states.items() if s.status in DONE_LIKE}
        done_before = {i for i, s in previous.items() if s.status in DONE_LIKE}
        for task_id, state in states.items():
            if state.status != "pending" or not state.deps or task_id not in previous:
                continue
            if all(d in done_now for d in state.deps) and not all(
                d in done_before for d in state.deps
            ):
                found.append(Unblocked(tag, task_id, state.title))
    return found


# --------------------------------------------------------------------------- the ledger


@dataclass
class LedgerData:
    snapshot: Snapshot
    digest: str  # sha256 of the tasks.json text the snapshot was taken from
    since: dict[str, str] = field(default_factory=dict)  # "tag\tid" -> ISO time entered status


class Ledger:
    """The last recorded snapshot of one project, in ``<state>/snapshots/``."""

    def __init__(self, root: Path) -> None:
        key = hashlib.sha256(str(root).encode()).hexdigest()[:20]
        folder = paths.ensure_private_dir(paths.state_dir() / "snapshots")
        self.root = root
        self.path = folder / f"{key}.json"
        self._lock_path = folder / f"{key}.lock"
        self._cache: tuple[tuple[int, int, int], LedgerData] | None = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with locked(self._lock_path):
            yield

    def load(self) -> LedgerData | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            data = LedgerData(
                snapshot={
                    tag: {tid: TaskState(s[0], s[1], tuple(s[2])) for tid, s in tasks.items()}
                    for tag, tasks in raw["tags"].items()
                },
                digest=str(raw.get("digest", "")),
                since=dict(raw.get("since", {})),
            )
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning(
                "%s: unreadable snapshot (%s); starting from the current file", self.path, exc
            )
            return None
        self._cache = (key, data)
        return data

    def save(self, data: LedgerData) -> None:
        raw = {
            "version": LEDGER_VERSION,
            "root": str(self.root),
            "digest": data.digest,
            "tags": {
                tag: {tid: [s.status, s.title, list(s.deps)] for tid, s in tasks.items()}
                for tag, tasks in data.snapshot.items()
            },
            "since": data.since,
        }
        text = json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
        write_atomic(self.path, text, mode=0o600)
        st = self.path.stat()
        self._cache = ((st.st_mtime_ns, st.st_size, st.st_ino), data)


# --------------------------------------------------------------------------- observing


@dataclass
class Observation:
    """What one look at ``tasks.json`` found."""

    transitions: list[Transition] = field(default_factory=list)
    unblocked: list[Unblocked] = field(default_factory=list)
    error: str | None = None  # the file does not parse (message names file, line, column)
    first: bool = False  # no earlier snapshot: this one is the baseline
    changed: bool = False
    recorded_by_writer: list[Transition] = field(default_factory=list)  # skipped here


def read_tasks(tasks_path: Path) -> tuple[str, TasksFile]:
    """The text and parsed form of ``tasks.json``; :class:`TmxdError` when it is invalid."""
    from tmxd.taskmaster.document import parse_tasks

    try:
        text = tasks_path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise TmxdError(f"{tasks_path}: file is missing") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise TmxdError(f"{tasks_path}: cannot read: {exc}") from exc
    return text, parse_tasks(text, tasks_path)


def observe(
    tasks_path: Path,
    ledger: Ledger,
    recorder: Recorder | None,
    *,
    source: str = "external",
    at: datetime | None = None,
    recorded: Collection[tuple[str, str]] = (),
) -> Observation:
    """Diff ``tasks.json`` against the ledger, record the changes as ``source``.

    The caller holds ``ledger.locked()``. A first look (no ledger yet) only
    takes the baseline; it records nothing. Changes listed in ``recorded``
    (``(task id, new status)``) were recorded by their writer and are skipped.
    A file that does not parse and was written a moment ago may be half
    written: it is read once more after :data:`HALF_WRITTEN_GRACE`.
    """
    result = Observation()
    try:
        try:
            text, tasks_file = read_tasks(tasks_path)
        except TmxdError:
            young = HALF_WRITTEN_GRACE - _age(tasks_path)
            if young <= 0:
                raise
            time.sleep(young)
            text, tasks_file = read_tasks(tasks_path)
    except TmxdError as exc:
        result.error = exc.message
        return result
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    previous = ledger.load()
    if previous is not None and previous.digest == digest:
        return result
    snap = snapshot_of(tasks_file)
    moment = at or clock.now()
    result.changed = True
    if previous is None:
        result.first = True
        since = {f"{tag}\t{tid}": clock.iso_ms(moment) for tag, s in snap.items() for tid in s}
        ledger.save(LedgerData(snap, digest, since))
        return result
    result.transitions = diff(previous.snapshot, snap)
    result.unblocked = newly_unblocked(previous.snapshot, snap)
    since = dict(previous.since)
    for change in result.transitions:
        since[f"{change.tag}\t{change.task_id}"] = clock.iso_ms(moment)
    live = {f"{tag}\t{tid}" for tag, s in snap.items() for tid in s}
    since = {k: v for k, v in since.items() if k in live}
    skip = set(recorded)
    result.recorded_by_writer = [c for c in result.transitions if (c.task_id, c.new) in skip]
    if recorder is not None:
        for change in result.transitions:
            if (change.task_id, change.new) in skip:
                continue
            recorder.transition(
                ledger.root,
                change.task_id,
                change.old,
                change.new,
                source,
                tag=change.tag,
                at=moment,
                title=change.title,
            )
        for item in result.unblocked:
            recorder.event(
                ledger.root,
                "task-unblocked",
                {"task_id": item.task_id, "tag": item.tag, "title": item.title},
                at=moment,
            )
    ledger.save(LedgerData(snap, digest, since))
    return result


@dataclass
class Attribution:
    """What :func:`attributed` saw; the writer lists here what it recorded itself."""

    before: Observation | None = None
    after: Observation | None = None
    recorded: set[tuple[str, str]] = field(default_factory=set)


@contextlib.contextmanager
def attributed(
    project_root: Path,
    tasks_path: Path,
    source: str,
    recorder: Recorder | None,
    *,
    others: str | None = None,
) -> Iterator[Attribution]:
    """Wrap a write to ``tasks.json`` so the daemon does not take it for an outside edit.

    Edits made by anyone before are recorded first (as ``external``). After the
    block, changes the writer put in ``Attribution.recorded`` (``(task id, new
    status)``, because it recorded them itself) are skipped and every other
    change is recorded as ``others`` (default: ``source``). A writer that knows
    exactly what it changed passes ``others="external"``. Observers in other
    processes wait on the ledger lock meanwhile.
    """
    ledger = Ledger(project_root)
    scope = Attribution()
    with ledger.locked():
        scope.before = observe(tasks_path, ledger, recorder, source="external")
        yield scope
        scope.after = observe(
            tasks_path, ledger, recorder, source=others or source, recorded=scope.recorded
        )


@contextlib.contextmanager
def recording(project_root: Path, tasks_path: Path, source: str) -> Iterator[Attribution | None]:
    """:func:`attributed` for one-shot commands (``tmxd set-status``): opens the database itself.

    Without a usable metrics database it yields None and records nothing; whoever observes
    the project next (the daemon) then records the change as ``external``.
    """
    from tmxd.metrics.recorder import Recorder

    try:
        recorder = Recorder.open()
    except TmxdError as exc:
        log.warning("transitions not recorded: %s", exc.message)
        yield None
        return
    with recorder, attributed(project_root, tasks_path, source, recorder) as scope:
        yield scope


# --------------------------------------------------------------------------- the daemon's engine


@dataclass
class ProjectState:
    project: Project
    spec: WatchSpec
    ledger: Ledger
    config: DaemonConfig
    error: str | None = None  # the current parse error (shown by `tmxd status`)
    logged_error: str | None = None  # the last one logged (each is logged once)
    sync_error: str | None = None
    last_change: datetime | None = None
    transitions: int = 0
    syncs: int = 0
    notes: int = 0
    announced_stale: set[tuple[str, str]] = field(default_factory=set)


class Engine:
    """The daemon's per-project state; every method runs on the engine thread."""

    def __init__(self, recorder: Recorder | None = None) -> None:
        self._recorder = recorder
        self._recorder_error: str | None = None
        self._recorder_lock = threading.Lock()
        self._projects: dict[Path, ProjectState] = {}

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
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None

    # -- projects -------------------------------------------------------

    def open(self, root: Path) -> WatchSpec | None:
        """Load (or refresh) a project; returns what to watch, None when it cannot be loaded.

        Call :meth:`catch_up` once the watch is in place, so nothing falls between.
        """
        from tmxd.daemon.watch import WatchSpec
        from tmxd.taskmaster.project import find_project

        try:
            project = find_project(explicit=root)
            config = DAEMON.load(project.root)
        except TmxdError as exc:
            known = self._projects.get(root)
            if known is None or known.error != exc.message:
                log.error("%s", exc.message)
            if known is not None:
                known.error = exc.message
            return known.spec if known else None
        spec = WatchSpec.for_project(root, project.tasks_path, spool_path=_spool_path(root))
        state = self._projects.get(root)
        if state is None:
            state = ProjectState(project, spec, Ledger(root), config)
            self._projects[root] = state
        else:
            state.project, state.spec, state.config = project, spec, config
        return spec

    def catch_up(self, root: Path) -> None:
        """Record edits and drain commits made while nobody was watching."""
        state = self._projects.get(root)
        if state is not None:
            self._observe(state, "external")
            self._sync(state)

    def forget(self, root: Path) -> None:
        self._projects.pop(root, None)

    def spec(self, root: Path) -> WatchSpec | None:
        state = self._projects.get(root)
        return state.spec if state else None

    def project(self, root: Path) -> Project | None:
        """The loaded project at ``root`` (None until :meth:`open` succeeded)."""
        state = self._projects.get(root)
        return state.project if state else None

    def handle(self, root: Path, kinds: frozenset[str]) -> None:
        """React to a debounced change of ``kinds`` in the project at ``root``."""
        state = self._projects.get(root)
        if state is None:
            return
        if "config" in kinds:
            try:
                state.config = DAEMON.load(state.project.root)
            except TmxdError as exc:
                log.error("%s (keeping the previous [daemon] settings)", exc.message)
        if kinds & {"tasks", "state"}:
            self._observe(state, "external")
        if kinds & {"spool", "git"}:
            self._sync(state)

    def reconcile(self, root: Path) -> None:
        """The periodic safety net: anything the OS failed to tell us gets picked up here."""
        if root not in self._projects and self.open(root) is None:
            return
        self.catch_up(root)

    def describe(self, root: Path) -> dict[str, Any]:
        state = self._projects.get(root)
        if state is None:
            return {"error": "not loaded (see the daemon log)"}
        return {
            "tasks_path": str(state.project.tasks_path),
            "baseline": state.ledger.path.exists(),
            "error": state.error,
            "sync_error": state.sync_error,
            "last_change": clock.iso_ms(state.last_change) if state.last_change else None,
            "transitions": state.transitions,
            "syncs": state.syncs,
            "notes": state.notes,
        }

    def jobs(self) -> list[tuple[str, Callable[[], object], str, dict[str, Any], bool]]:
        """Scheduled jobs: ``(name, func, trigger, trigger args, record the run)``.

        The metrics jobs record their own runs (per project for the report).
        """
        return [
            ("stale-in-progress", self.stale_check, "interval", {"hours": 1}, True),
            ("daily-report", self.daily_reports, "interval", {"hours": 1}, False),
            ("retention", self.retention, "cron", {"hour": 3, "minute": 17}, False),
        ]

    def _states(self) -> list[ProjectState]:
        return list(self._projects.values())

    def stale_check(self) -> str:
        """Announce tasks in progress for longer than ``[metrics] stale_hours`` (once each)."""
        from tmxd.metrics.settings import METRICS

        now = clock.now()
        found = 0
        for state in self._states():
            data = state.ledger.load()
            if data is None:
                continue
            try:
                limit = METRICS.load(state.project.root).stale_hours
            except TmxdError as exc:
                log.error("%s", exc.message)
                continue
            for key, entered in data.since.items():
                tag, task_id = key.split("\t", 1)
                task = data.snapshot.get(tag, {}).get(task_id)
                if task is None or task.status != "in-progress":
                    continue
                age = (now - _parse_time(entered)).total_seconds() / 3600
                if age < limit:
                    continue
                found += 1
                if (key, entered) in state.announced_stale:
                    continue
                state.announced_stale.add((key, entered))
                log.warning(
                    "%s: task %s (%s) has been in progress for %.1f h",
                    state.project.root,
                    task_id,
                    task.title,
                    age,
                )
                if self.recorder is not None:
                    self.recorder.event(
                        state.project.root,
                        "task-stale",
                        {
                            "task_id": task_id,
                            "tag": tag,
                            "title": task.title,
                            "hours": round(age, 1),
                        },
                    )
        return f"{found} stale task(s)"

    def daily_reports(self) -> str:
        """Write each project's daily report once per local day (metrics decides the content)."""
        from tmxd.metrics import jobs

        recorder = self.recorder
        if recorder is None:
            return "no metrics database"
        written = []
        for state in self._states():
            root = state.project.root
            try:
                if jobs.daily_report_due(root, recorder):
                    path = jobs.daily_report_job(root, recorder)
                    if path is not None:
                        written.append(str(path))
                        log.info("%s: daily report written to %s", root, path)
            except Exception as exc:
                log.error("%s: the daily report failed: %s", root, exc)
        return ", ".join(written) or "nothing due"

    def retention(self) -> str:
        """Prune old metrics rows; the longest retention of the watched projects wins."""
        from tmxd.metrics import jobs
        from tmxd.metrics.settings import METRICS

        recorder = self.recorder
        if recorder is None:
            return "no metrics database"
        days: list[int] = []
        for state in self._states():
            try:
                days.append(METRICS.load(state.project.root).retention_days)
            except TmxdError as exc:
                log.error("%s", exc.message)
        keep = 0 if not days or 0 in days else max(days)
        deleted = jobs.retention_job(recorder, keep)
        return ", ".join(f"{t} {n}" for t, n in deleted.items() if n) or "nothing deleted"

    # -- internals ------------------------------------------------------

    def _observe(self, state: ProjectState, source: str) -> None:
        recorder = self.recorder
        if recorder is None and state.ledger.path.exists():
            return  # keep the snapshot: the changes are recorded once the database works
        with state.ledger.locked():
            result = observe(state.project.tasks_path, state.ledger, recorder, source=source)
        self._report(state, result, source)
        if state.config.cascade_external and result.transitions:
            self._cascade(state, result.transitions)

    def _cascade(self, state: ProjectState, changes: list[Transition]) -> None:
        """Recompute the parents of subtasks edited outside tmxd (recorded as ``tmxd``)."""
        parents = sorted({(c.tag, c.task_id.split(".", 1)[0]) for c in changes if "." in c.task_id})
        if not parents:
            return
        try:
            with attributed(
                state.project.root, state.project.tasks_path, "tmxd", self.recorder
            ) as scope:
                from tmxd.taskmaster import ops
                from tmxd.taskmaster.store import TaskStore

                ops.recompute_parents(TaskStore(state.project), parents)
        except TmxdError as exc:
            log.error("%s (parent statuses not recomputed)", exc.message)
            return
        if scope.after is not None:
            self._report(state, scope.after, "tmxd")

    def _report(self, state: ProjectState, result: Observation, source: str) -> None:
        root = state.project.root
        if result.error:
            state.error = result.error
            if result.error == state.logged_error:
                return
            if _emptied_just_now(state.project.tasks_path):
                # a writer truncated the file and has not written it yet (a loaded machine);
                # its write is the next change, and the reconcile reports a file left empty
                log.debug("%s", result.error)
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
        state.last_change = clock.now()
        if result.first:
            log.info("%s: baseline snapshot taken", state.project.tasks_path)
        for change in result.transitions:
            if change in result.recorded_by_writer:
                continue  # logged by the writer (e.g. a commit's Closes-Task)
            state.transitions += 1
            log.info(
                "%s: task %s%s %s -> %s (%s)",
                root,
                change.task_id,
                "" if change.tag == "master" else f" [{change.tag}]",
                change.old or "(new)",
                change.new,
                source,
            )
        if state.config.announce_unblocked:
            for item in result.unblocked:
                log.info("%s: task %s is now unblocked: %s", root, item.task_id, item.title)

    def _sync(self, state: ProjectState) -> None:
        """Drain the hook spool: notes and closes written for commits.

        ``sync_project`` records its own transitions (source ``commit``); the
        write is absorbed into the snapshot so it is not seen again as an edit.
        """
        from tmxd.commits.sync import sync_project

        try:
            with attributed(
                state.project.root,
                state.project.tasks_path,
                "commit",
                self.recorder,
                others="external",
            ) as scope:
                result = sync_project(state.project, self.recorder)
                scope.recorded.update((c.task_id, c.new_status) for c in result.closed)
        except TmxdError as exc:
            if exc.message != state.sync_error:
                log.error("%s (commits stay in the spool until this is fixed)", exc.message)
            state.sync_error = exc.message
            return
        if state.sync_error:
            log.info("%s: commit linking works again", state.project.root)
            state.sync_error = None
        for obs in (scope.before, scope.after):
            if obs is not None:
                self._report(state, obs, "external")
        state.syncs += 1
        state.notes += len(result.notes_added)
        for note in result.notes_added:
            log.info(
                "%s: note for commit %s added to task %s",
                state.project.root,
                note.sha[:7],
                note.task_id,
            )
        for moved in result.notes_moved:
            log.info(
                "%s: note of task %s moved from %s to %s",
                state.project.root,
                moved.task_id,
                moved.old_sha[:7],
                moved.new_sha[:7],
            )
        for closed in result.closed:
            state.transitions += 1
            log.info(
                "%s: task %s %s -> %s (commit %s)",
                state.project.root,
                closed.task_id,
                closed.old_status,
                closed.new_status,
                closed.sha[:7],
            )
        for unknown in result.unknown_ids:
            log.warning(
                "%s: commit %s names task %s, which does not exist",
                state.project.root,
                unknown.sha[:7],
                unknown.task_id,
            )
        for error in result.errors:
            log.warning("%s: %s", state.project.root, error)


def _spool_path(root: Path) -> Path | None:
    """The hook spool of the project's repository (its folder is created), None without git."""
    from tmxd.commits.sync import watch_dir

    try:
        return watch_dir(root) / "spool"
    except TmxdError:
        return None


def _emptied_just_now(path: Path) -> bool:
    """An empty file written in the last few seconds: most likely mid-write."""
    try:
        st = path.stat()
    except OSError:
        return False
    return st.st_size == 0 and time.time() - st.st_mtime < EMPTY_GRACE


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0
