"""Observing a project: what changed in its tasks.json since the last look, recorded once.

The heart is :func:`observe`: read ``tasks.json``, diff it against the project's
last recorded snapshot (the ledger), record every status change as a transition
row ``(task, from, to, time, source)``, announce tasks whose dependencies just
became done, and advance the ledger in the same atomic write (its outbox, see
:mod:`tmxd.history.ledger`). A writer that wants its changes attributed (``tmxd``
for the CLI, ``commit`` for commit trailers, ``autopilot``) wraps its write in
:func:`attributed`: changes made by anyone before are recorded as ``external``
first, then the writer's own as its source.

An invalid or half-written ``tasks.json`` is never written over: the error (with
its position) is reported and the last good snapshot kept, so the next valid
version is diffed against it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tmxd import clock
from tmxd.errors import TmxdError
from tmxd.history.ledger import LastSnapshot, SnapshotLedger
from tmxd.history.snapshot import (
    Snapshot,
    TaskState,
    Transition,
    Unblocked,
    diff,
    newly_unblocked,
    snapshot_of,
)
from tmxd.metrics import records
from tmxd.taskmaster.store import file_age, wait_settled

if TYPE_CHECKING:
    from tmxd.metrics.recorder import Recorder
    from tmxd.metrics.records import Record
    from tmxd.taskmaster.document import TasksFile
    from tmxd.taskmaster.ops import StatusChange

log = logging.getLogger("tmxd.history")


@dataclass
class Observation:
    """What one look at ``tasks.json`` found."""

    transitions: list[Transition] = field(default_factory=list)
    unblocked: list[Unblocked] = field(default_factory=list)
    error: str | None = None  # the file does not parse (message names file, line, column)
    # with an error: how long before the read the file had been written (seconds)
    written_before: float | None = None
    first: bool = False  # no earlier snapshot: this one is the baseline
    changed: bool = False


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
    ledger: SnapshotLedger,
    recorder: Recorder | None,
    *,
    source: str = "external",
    at: datetime | None = None,
) -> Observation:
    """Diff ``tasks.json`` against the ledger, record the changes as ``source``.

    The caller holds ``ledger.locked()``. A first look (no ledger yet) records each
    task's status as a ``baseline`` row (where tmxd first saw it, not a change). A task
    gone from the file gets a transition to ``removed``. The records and the new
    snapshot are saved in one atomic write, then stored (see :mod:`.ledger`); without a
    recorder they wait in the ledger for the next observer that has one. A file that
    does not parse and was written a moment ago may be half written: it is read once
    more after :data:`~tmxd.taskmaster.store.HALF_WRITTEN_GRACE`.
    """
    result = Observation()
    try:
        try:
            text, tasks_file = read_tasks(tasks_path)
        except TmxdError:
            if not wait_settled(tasks_path):
                raise
            text, tasks_file = read_tasks(tasks_path)
    except TmxdError as exc:
        result.error = exc.message
        result.written_before = max(0.0, file_age(tasks_path))
        flush(ledger, recorder)
        return result
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    previous = ledger.load()
    if previous is not None and previous.digest == digest and previous.version >= 2:
        flush(ledger, recorder)
        return result
    snap = snapshot_of(tasks_file)
    moment = at or clock.now()
    stamp = clock.iso_ms(moment)
    root = ledger.root
    result.changed = previous is None or previous.digest != digest
    if previous is None or previous.version < 2:
        # what tmxd sees first (or saw before it kept baselines): where each task stands
        base = snap if previous is None else previous.snapshot
        since = {} if previous is None else previous.since
        outbox = [] if previous is None else list(previous.pending)
        outbox += [
            records.transition(
                root,
                tid,
                state.status,
                state.status,
                "baseline",
                tag=tag,
                at=_parse(since.get(f"{tag}\t{tid}")) or moment,
                title=state.title,
            )
            for tag, states in base.items()
            for tid, state in states.items()
        ]
        if previous is None:
            result.first = True
            live = {f"{tag}\t{tid}": stamp for tag, states in snap.items() for tid in states}
            _commit(ledger, LastSnapshot(snap, digest, live, outbox), recorder)
            return result
        previous = LastSnapshot(previous.snapshot, previous.digest, previous.since, outbox)
    result.transitions = diff(previous.snapshot, snap)
    result.unblocked = newly_unblocked(previous.snapshot, snap)
    outbox = list(previous.pending) + _records(
        root, result.transitions, result.unblocked, source, moment
    )
    _commit(
        ledger,
        LastSnapshot(snap, digest, _since(previous.since, result.transitions, snap, stamp), outbox),
        recorder,
    )
    return result


def advance(
    ledger: SnapshotLedger,
    recorder: Recorder | None,
    tag: str,
    changes: Sequence[StatusChange],
    source: str,
    at: datetime | None = None,
) -> tuple[list[Transition], list[Unblocked]]:
    """Record status changes a writer just made, advancing the ledger in the same step.

    For writers that know what they changed (a commit's ``Closes-Task``): each change
    is recorded once as ``source`` and the snapshot moves with it, so neither a later
    look nor a crash in between records it again. The caller holds ``ledger.locked()``
    (:func:`attributed` does). Returns the transitions recorded and the tasks they
    unblocked.
    """
    previous = ledger.load()
    if previous is None:
        return [], []  # no baseline yet: the next look takes the file as it is
    moment = at or clock.now()
    snap = {t: dict(states) for t, states in previous.snapshot.items()}
    states = snap.setdefault(tag, {})
    done: list[Transition] = []
    for change in changes:
        if not change.changed:
            continue
        prior = states.get(change.task_id)
        title = prior.title if prior is not None else ""
        deps = prior.deps if prior is not None else ()
        states[change.task_id] = TaskState(change.new_status, title, deps)
        done.append(Transition(tag, change.task_id, change.old_status, change.new_status, title))
    if not done:
        return [], []
    unblocked = newly_unblocked(previous.snapshot, snap)
    outbox = list(previous.pending) + _records(ledger.root, done, unblocked, source, moment)
    since = _since(previous.since, done, snap, clock.iso_ms(moment))
    # digest "": the file's text is not known here; the next look diffs it in full
    _commit(ledger, LastSnapshot(snap, "", since, outbox), recorder)
    return done, unblocked


def flush(ledger: SnapshotLedger, recorder: Recorder | None) -> None:
    """Store what the ledger's outbox holds (once a recorder is at hand), then empty it."""
    data = ledger.load()
    if data is None or not data.pending or recorder is None:
        return
    from tmxd.metrics.schema import MetricsError

    try:
        recorder.store(data.pending)
    except MetricsError as exc:
        log.warning("changes kept in %s until the database works: %s", ledger.path, exc.message)
        return
    ledger.save(LastSnapshot(data.snapshot, data.digest, data.since, []))


def _commit(ledger: SnapshotLedger, data: LastSnapshot, recorder: Recorder | None) -> None:
    ledger.save(data)  # the snapshot and its records, in one atomic write
    flush(ledger, recorder)


def _records(
    root: Path,
    changes: Sequence[Transition],
    unblocked: Sequence[Unblocked],
    source: str,
    moment: datetime,
) -> list[Record]:
    out = [
        records.transition(
            root, c.task_id, c.old, c.new, source, tag=c.tag, at=moment, title=c.title
        )
        for c in changes
    ]
    out += [
        records.event(
            root,
            "task-unblocked",
            {"task_id": item.task_id, "tag": item.tag, "title": item.title},
            at=moment,
        )
        for item in unblocked
    ]
    return out


def _since(
    before: dict[str, str], changes: Sequence[Transition], snap: Snapshot, stamp: str
) -> dict[str, str]:
    """When each task entered its status: ``stamp`` for the changed ones."""
    since = dict(before)
    for change in changes:
        since[f"{change.tag}\t{change.task_id}"] = stamp
    live = {f"{tag}\t{tid}" for tag, states in snap.items() for tid in states}
    return {k: v for k, v in since.items() if k in live}


def _parse(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class Attribution:
    """What :func:`attributed` saw; :meth:`record` records a writer's own changes."""

    ledger: SnapshotLedger
    recorder: Recorder | None
    source: str
    before: Observation | None = None
    after: Observation | None = None
    recorded: list[Transition] = field(default_factory=list)
    unblocked: list[Unblocked] = field(default_factory=list)  # by the recorded changes

    def record(self, tag: str, changes: Sequence[StatusChange]) -> None:
        """Record changes the writer made (as its source), advancing the ledger with them."""
        done, unblocked = advance(self.ledger, self.recorder, tag, changes, self.source)
        self.recorded += done
        self.unblocked += unblocked


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

    Edits made by anyone before are recorded first (as ``external``). Changes the
    writer records itself with :meth:`Attribution.record` are recorded at once; after
    the block every other change is recorded as ``others`` (default: ``source``). A
    writer that knows exactly what it changed passes ``others="external"``. Observers
    in other processes wait on the ledger lock meanwhile.
    """
    ledger = SnapshotLedger(project_root)
    scope = Attribution(ledger, recorder, source)
    with ledger.locked():
        scope.before = observe(tasks_path, ledger, recorder, source="external")
        yield scope
        scope.after = observe(tasks_path, ledger, recorder, source=others or source)


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
