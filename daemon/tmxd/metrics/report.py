"""What ``tmxd report`` knows: one JSON-ready dict built from the metrics DB.

The renderers (text, Markdown, HTML) only format this dict, so every number
shown anywhere is computed here once. Heavy lifting is done by SQL
aggregates over indexed columns; only transitions (one row per status
change) are walked in Python, because lead/cycle times and time-per-status
need each task's timeline.

Definitions (also in docs/metrics.md):

* The window is ``[since, until]``; ``since=None`` means "from the first record".
* ``total_tasks``: distinct tasks with an agent execution or a status change
  in the window. ``success_rate``: successful / finished executions (0..1).
  ``avg_execution_time`` and ``total_time``: mean and sum of finished
  executions' durations, in seconds. ``avg_tool_calls``: mean tool calls per
  finished execution. Executions still running count in ``running`` only.
* Lead time: first time the task was seen → its final ``done``. Cycle time:
  first ``in-progress`` → final ``done``. A task reopened after ``done`` and
  not done again has neither; a task done without ever being in progress has
  a lead time but no cycle time. Only tasks whose final ``done`` falls in the
  window count. Median and p90 interpolate linearly between ranks.
* Days (throughput, burn-down) are calendar days in the display time zone
  (local by default); timestamps are stored and emitted in UTC.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from tmxd import clock
from tmxd.metrics.recorder import from_db_time, to_db_time

CLOSED_STATUSES = frozenset({"done", "cancelled", "deferred"})
MAX_DAYS = 366
TOP_N = 10


@dataclass(frozen=True)
class ReportQuery:
    """What to report on; ``tz=None`` shows days in the system's local zone."""

    since: datetime | None = None
    until: datetime | None = None
    project: Path | None = None
    tag: str | None = None
    task: str | None = None
    stale_hours: float = 24.0
    tz: tzinfo | None = None
    now: datetime | None = None


@dataclass
class _Task:
    key: tuple[int, str, str]
    title: str | None = None
    created: datetime | None = None
    first_in_progress: datetime | None = None
    entered_current: datetime | None = None
    final_done: datetime | None = None
    status_now: str | None = None
    status_at_since: str | None = None
    last_at: datetime | None = None
    is_open: bool = False
    reopened: int = 0
    in_window: bool = False
    time_in_status: dict[str, float] = field(default_factory=dict)
    done_days: set[date] = field(default_factory=set)


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0..100) with linear interpolation between ranks."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * p / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class _Filter:
    """SQL WHERE fragments for the project / tag / task options."""

    def __init__(self, project_id: int | None, q: ReportQuery) -> None:
        self.project_id = project_id
        self.q = q

    def where(self, alias: str = "", *, tag: bool = True) -> tuple[str, list[Any]]:
        prefix = f"{alias}." if alias else ""
        parts: list[str] = []
        params: list[Any] = []
        if self.project_id is not None:
            parts.append(f"{prefix}project_id = ?")
            params.append(self.project_id)
        if tag and self.q.tag is not None:
            parts.append(f"{prefix}tag = ?")
            params.append(self.q.tag)
        if self.q.task is not None:
            parts.append(f"({prefix}task_id = ? OR {prefix}task_id LIKE ?)")
            params.extend([self.q.task, f"{self.q.task}.%"])
        return (" AND ".join(parts) or "1"), params


def build_report(conn: sqlite3.Connection, q: ReportQuery) -> dict[str, Any]:
    """The whole report as plain data (see the module docstring for definitions)."""
    now = q.now or clock.now()
    until = q.until or now
    projects = {
        int(r[0]): (str(r[1]), str(r[2]))
        for r in conn.execute("SELECT id, root, name FROM projects ORDER BY id")
    }
    project_id: int | None = None
    if q.project is not None:
        root = str(Path(q.project).resolve())
        project_id = next((pid for pid, (r, _n) in projects.items() if r == root), -1)
    flt = _Filter(project_id, q)
    since_s = to_db_time(q.since) if q.since else ""
    until_s = to_db_time(until)

    open_deltas: list[tuple[str, int]] = []
    tasks = _walk_transitions(conn, flt, q, until, until_s, open_deltas)
    execs = _execution_rows(conn, flt, since_s, until_s)
    last_commit = _last_commit_per_task(conn, flt, until_s)
    multi_project = project_id is None and len(projects) > 1

    def label(key: tuple[int, str, str]) -> str:
        pid, tag, task_id = key
        name = task_id if tag == "master" or q.tag else f"{tag}:{task_id}"
        if multi_project:
            name = f"{projects.get(pid, ('', '?'))[1]}/{name}"
        return name

    titles = {k: t.title for k, t in tasks.items()}
    since_eff = q.since or _first_record(conn, flt, tasks, execs)
    summary = _summary(tasks, execs)
    report: dict[str, Any] = {
        "generated_at": to_db_time(now),
        "window": {
            "since": to_db_time(q.since) if q.since else None,
            "until": until_s,
            "timezone": _tz_name(q.tz, now),
        },
        "filters": {
            "project": projects[project_id][0] if project_id in projects else None,
            "tag": q.tag,
            "task": q.task,
        },
        "empty": not tasks and not execs and not _has_other_records(conn, flt, since_s, until_s),
        "summary": summary,
    }
    days = _days(since_eff, until, q.tz)
    report["throughput"] = _throughput(tasks, days)
    report["burndown"] = _burndown(open_deltas, days, q.tz)
    report["status"] = _status_counts(tasks, q.since is not None)
    report["lead_cycle"] = _lead_cycle(tasks, label)
    summary["tasks_done"] = len(report["lead_cycle"]["tasks"])
    report["time_in_status"] = _time_in_status(tasks)
    report["slowest_tasks"] = _slowest(tasks, execs, label, titles)
    report["most_retried"] = _most_retried(execs, label, titles)
    report["failure_reasons"] = _failure_reasons(conn, flt, since_s, until_s, label)
    report["commits"] = _commits(conn, flt, since_s, until_s, label, titles)
    report["stale_in_progress"] = _stale(tasks, last_commit, now, q.stale_hours, label)
    report["running_executions"] = _running(conn, flt, since_s, until_s, now, label)
    report["agents"] = _agents(conn, flt, since_s, until_s)
    report["projects"] = [
        {"root": root, "name": name}
        for pid, (root, name) in projects.items()
        if project_id is None or pid == project_id
    ]
    return report


def _tz_name(tz: tzinfo | None, now: datetime) -> str:
    local = now.astimezone(tz)
    return local.tzname() or str(local.utcoffset())


def _walk_transitions(
    conn: sqlite3.Connection,
    flt: _Filter,
    q: ReportQuery,
    until: datetime,
    until_s: str,
    open_deltas: list[tuple[str, int]],
) -> dict[tuple[int, str, str], _Task]:
    """Each task's timeline; ``open_deltas`` gets (time, ±1) whenever a task opens/closes."""
    where, params = flt.where()
    cur = conn.execute(
        "SELECT project_id, tag, task_id, title, old_status, new_status, at FROM transitions "
        f"WHERE {where} AND at <= ? ORDER BY project_id, tag, task_id, at, id",
        [*params, until_s],
    )
    since = q.since
    tasks: dict[tuple[int, str, str], _Task] = {}
    task: _Task | None = None
    for pid, tag, task_id, title, _old, new, at_s in cur:
        key = (pid, tag, task_id)
        at = from_db_time(at_s)
        if task is None or task.key != key:
            if task is not None:
                _close_task(task, since, until)
            task = _Task(key, created=at)
            tasks[key] = task
        elif task.status_now is not None and task.last_at is not None:
            _add_interval(task, task.status_now, task.last_at, at, since, until)
        if title:
            task.title = title
        if since is not None and at <= since:
            task.status_at_since = new
        if since is None or at >= since:
            task.in_window = True
        if task.status_now == "done" and new != "done":
            task.reopened += 1
        if new == "in-progress" and task.first_in_progress is None:
            task.first_in_progress = at
        if new == "done":
            if task.status_now != "done":
                task.final_done = at
            if since is None or at >= since:
                task.done_days.add(at.astimezone(q.tz).date())
        if new != task.status_now:
            task.entered_current = at
        task.status_now = new
        task.last_at = at
        now_open = new not in CLOSED_STATUSES
        if now_open != task.is_open:
            open_deltas.append((at_s, 1 if now_open else -1))
            task.is_open = now_open
    if task is not None:
        _close_task(task, since, until)
    return tasks


def _add_interval(
    task: _Task,
    status: str,
    start: datetime,
    end: datetime,
    since: datetime | None,
    until: datetime,
) -> None:
    lo = max(start, since) if since else start
    hi = min(end, until)
    if hi > lo:
        task.time_in_status[status] = task.time_in_status.get(status, 0.0) + (
            (hi - lo).total_seconds()
        )


def _close_task(task: _Task, since: datetime | None, until: datetime) -> None:
    if task.status_now is not None and task.last_at is not None:
        # The last status lasts until the end of the window.
        _add_interval(task, task.status_now, task.last_at, until, since, until)
    if task.status_now != "done" or (
        since is not None and task.final_done is not None and task.final_done < since
    ):
        task.final_done = None


def _execution_rows(
    conn: sqlite3.Connection, flt: _Filter, since_s: str, until_s: str
) -> list[tuple[Any, ...]]:
    where, params = flt.where()
    return conn.execute(
        "SELECT project_id, tag, task_id, count(*), "
        "sum(success = 1), sum(success = 0), sum(finished_at IS NULL), "
        "sum(duration_ms), max(duration_ms), sum(tool_calls), "
        "sum(CASE WHEN finished_at IS NOT NULL THEN 1 ELSE 0 END), "
        "sum(input_tokens), sum(output_tokens), sum(cost_usd), max(attempt) "
        f"FROM executions WHERE {where} AND started_at >= ? AND started_at <= ? "
        "GROUP BY project_id, tag, task_id",
        [*params, since_s, until_s],
    ).fetchall()


def _summary(
    tasks: dict[tuple[int, str, str], _Task], execs: list[tuple[Any, ...]]
) -> dict[str, Any]:
    keys = {k for k, t in tasks.items() if t.in_window} | {(r[0], r[1], r[2]) for r in execs}
    n = sum(r[3] for r in execs)
    ok = sum(r[4] or 0 for r in execs)
    failed = sum(r[5] or 0 for r in execs)
    running = sum(r[6] or 0 for r in execs)
    finished = sum(r[10] or 0 for r in execs)
    total_ms = sum(r[7] or 0.0 for r in execs)
    tool_calls = sum(r[9] or 0 for r in execs)
    input_tokens = _sum_known(r[11] for r in execs)
    output_tokens = _sum_known(r[12] for r in execs)
    cost = _sum_known(r[13] for r in execs)
    return {
        "total_tasks": len(keys),
        "success_rate": _round(ok / finished) if finished else None,
        "avg_execution_time": _round(total_ms / finished / 1000.0) if finished else None,
        "avg_tool_calls": _round(tool_calls / finished) if finished else None,
        "total_time": _round(total_ms / 1000.0),
        "executions": n,
        "succeeded": ok,
        "failed": failed,
        "running": running,
        "tasks_done": 0,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost_usd": None if cost is None else round(float(cost), 4),
    }


def _sum_known(values: Iterable[Any]) -> Any:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _round(value: float) -> float:
    return round(value, 4)


def _first_record(
    conn: sqlite3.Connection,
    flt: _Filter,
    tasks: dict[tuple[int, str, str], _Task],
    execs: list[tuple[Any, ...]],
) -> datetime | None:
    candidates = [t.created for t in tasks.values() if t.created is not None]
    if execs:
        where, params = flt.where()
        row = conn.execute(
            f"SELECT min(started_at) FROM executions WHERE {where}", params
        ).fetchone()
        if row[0]:
            candidates.append(from_db_time(row[0]))
    return min(candidates) if candidates else None


def _has_other_records(conn: sqlite3.Connection, flt: _Filter, since_s: str, until_s: str) -> bool:
    where, params = flt.where("ct", tag=False)
    row = conn.execute(
        "SELECT 1 FROM commit_tasks ct JOIN commits c ON c.id = ct.commit_id "
        f"WHERE {where} AND c.committed_at >= ? AND c.committed_at <= ? LIMIT 1",
        [*params, since_s, until_s],
    ).fetchone()
    if row:
        return True
    if flt.q.task is not None or flt.q.tag is not None:
        return False
    pwhere = "project_id = ?" if flt.project_id is not None else "1"
    pparams = [flt.project_id] if flt.project_id is not None else []
    for table, column in (("commits", "committed_at"), ("events", "at"), ("hook_runs", "at")):
        row = conn.execute(
            f"SELECT 1 FROM {table} WHERE {pwhere} AND {column} >= ? AND {column} <= ? LIMIT 1",
            [*pparams, since_s, until_s],
        ).fetchone()
        if row:
            return True
    return False


def _days(since: datetime | None, until: datetime, tz: tzinfo | None) -> list[date]:
    # An end at midnight (``--until 2026-11-14``) closes the previous day.
    last = (until - timedelta(microseconds=1)).astimezone(tz).date()
    first = since.astimezone(tz).date() if since else last
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _throughput(tasks: dict[tuple[int, str, str], _Task], days: list[date]) -> list[dict[str, Any]]:
    counts: Counter[date] = Counter()
    for t in tasks.values():
        counts.update(t.done_days)
    return [{"date": d.isoformat(), "done": counts.get(d, 0)} for d in days]


def _burndown(
    deltas: list[tuple[str, int]], days: list[date], tz: tzinfo | None
) -> list[dict[str, Any]]:
    """Open tasks (not done/cancelled/deferred) at the end of each day."""
    deltas.sort()
    stamps = [d[0] for d in deltas]
    cumulative: list[int] = []
    total = 0
    for _s, delta in deltas:
        total += delta
        cumulative.append(total)
    out: list[dict[str, Any]] = []
    for day in days:
        end_local = datetime.combine(day + timedelta(days=1), datetime.min.time())
        end = to_db_time(end_local.replace(tzinfo=tz) if tz else end_local.astimezone())
        idx = bisect.bisect_left(stamps, end)
        out.append({"date": day.isoformat(), "open": cumulative[idx - 1] if idx else 0})
    return out


def _status_counts(tasks: dict[tuple[int, str, str], _Task], has_since: bool) -> dict[str, Any]:
    now: Counter[str] = Counter(t.status_now for t in tasks.values() if t.status_now)
    then: Counter[str] = Counter(t.status_at_since for t in tasks.values() if t.status_at_since)
    statuses = sorted(set(now) | set(then))
    return {
        "now": {s: now.get(s, 0) for s in statuses},
        "at_since": {s: then.get(s, 0) for s in statuses} if has_since else None,
    }


def _lead_cycle(tasks: dict[tuple[int, str, str], _Task], label: Any) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for t in tasks.values():
        if t.final_done is None:
            continue
        lead = (t.final_done - t.created).total_seconds() if t.created else None
        cycle = None
        if t.first_in_progress is not None and t.first_in_progress <= t.final_done:
            cycle = (t.final_done - t.first_in_progress).total_seconds()
        rows.append(
            {
                "task": label(t.key),
                "title": t.title,
                "created": to_db_time(t.created) if t.created else None,
                "started": to_db_time(t.first_in_progress) if t.first_in_progress else None,
                "done": to_db_time(t.final_done),
                "lead_time": lead,
                "cycle_time": cycle,
                "reopened": t.reopened,
            }
        )
    rows.sort(key=lambda r: r["done"])
    leads = [r["lead_time"] for r in rows if r["lead_time"] is not None]
    cycles = [r["cycle_time"] for r in rows if r["cycle_time"] is not None]
    return {
        "tasks": rows,
        "lead_time": {"median": percentile(leads, 50), "p90": percentile(leads, 90)},
        "cycle_time": {"median": percentile(cycles, 50), "p90": percentile(cycles, 90)},
    }


def _time_in_status(tasks: dict[tuple[int, str, str], _Task]) -> dict[str, float]:
    total: dict[str, float] = defaultdict(float)
    for t in tasks.values():
        for status, seconds in t.time_in_status.items():
            total[status] += seconds
    return {s: round(v, 3) for s, v in sorted(total.items(), key=lambda kv: -kv[1])}


def _slowest(
    tasks: dict[tuple[int, str, str], _Task],
    execs: list[tuple[Any, ...]],
    label: Any,
    titles: dict[tuple[int, str, str], str | None],
) -> list[dict[str, Any]]:
    exec_time = {(r[0], r[1], r[2]): (r[7] or 0.0) / 1000.0 for r in execs}
    rows: list[dict[str, Any]] = []
    for key in set(exec_time) | {k for k, t in tasks.items() if t.final_done}:
        t = tasks.get(key)
        cycle = None
        if t and t.final_done and t.first_in_progress and t.first_in_progress <= t.final_done:
            cycle = (t.final_done - t.first_in_progress).total_seconds()
        rows.append(
            {
                "task": label(key),
                "title": titles.get(key),
                "cycle_time": cycle,
                "execution_time": exec_time.get(key),
            }
        )
    rows.sort(key=lambda r: -max(r["cycle_time"] or 0.0, r["execution_time"] or 0.0))
    return [r for r in rows if (r["cycle_time"] or r["execution_time"])][:TOP_N]


def _most_retried(
    execs: list[tuple[Any, ...]], label: Any, titles: dict[tuple[int, str, str], str | None]
) -> list[dict[str, Any]]:
    ranked = sorted((r for r in execs if r[3] > 1), key=lambda r: (-r[3], -(r[5] or 0)))
    return [
        {
            "task": label((r[0], r[1], r[2])),
            "title": titles.get((r[0], r[1], r[2])),
            "attempts": r[3],
            "failures": r[5] or 0,
            "succeeded": bool(r[4]),
        }
        for r in ranked[:TOP_N]
    ]


def failure_reason(error: str | None, exit_code: int | None) -> str:
    """The group a failed execution falls in: its error's first line, or its exit code."""
    first = (error or "").strip().splitlines()[0].strip() if (error or "").strip() else ""
    if not first:
        return f"exit code {exit_code}" if exit_code is not None else "unknown error"
    return first if len(first) <= 120 else first[:117] + "..."


def _failure_reasons(
    conn: sqlite3.Connection, flt: _Filter, since_s: str, until_s: str, label: Any
) -> list[dict[str, Any]]:
    where, params = flt.where()
    cur = conn.execute(
        "SELECT error, exit_code, project_id, tag, task_id, count(*) FROM executions "
        f"WHERE {where} AND success = 0 AND started_at >= ? AND started_at <= ? "
        "GROUP BY error, exit_code, project_id, tag, task_id",
        [*params, since_s, until_s],
    )
    groups: dict[str, dict[str, Any]] = {}
    for error, exit_code, pid, tag, task_id, count in cur:
        reason = failure_reason(error, exit_code)
        g = groups.setdefault(reason, {"reason": reason, "count": 0, "tasks": []})
        g["count"] += count
        name = label((pid, tag, task_id))
        if name not in g["tasks"]:
            g["tasks"].append(name)
    ranked = sorted(groups.values(), key=lambda g: (-g["count"], g["reason"]))[:TOP_N]
    for g in ranked:
        g["tasks"] = sorted(g["tasks"])[:5]
    return ranked


def _commits(
    conn: sqlite3.Connection,
    flt: _Filter,
    since_s: str,
    until_s: str,
    label: Any,
    titles: dict[tuple[int, str, str], str | None],
) -> dict[str, Any]:
    where, params = flt.where("ct", tag=False)
    per_task = conn.execute(
        "SELECT ct.project_id, ct.task_id, count(*), sum(c.files), sum(c.insertions), "
        "sum(c.deletions) FROM commit_tasks ct JOIN commits c ON c.id = ct.commit_id "
        f"WHERE {where} AND c.committed_at >= ? AND c.committed_at <= ? "
        "GROUP BY ct.project_id, ct.task_id ORDER BY count(*) DESC, ct.task_id",
        [*params, since_s, until_s],
    ).fetchall()
    pwhere = "project_id = ?" if flt.project_id is not None else "1"
    pparams = [flt.project_id] if flt.project_id is not None else []
    total, linked = 0, 0
    if flt.q.task is None:
        row = conn.execute(
            "SELECT count(*), "
            "sum(EXISTS (SELECT 1 FROM commit_tasks ct WHERE ct.commit_id = c.id)) "
            f"FROM commits c WHERE {pwhere} AND committed_at >= ? AND committed_at <= ?",
            [*pparams, since_s, until_s],
        ).fetchone()
        total, linked = int(row[0]), int(row[1] or 0)
    else:
        total = linked = len(per_task)
    tag = flt.q.tag or "master"
    return {
        "total": total,
        "linked": linked,
        "per_task": [
            {
                "task": label((r[0], tag, r[1])),
                "title": titles.get((r[0], tag, r[1])),
                "commits": r[2],
                "files": r[3] or 0,
                "insertions": r[4] or 0,
                "deletions": r[5] or 0,
            }
            for r in per_task
        ],
    }


def _last_commit_per_task(
    conn: sqlite3.Connection, flt: _Filter, until_s: str
) -> dict[tuple[int, str], datetime]:
    where, params = flt.where("ct", tag=False)
    cur = conn.execute(
        "SELECT ct.project_id, ct.task_id, max(c.committed_at) FROM commit_tasks ct "
        f"JOIN commits c ON c.id = ct.commit_id WHERE {where} AND c.committed_at <= ? "
        "GROUP BY ct.project_id, ct.task_id",
        [*params, until_s],
    )
    return {(r[0], r[1]): from_db_time(r[2]) for r in cur}


def _stale(
    tasks: dict[tuple[int, str, str], _Task],
    last_commit: dict[tuple[int, str], datetime],
    now: datetime,
    stale_hours: float,
    label: Any,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    limit = timedelta(hours=stale_hours)
    for t in tasks.values():
        if t.status_now != "in-progress" or t.entered_current is None:
            continue
        pid, _tag, task_id = t.key
        commit = last_commit.get((pid, task_id))
        recent = max(t.entered_current, commit) if commit else t.entered_current
        if now - recent >= limit:
            out.append(
                {
                    "task": label(t.key),
                    "title": t.title,
                    "in_progress_since": to_db_time(t.entered_current),
                    "last_commit": to_db_time(commit) if commit else None,
                    "idle_hours": round((now - recent).total_seconds() / 3600.0, 2),
                }
            )
    out.sort(key=lambda r: -r["idle_hours"])
    return out


def _running(
    conn: sqlite3.Connection, flt: _Filter, since_s: str, until_s: str, now: datetime, label: Any
) -> list[dict[str, Any]]:
    where, params = flt.where()
    cur = conn.execute(
        "SELECT project_id, tag, task_id, attempt, agent, started_at FROM executions "
        f"WHERE {where} AND finished_at IS NULL AND started_at >= ? AND started_at <= ? "
        "ORDER BY started_at LIMIT ?",
        [*params, since_s, until_s, TOP_N],
    )
    return [
        {
            "task": label((r[0], r[1], r[2])),
            "attempt": r[3],
            "agent": r[4],
            "started": r[5],
            "elapsed": round((now - from_db_time(r[5])).total_seconds(), 3),
        }
        for r in cur
    ]


def _agents(
    conn: sqlite3.Connection, flt: _Filter, since_s: str, until_s: str
) -> list[dict[str, Any]]:
    where, params = flt.where()
    cur = conn.execute(
        "SELECT agent, count(*), sum(success = 1), sum(input_tokens), sum(output_tokens), "
        f"sum(cost_usd), sum(duration_ms) FROM executions WHERE {where} "
        "AND started_at >= ? AND started_at <= ? GROUP BY agent ORDER BY count(*) DESC",
        [*params, since_s, until_s],
    )
    return [
        {
            "agent": r[0],
            "executions": r[1],
            "succeeded": r[2] or 0,
            "input_tokens": r[3],
            "output_tokens": r[4],
            "cost_usd": None if r[5] is None else round(float(r[5]), 4),
            "time": round((r[6] or 0.0) / 1000.0, 3),
        }
        for r in cur
    ]


def load_report(db_path: Path | None, q: ReportQuery) -> dict[str, Any]:
    """Open the metrics database at ``db_path`` (default: TMXD_DB/state dir) and build a report."""
    from tmxd.metrics.recorder import Recorder

    with Recorder.open(db_path) as recorder:
        try:
            return build_report(recorder.db.conn, q)
        except sqlite3.Error as exc:
            from tmxd.metrics.schema import MetricsError

            raise MetricsError(f"{recorder.path}: cannot read metrics: {exc}") from exc
