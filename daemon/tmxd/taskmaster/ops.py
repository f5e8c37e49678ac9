"""Task Master operations with the CLI's semantics: set-status, update-subtask notes, next.

``set_status`` and ``append_note`` write through :class:`TaskStore.edit` (lock, re-read,
minimal diff); ``next_task`` reads an in-memory :class:`TasksFile`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tmxd import clock
from tmxd.errors import InputError
from tmxd.taskmaster.document import (
    DEFAULT_TAG,
    Task,
    TasksFile,
    build_subtask,
    build_task,
    display_path,
    js_string,
    raw_dependencies,
    raw_status,
    raw_subtasks,
    subtask_dep_id,
)
from tmxd.taskmaster.status import check_status, parent_status
from tmxd.taskmaster.store import TaskStore, retry_if_saved_meanwhile

PRIORITY_RANK: dict[str, int] = {"critical": 4, "high": 3, "medium": 2, "low": 1}


@dataclass(frozen=True)
class StatusChange:
    """One status change; ``old_status == new_status`` when the task already had it."""

    task_id: str
    old_status: str
    new_status: str

    @property
    def changed(self) -> bool:
        return self.old_status != self.new_status


def split_ids(ids: Iterable[str]) -> list[str]:
    """``["1,2", " 3.1"]`` → ``["1", "2", "3.1"]`` (comma lists as the CLI takes them)."""
    out: list[str] = []
    for item in ids:
        out.extend(part.strip() for part in str(item).split(",") if part.strip())
    return out


def resolve_tag(store: TaskStore, doc: TasksFile, tag: str | None) -> str:
    """The tag to act on in ``doc``; an unknown explicit tag is an input error."""
    if store.project is not None:
        return store.project.active_tag(tag, doc.tag_names())
    tags = doc.tag_names()
    if tag is not None:
        if tag not in tags and tags:
            raise InputError(
                f"tag '{tag}' is not in {display_path(doc.path)}; tags: {', '.join(tags)}"
            )
        return tag
    if DEFAULT_TAG in tags or not tags:
        return DEFAULT_TAG
    return tags[0]


def locate(
    doc: TasksFile, task_id: str, tag: str
) -> tuple[dict[str, Any] | None, dict[str, Any]] | None:
    """``(parent, task)`` raw objects for ``task_id`` (see :meth:`TasksFile.locate`)."""
    return doc.locate(task_id, tag)


def not_found(task_id: str, tag: str, doc: TasksFile) -> InputError:
    return InputError(
        f"task {task_id} not found in tag '{tag}' of {display_path(doc.path)}; "
        "`tmxd list --with-subtasks` shows the ids"
    )


@retry_if_saved_meanwhile
def set_status(
    store: TaskStore,
    ids: Sequence[str],
    status: str,
    tag: str | None = None,
    at: datetime | None = None,
) -> list[StatusChange]:
    """Set ``status`` on every id, as ``task-master set-status`` does, in one locked write.

    A task's change never cascades to its subtasks; a subtask's change recomputes its parent
    (see :func:`parent_status`), and a parent that changes is reported as one more
    :class:`StatusChange`. An id whose status is already ``status`` is reported unchanged and
    nothing is written for it. ``updatedAt`` is stamped only on objects that already have one.
    All ids are checked first: an unknown id changes nothing.
    """
    check_status(status)
    wanted = split_ids(ids)
    if not wanted:
        raise InputError("no task id given; pass --id 5 or --id 5.2,6")
    changes: list[StatusChange] = []
    with store.edit() as doc:
        active = resolve_tag(store, doc, tag)
        for task_id in wanted:
            if locate(doc, task_id, active) is None:
                raise not_found(task_id, active, doc)
        stamp = clock.iso_ms(at or clock.now())
        for task_id in wanted:
            found = locate(doc, task_id, active)
            assert found is not None
            parent, raw = found
            old = raw_status(raw)
            changes.append(StatusChange(task_id, old, status))
            if old == status:
                continue
            raw["status"] = status
            if "updatedAt" in raw:
                raw["updatedAt"] = stamp
            if parent is not None:
                cascaded = cascade_to_parent(parent, stamp, stamp_unchanged=True)
                if cascaded is not None:
                    changes.append(cascaded)
        doc.invalidate()
    return changes


def requested_changes(wanted: Sequence[str], changes: Sequence[StatusChange]) -> list[StatusChange]:
    """The changes of the requested ids (one each, in order), without recomputed parents."""
    out = []
    index = 0
    for change in changes:
        if index < len(wanted) and change.task_id == wanted[index]:
            out.append(change)
            index += 1
    return out


def cascade_to_parent(
    parent: dict[str, Any], stamp: str, *, stamp_unchanged: bool
) -> StatusChange | None:
    """Set a parent task's status from its subtasks', as ``task-master set-status`` does.

    The one cascade rule of tmxd (see :func:`parent_status`); returns the change, or None
    when the status stays. ``updatedAt`` is stamped on a parent that has one when its
    status changes, and with ``stamp_unchanged`` also when it does not (set-status does:
    one of its subtasks changed).
    """
    old = raw_status(parent)
    new = parent_status(old, [raw_status(s) for s in raw_subtasks(parent)])
    if "updatedAt" in parent and (stamp_unchanged or new != old):
        parent["updatedAt"] = stamp
    if new == old:
        return None
    parent["status"] = new
    return StatusChange(js_string(parent.get("id")), old, new)


@retry_if_saved_meanwhile
def recompute_parents(
    store: TaskStore, parents: Collection[tuple[str, str]], at: datetime | None = None
) -> list[StatusChange]:
    """Apply :func:`cascade_to_parent` to each ``(tag, parent id)``, in one locked write.

    For subtasks whose status someone else changed (an editor, Task Master's MCP server):
    nothing is written when no parent changes.
    """
    stamp = clock.iso_ms(at or clock.now())
    changes: list[StatusChange] = []
    with store.edit() as doc:
        for tag, parent_id in parents:
            found = doc.locate(parent_id, tag)
            if found is None or found[0] is not None:
                continue
            change = cascade_to_parent(found[1], stamp, stamp_unchanged=False)
            if change is not None:
                changes.append(change)
        doc.invalidate()
    return changes


def leaves_in_progress(doc: TasksFile, tag: str) -> list[str]:
    """Ids of the leaf tasks in progress in ``tag``: subtasks, and tasks without subtasks.

    A commit naming no task goes to the only one (``[links] infer_in_progress``), and the
    prepare-commit-msg hook suggests it.
    """
    return [
        leaf.id
        for task in doc.tasks(tag)
        for leaf in (task.subtasks or [task])
        if leaf.status == "in-progress"
    ]


def note_block(text: str, at: datetime) -> str:
    """Task Master's ``<info added on ISO>`` block around ``text``."""
    stamp = clock.iso_ms(at)
    return f"<info added on {stamp}>\n{text}\n</info added on {stamp}>"


@retry_if_saved_meanwhile
def append_note(
    store: TaskStore,
    task_id: str,
    text: str,
    tag: str | None = None,
    at: datetime | None = None,
) -> None:
    """Append ``text`` to the details of ``task_id`` the way ``update-subtask`` does.

    The block is ``<info added on ISO>\\n<text>\\n</info added on ISO>``, joined to existing
    details with one ``\\n``. A top-level id gets the same block in its own details.
    """
    body = text.strip()
    if not body:
        raise InputError("the note is empty; pass the text to add with --prompt")
    with store.edit() as doc:
        active = resolve_tag(store, doc, tag)
        found = locate(doc, task_id, active)
        if found is None:
            raise not_found(task_id, active, doc)
        raw = found[1]
        raw["details"] = with_note(raw.get("details"), note_block(body, at or clock.now()))
        doc.invalidate()


def working_on(tasks: Sequence[Task]) -> str | None:
    """The one task being worked on: the only in-progress leaf (an in-progress subtask
    stands for its parent); None when no task or several are in progress."""
    leaves: list[str] = []
    for task in tasks:
        subs = [s.id for s in task.subtasks if s.status == "in-progress"]
        if subs:
            leaves.extend(subs)
        elif task.status == "in-progress":
            leaves.append(task.id)
    return leaves[0] if len(leaves) == 1 else None


def with_note(details: Any, block: str) -> Any:
    """``details`` with ``block`` appended: after one ``\\n``, or as one more item of a list."""
    if isinstance(details, list):
        return [*details, block]
    if isinstance(details, str) and details:
        return details + "\n" + block
    return block


def js_number(text: str) -> float:
    """JavaScript's ``Number(text)`` for the id strings Task Master compares."""
    stripped = text.strip()
    if not stripped:
        return 0.0
    try:
        return float(stripped)
    except ValueError:
        return math.nan


def _cmp_number(a: float, b: float) -> int:
    diff = a - b
    if math.isnan(diff) or diff == 0:
        return 0  # JavaScript's sort treats a NaN comparison as equal
    return -1 if diff < 0 else 1


def _rank(priority: Any) -> int:
    return PRIORITY_RANK.get(priority, 2) if isinstance(priority, str) else 2


@dataclass(frozen=True)
class _Candidate:
    id: str
    rank: int
    deps: int
    raw: dict[str, Any]
    parent: dict[str, Any] | None


def _compare_subtasks(a: _Candidate, b: _Candidate) -> int:
    if a.rank != b.rank:
        return b.rank - a.rank
    if a.deps != b.deps:
        return a.deps - b.deps
    pa, sa = [*a.id.split("."), ""][:2]
    pb, sb = [*b.id.split("."), ""][:2]
    na, nb = js_number(pa), js_number(pb)
    if na == nb:
        return _cmp_number(js_number(sa), js_number(sb))
    return _cmp_number(na, nb)


def _compare_tasks(a: _Candidate, b: _Candidate) -> int:
    if a.rank != b.rank:
        return b.rank - a.rank
    if a.deps != b.deps:
        return a.deps - b.deps
    return _cmp_number(js_number(a.id), js_number(b.id))


def next_task(tasks_file: TasksFile, tag: str) -> Task | None:
    """The task to work on next, chosen exactly as ``task-master next`` (tm-core) chooses it:
    the first of :func:`ready_tasks`."""
    ranked = _ranked(tasks_file, tag)
    return _build(ranked[0]) if ranked else None


def ready_tasks(tasks_file: TasksFile, tag: str) -> list[Task]:
    """Every task ``task-master next`` could answer, best first (``next`` is the first).

    Only top-level tasks that are pending, in progress or done take part; only ``done``
    satisfies a dependency. First come the ready subtasks of in-progress tasks (pending or
    in progress, dependencies done; a bare subtask dependency is a sibling; the parent's
    own dependencies do not count), then the ready pending/in-progress top-level tasks.
    Within each group: priority (critical > high > medium > low), fewer dependencies,
    lower id.
    """
    return [_build(c) for c in _ranked(tasks_file, tag)]


def _build(candidate: _Candidate) -> Task:
    if candidate.parent is None:
        return build_task(candidate.raw)
    parent_priority = candidate.parent.get("priority")
    return build_subtask(
        candidate.raw,
        js_string(candidate.parent.get("id")),
        parent_priority if isinstance(parent_priority, str) and parent_priority else "medium",
    )


def _ranked(tasks_file: TasksFile, tag: str) -> list[_Candidate]:
    tasks = [
        t for t in tasks_file.task_dicts(tag) if raw_status(t) in ("pending", "in-progress", "done")
    ]
    done: set[str] = set()
    for task in tasks:
        tid = js_string(task.get("id"))
        if task.get("status") == "done":
            done.add(tid)
        for sub in raw_subtasks(task):
            if sub.get("status") == "done":
                done.add(f"{tid}.{js_string(sub.get('id'))}")
    subtasks: list[_Candidate] = []
    for task in tasks:
        if task.get("status") != "in-progress":
            continue
        tid = js_string(task.get("id"))
        for sub in raw_subtasks(task):
            if raw_status(sub).lower() not in ("pending", "in-progress"):
                continue
            deps = [subtask_dep_id(tid, d) for d in raw_dependencies(sub)]
            if all(d in done for d in deps):
                priority = sub.get("priority") or task.get("priority") or "medium"
                cid = f"{tid}.{js_string(sub.get('id'))}"
                subtasks.append(_Candidate(cid, _rank(priority), len(deps), sub, task))
    top: list[_Candidate] = []
    for task in tasks:
        if raw_status(task).lower() not in ("pending", "in-progress"):
            continue
        deps = [js_string(d) for d in raw_dependencies(task)]
        if all(d in done for d in deps):
            tid = js_string(task.get("id"))
            top.append(_Candidate(tid, _rank(task.get("priority")), len(deps), task, None))
    return sorted(subtasks, key=functools.cmp_to_key(_compare_subtasks)) + sorted(
        top, key=functools.cmp_to_key(_compare_tasks)
    )
