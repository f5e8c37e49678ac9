"""Observing a project: what changed in its tasks.json since the last look, recorded once.

The heart is :func:`observe`: read ``tasks.json``, diff it against the project's
last recorded snapshot (the ledger), record every status change as a transition
row ``(task, from, to, time, source)``, announce tasks whose dependencies just
became done, and store the new snapshot. A writer that wants its changes
attributed (``tmxd`` for the CLI, ``commit`` for commit trailers, ``autopilot``)
wraps its write in :func:`attributed`: changes made by anyone before are
recorded as ``external`` first, then the writer's own as its source.

An invalid or half-written ``tasks.json`` is never written over: the error (with
its position) is reported and the last good snapshot kept, so the next valid
version is diffed against it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tmxd import clock
from tmxd.errors import TmxdError
from tmxd.history.ledger import LastSnapshot, SnapshotLedger
from tmxd.history.snapshot import Transition, Unblocked, diff, newly_unblocked, snapshot_of

if TYPE_CHECKING:
    from tmxd.metrics.recorder import Recorder
    from tmxd.taskmaster.document import TasksFile

log = logging.getLogger("tmxd.history")

# A tasks.json younger than this that does not parse may still be being written.
HALF_WRITTEN_GRACE = 0.3


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
    ledger: SnapshotLedger,
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
            if not wait_settled(tasks_path):
                raise
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
        ledger.save(LastSnapshot(snap, digest, since))
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
    ledger.save(LastSnapshot(snap, digest, since))
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
    ledger = SnapshotLedger(project_root)
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


def wait_settled(path: Path) -> bool:
    """Wait until ``path`` is :data:`HALF_WRITTEN_GRACE` old; False when it already was.

    A file written a moment ago may be half written (a truncate-then-write save) or
    about to be written again: neither read it as final nor write over it before then.
    """
    young = HALF_WRITTEN_GRACE - _age(path)
    if young <= 0:
        return False
    time.sleep(young)
    return True


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0
