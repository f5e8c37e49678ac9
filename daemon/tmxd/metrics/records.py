"""The rows tmxd records, as plain records: built anywhere, applied in one place.

A record is a JSON-ready dict: ``kind`` (which table), ``key`` (unique: applying a
record twice inserts it once), ``root`` (the project's root folder) and the row's
fields, timestamps already in their stored form. The same record goes straight to
the database (:class:`tmxd.metrics.recorder.Recorder`), waits in a snapshot
ledger's outbox, or is appended to the journal when the database is busy
(:mod:`tmxd.metrics.journal`); :func:`apply` is the only code that inserts it.

Building a record needs no database, so callers that cannot open one (yet) still
keep what happened.
"""

from __future__ import annotations

import functools
import json
import math
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tmxd import clock

if TYPE_CHECKING:  # building a record needs no sqlite3 (hooks journal without loading it)
    import sqlite3

Record = dict[str, Any]
ProjectIds = Callable[["sqlite3.Connection", str], int]

#: Who made a status change. ``baseline``: tmxd's first look at a task (not a change);
#: ``cascade``: the daemon recomputing a parent after an outside edit of its subtasks.
TRANSITION_SOURCES = ("tmxd", "external", "commit", "autopilot", "mcp", "baseline", "cascade")
#: The status a task gets in ``transitions`` when it leaves tasks.json.
REMOVED = "removed"


def new_key() -> str:
    """A unique key that sorts by creation time (so keys append to their index's end)."""
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


def stamp(moment: datetime | None) -> str:
    """A timestamp in its stored form (``2026-11-26T12:00:00.123Z``), default now."""
    return clock.iso_ms(moment or clock.now())


@functools.lru_cache(maxsize=64)
def _resolved(path: str) -> str:
    return str(Path(path).resolve())


def root_of(project: Path) -> str:
    """How a project is named in records: its resolved root folder."""
    return _resolved(str(project))


def transition(
    project: Path,
    task_id: str,
    old: str | None,
    new: str,
    source: str,
    *,
    tag: str = "master",
    at: datetime | None = None,
    title: str | None = None,
    key: str | None = None,
) -> Record:
    """A status change (``old`` None: the task appeared). A ``baseline`` record is applied
    only to a task with no row yet: it says in which status tmxd first saw it."""
    if source not in TRANSITION_SOURCES:
        raise ValueError(f"unknown transition source {source!r}")
    return {
        "kind": "transition",
        "key": key or new_key(),
        "root": root_of(project),
        "tag": tag,
        "task_id": str(task_id),
        "title": title,
        "old": old,
        "new": new,
        "source": source,
        "at": stamp(at),
    }


def event(
    project: Path,
    kind: str,
    data: dict[str, Any],
    *,
    at: datetime | None = None,
    key: str | None = None,
) -> Record:
    return {
        "kind": "event",
        "key": key or new_key(),
        "root": root_of(project),
        "event": kind,
        "data": json.dumps(data, ensure_ascii=False, sort_keys=True, default=str),
        "at": stamp(at),
    }


def tool_call(
    project: Path,
    session_id: str,
    tool: str,
    success: bool,
    duration_ms: float | None,
    task_id: str | None,
    *,
    at: datetime | None = None,
    key: str | None = None,
) -> Record:
    return {
        "kind": "tool_call",
        "key": key or new_key(),
        "root": root_of(project),
        "session_id": session_id,
        "task_id": None if task_id is None else str(task_id),
        "tool": tool,
        "success": bool(success),
        "duration_ms": finite(duration_ms),
        "at": stamp(at),
    }


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else None (stored as NULL): an
    infinity or a NaN stored in a REAL column would poison every sum and mean over it."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    return None


def hook_run(
    project: Path,
    hook: str,
    ok: bool,
    *,
    at: datetime | None = None,
    sha: str | None = None,
    linked: bool | None = None,
    duration_ms: float | None = None,
    detail: str = "",
    key: str | None = None,
) -> Record:
    """One hook run tmxd processed: a git hook's spool line, or a Claude Code hook call
    (``duration_ms``: the hook's own time, when it measured one)."""
    return {
        "kind": "hook_run",
        "key": key or new_key(),
        "root": root_of(project),
        "hook": hook,
        "at": stamp(at),
        "sha": sha,
        "linked": linked,
        "ok": bool(ok),
        "duration_ms": duration_ms,
        "detail": detail,
    }


def commit(
    project: Path,
    sha: str,
    subject: str,
    author: str,
    committed_at: datetime,
    files: int,
    insertions: int,
    deletions: int,
    branch: str | None,
    task_ids: Sequence[str],
    *,
    tag: str | None = None,
    at: datetime | None = None,
    merge: bool | None = None,
    taskmaster_only: bool | None = None,
) -> Record:
    """A commit and the tasks it names (ids in Task Master tag ``tag``); its key is its
    sha (one row per project and sha). ``merge``: a merge commit (never linked);
    ``taskmaster_only``: it changes only Task Master's files (never linked by inference);
    None when not known."""
    return {
        "kind": "commit",
        "key": sha,
        "root": root_of(project),
        "sha": sha,
        "subject": subject,
        "author": author,
        "committed_at": stamp(committed_at),
        "recorded_at": stamp(at),
        "files": files,
        "insertions": insertions,
        "deletions": deletions,
        "branch": branch,
        "task_ids": [str(t) for t in dict.fromkeys(task_ids)],
        "tag": tag,
        "merge": merge,
        "taskmaster_only": taskmaster_only,
    }


def commit_rewritten(project: Path, old: str, new: str) -> Record:
    """An amend or rebase replaced commit ``old`` by ``new``: the history no longer has
    ``old``, so neither do the metrics (its tasks' links go with it)."""
    return {
        "kind": "commit_rewritten",
        "key": f"rewrite:{old}:{new}",
        "root": root_of(project),
        "old": old,
        "new": new,
    }


def commit_gone(project: Path, sha: str) -> Record:
    """Commit ``sha`` is on no branch any more (``tmxd reject`` deleted the branch of work
    that was never merged): the history lost it with no commit in its place, so it leaves
    the metrics as a rewritten commit does — the same record, with no new sha."""
    return commit_rewritten(project, sha, "")


def job_run(
    name: str,
    started: datetime,
    finished: datetime,
    ok: bool,
    detail: str = "",
    project: Path | None = None,
    *,
    key: str | None = None,
) -> Record:
    return {
        "kind": "job_run",
        "key": key or new_key(),
        "root": None if project is None else root_of(project),
        "name": name,
        "started_at": stamp(started),
        "finished_at": stamp(finished),
        "ok": bool(ok),
        "detail": detail,
    }


# -- applying ------------------------------------------------------------------------

Row = tuple[Any, ...]
RowOf = Callable[[Record, Any], Row]  # a record and its project id -> the statement's values


def apply(conn: sqlite3.Connection, batch: Sequence[Record], project_id: ProjectIds) -> int:
    """Insert ``batch`` on ``conn`` (inside the caller's transaction); how many were new.

    A record whose key is already there (or a baseline whose task has rows) inserts
    nothing. The records of one kind go in one ``executemany``, kinds in :data:`_ORDER`:
    commits before the rewrites that remove them, baselines after every transition
    (a task with a recorded change needs no first-look row).
    """
    groups: dict[str, list[Record]] = {}
    for record in batch:
        groups.setdefault(_kind(record), []).append(record)
    unknown = set(groups) - set(_ORDER)
    if unknown:
        raise ValueError(f"unknown record kind {sorted(unknown)[0]!r}")
    from tmxd.metrics.schema import BULK_TOTALS  # its SQL is not needed to build records

    added = 0
    for kind in _ORDER:
        group = groups.get(kind)
        if not group:
            continue
        if kind == "commit":
            added += sum(_commit(conn, r, project_id(conn, r["root"])) for r in group)
            continue
        sql, row_of = _STATEMENTS[kind]
        rows = [row_of(r, _pid(conn, r, project_id)) for r in group]
        totals = BULK_TOTALS.get(_TABLES.get(kind, ""))
        if totals is not None:  # its running totals follow the batch, not each row
            last = conn.execute(f"SELECT max(id) FROM {totals.table}").fetchone()[0] or 0
        added += max(0, conn.executemany(sql, rows).rowcount)
        if totals is not None:
            conn.execute(totals.catch_up(), (last,))
    return added


def _pid(conn: sqlite3.Connection, r: Record, project_id: ProjectIds) -> Any:
    return None if r["root"] is None else project_id(conn, r["root"])


def _kind(record: Record) -> str:
    kind = str(record.get("kind"))
    return "baseline" if kind == "transition" and record["source"] == "baseline" else kind


_TRANSITION = "project_id, tag, task_id, title, old_status, new_status, source, at, key"


def _transition_row(r: Record, pid: int) -> Row:
    return (pid, r["tag"], r["task_id"], r["title"], r["old"], r["new"], r["source"], r["at"],
            r["key"])  # fmt: skip


def _baseline_row(r: Record, pid: int) -> Row:
    # plain ``?`` only: numbered ones with a sequence of values are deprecated (3.12)
    row = _transition_row(r, pid)
    return (*row, pid, r["tag"], r["task_id"])


def _commit(conn: sqlite3.Connection, r: Record, pid: int) -> bool:
    cur = conn.execute(
        "INSERT INTO commits (project_id, sha, subject, author, committed_at, recorded_at, "
        "files, insertions, deletions, branch, merge, taskmaster_only) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (project_id, sha) DO NOTHING",
        (
            pid,
            r["sha"],
            r["subject"],
            r["author"],
            r["committed_at"],
            r["recorded_at"],
            r["files"],
            r["insertions"],
            r["deletions"],
            r["branch"],
            _optional_flag(r.get("merge")),  # older journals: not known
            _optional_flag(r.get("taskmaster_only")),
        ),
    )
    if cur.rowcount == 0:
        return False
    conn.executemany(
        "INSERT OR IGNORE INTO commit_tasks (commit_id, project_id, task_id, tag) "
        "VALUES (?, ?, ?, ?)",
        [(cur.lastrowid, pid, t, r.get("tag")) for t in r["task_ids"]],  # older journals: none
    )
    return True


def _optional_flag(value: Any) -> int | None:
    return None if value is None else int(bool(value))


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


_TABLES = {
    "transition": "transitions",
    "baseline": "transitions",
    "tool_call": "tool_calls",
    "hook_run": "hook_runs",
}

_ORDER = (
    "commit",
    "commit_rewritten",
    "transition",
    "baseline",
    "event",
    "tool_call",
    "hook_run",
    "job_run",
)

# kind -> (statement, its values for a record and its project id)
_STATEMENTS: dict[str, tuple[str, RowOf]] = {
    "transition": (
        f"INSERT INTO transitions ({_TRANSITION}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (key) DO NOTHING",
        _transition_row,
    ),
    # where tmxd first saw a task: only for a task without rows
    "baseline": (
        f"INSERT INTO transitions ({_TRANSITION}) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? "
        "WHERE NOT EXISTS (SELECT 1 FROM transitions WHERE project_id = ? AND tag = ? "
        "AND task_id = ?) ON CONFLICT (key) DO NOTHING",
        _baseline_row,
    ),
    "event": (
        "INSERT INTO events (project_id, at, kind, data, key) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (key) DO NOTHING",
        lambda r, pid: (pid, r["at"], r["event"], r["data"], r["key"]),
    ),
    "tool_call": (
        "INSERT INTO tool_calls (project_id, session_id, task_id, tool, success, duration_ms, "
        "at, key) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
        lambda r, pid: (
            pid,
            r["session_id"],
            r["task_id"],
            r["tool"],
            int(r["success"]),
            r["duration_ms"],
            r["at"],
            r["key"],
        ),
    ),
    "hook_run": (
        "INSERT INTO hook_runs (project_id, hook, at, sha, linked, ok, duration_ms, detail, "
        "key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
        lambda r, pid: (
            pid,
            r["hook"],
            r["at"],
            r["sha"],
            _optional_int(r["linked"]),
            int(r["ok"]),
            r["duration_ms"],
            r["detail"],
            r["key"],
        ),
    ),
    "job_run": (
        "INSERT INTO job_runs (project_id, name, started_at, finished_at, ok, detail, key) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
        lambda r, pid: (
            pid,
            r["name"],
            r["started_at"],
            r["finished_at"],
            int(r["ok"]),
            r["detail"],
            r["key"],
        ),
    ),
    # an amend or rebase replaced the commit: it leaves the metrics with the history
    "commit_rewritten": (
        "DELETE FROM commits WHERE project_id = ? AND sha = ? AND sha != ?",
        lambda r, pid: (pid, r["old"], r["new"]),
    ),
}
