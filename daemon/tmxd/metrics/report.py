"""What ``tmxd report`` knows: one JSON-ready dict built from the metrics DB.

The renderers (text, Markdown, HTML) only format this dict, so every number
shown anywhere is computed here once. Heavy lifting is done by SQL
aggregates over indexed columns; only transitions (one row per status
change) are walked in Python, because lead/cycle times and time-per-status
need each task's timeline.

Definitions (also in docs/metrics.md):

* The window is ``[since, until]``; ``since=None`` means "from the first record".
* ``total_tasks``: distinct tasks with an agent execution or a status change
  in the window. ``success_rate``: successful / (successful + failed) executions
  (0..1): one ended by an interrupt (Ctrl-C, a signal, a killed run) counts as
  ``interrupted``, neither a success nor a failure, and is no failure reason.
  ``avg_execution_time`` and ``total_time``: mean and sum of finished
  executions' durations, in seconds. ``avg_tool_calls``: mean tool calls per
  finished execution. Executions still running count in ``running`` only.
* Lead time: the task's creation (its first transition, from nothing) → its
  final ``done``; unknown when tmxd first saw the task already in a status.
  Cycle time: first ``in-progress`` → final ``done``. A task reopened after ``done`` and
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
from tmxd.metrics import stale
from tmxd.metrics.recorder import from_db_time, to_db_time
from tmxd.metrics.records import REMOVED
from tmxd.metrics.schema import interrupted_error
from tmxd.taskmaster.status import DONE_LIKE

# Not open work: done-like, given up on, or gone from tasks.json.
CLOSED_STATUSES = frozenset({*DONE_LIKE, "cancelled", "deferred", REMOVED})
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
    """One task's timeline, reduced while walking its transitions (times as stored text)."""

    key: tuple[int, str, str]
    created_s: str  # first seen
    created_f: float  # the same, as a Unix time (the walk has it; parsing again is slow)
    created_known: bool = True  # False: its first transition was not from nothing
    title: str | None = None
    first_in_progress_s: str | None = None
    entered_current_s: str | None = None
    final_done_s: str | None = None
    first_in_progress_f: float | None = None
    final_done_f: float | None = None
    status_now: str | None = None
    status_at_since: str | None = None
    last_f: float = 0.0
    is_open: bool = False
    reopened: int = 0
    in_window: bool = False
    done_stamps: list[str] = field(default_factory=list)

    @property
    def created(self) -> datetime:
        return from_db_time(self.created_s)

    @property
    def first_in_progress(self) -> datetime | None:
        return _opt_time(self.first_in_progress_s)

    @property
    def entered_current(self) -> datetime | None:
        return _opt_time(self.entered_current_s)

    @property
    def final_done(self) -> datetime | None:
        return _opt_time(self.final_done_s)

    def cycle_time(self) -> float | None:
        start, end = self.first_in_progress_f, self.final_done_f
        if start is None or end is None or start > end:
            return None
        return round(end - start, 3)

    def lead_time(self) -> float | None:
        if not self.created_known or self.final_done_f is None:
            return None
        return round(self.final_done_f - self.created_f, 3)


def _opt_time(stamp: str | None) -> datetime | None:
    return None if stamp is None else from_db_time(stamp)


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


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

    def where(self, alias: str = "", *, tag: str = "tag") -> tuple[str, list[Any]]:
        """``tag``: the column (or expression) the tag option filters; empty: none."""
        prefix = f"{alias}." if alias else ""
        parts: list[str] = []
        params: list[Any] = []
        if self.project_id is not None:
            parts.append(f"{prefix}project_id = ?")
            params.append(self.project_id)
        if tag and self.q.tag is not None:
            parts.append(f"{prefix}{tag} = ?" if tag == "tag" else f"{tag} = ?")
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
    root: str | None = None
    if q.project is not None:
        root = str(Path(q.project).resolve())
        project_id = next((pid for pid, (r, _n) in projects.items() if r == root), -1)
    flt = _Filter(project_id, q)
    since_s = to_db_time(q.since) if q.since else ""
    until_s = to_db_time(until)

    open_deltas: list[tuple[str, int]] = []
    spent: dict[str, float] = {}
    tasks = _walk_transitions(conn, flt, since_s, until_s, open_deltas, spent)
    execs, per_agent = _execution_stats(conn, flt, since_s, until_s)
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
        "filters": {"project": root, "tag": q.tag, "task": q.task},
        "empty": not tasks and not execs and not _has_other_records(conn, flt, since_s, until_s),
        "database_empty": not projects,
        "summary": summary,
    }
    days = _days(since_eff, until, q.tz)
    starts = _day_starts(days, q.tz)
    report["throughput"] = _throughput(tasks, days, starts)
    report["burndown"] = _burndown(open_deltas, days, starts)
    report["status"] = _status_counts(tasks, q.since is not None)
    report["lead_cycle"] = _lead_cycle(tasks, label)
    report["time_in_status"] = {
        status: round(seconds, 3)
        for status, seconds in sorted(spent.items(), key=lambda kv: -kv[1])
    }
    report["slowest_tasks"] = _slowest(tasks, execs, label, titles)
    report["most_retried"] = _most_retried(execs, label, titles)
    report["failure_reasons"] = _failure_reasons(conn, flt, since_s, until_s, label)
    report["commits"] = _commits(conn, flt, since_s, until_s, label, titles)
    report["stale_in_progress"] = _stale(tasks, last_commit, now, q.stale_hours, label)
    report["running_executions"] = _running(conn, flt, since_s, until_s, now, label)
    report["agents"] = _agents(per_agent)
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
    since_s: str,
    until_s: str,
    open_deltas: list[tuple[str, int]],
    time_in_status: dict[str, float],
) -> dict[tuple[int, str, str], _Task]:
    """Each task's timeline, from one ordered scan of a covering index.

    ``open_deltas`` gets (time, ±1) whenever a task opens or closes;
    ``time_in_status`` sums the seconds spent per status inside the window.
    """
    where, params = flt.where()
    cur = conn.execute(
        "SELECT project_id, tag, task_id, new_status, old_status, at, title FROM transitions "
        f"INDEXED BY transitions_walk WHERE {where} AND at <= ? "
        "ORDER BY project_id, tag, task_id, at",
        [*params, until_s],
    )
    since_f = _epoch(since_s) if since_s else float("-inf")
    until_f = _epoch(until_s)
    spent = time_in_status
    closed = CLOSED_STATUSES
    done_like = DONE_LIKE
    tasks: dict[tuple[int, str, str], _Task] = {}
    task: _Task | None = None
    # The current task's hottest fields live in locals (this loop sees every transition).
    cur_pid, cur_tag, cur_tid = None, None, None
    status: str | None = None
    last_f = 0.0
    fromiso = datetime.fromisoformat
    for pid, tag, task_id, new, old, at_s, title in cur:
        at_f = fromiso(at_s).timestamp()
        if task is None or task_id != cur_tid or tag != cur_tag or pid != cur_pid:
            if task is not None:
                task.status_now, task.last_f = status, last_f
                _close_task(task, since_s, since_f, until_f, spent)
            cur_pid, cur_tag, cur_tid = pid, tag, task_id
            key = (pid, tag, task_id)
            task = tasks[key] = _Task(key, at_s, at_f, created_known=old is None)
            status = None
        elif status is not None:
            lo = last_f if last_f > since_f else since_f
            if at_f > lo:
                spent[status] = spent.get(status, 0.0) + (at_f - lo)
        if title:
            task.title = title
        # A baseline row (old = new) says where tmxd first saw the task: not a change.
        changed = old != new
        if at_s >= since_s:
            if changed:
                task.in_window = True
            if since_s and at_s == since_s:
                task.status_at_since = new
        elif since_s:
            task.status_at_since = new
        if changed:
            if new in done_like:
                if old not in done_like:  # work done; done -> completed is a rewrite
                    task.final_done_s, task.final_done_f = at_s, at_f
                    if at_s >= since_s:
                        task.done_stamps.append(at_s)
            elif old in done_like and new != REMOVED:
                task.reopened += 1
            elif new == "in-progress" and task.first_in_progress_s is None:
                task.first_in_progress_s, task.first_in_progress_f = at_s, at_f
        if new != status:
            task.entered_current_s = at_s
            now_open = new not in closed
            if now_open != task.is_open:
                open_deltas.append((at_s, 1 if now_open else -1))
                task.is_open = now_open
        status = new
        last_f = at_f
    if task is not None:
        task.status_now, task.last_f = status, last_f
        _close_task(task, since_s, since_f, until_f, spent)
    return tasks


def _close_task(
    task: _Task, since_s: str, since_f: float, until_f: float, spent: dict[str, float]
) -> None:
    status = task.status_now
    if status is not None:
        # The last status lasts until the end of the window.
        lo = task.last_f if task.last_f > since_f else since_f
        if until_f > lo:
            spent[status] = spent.get(status, 0.0) + (until_f - lo)
    if status not in DONE_LIKE or (task.final_done_s is not None and task.final_done_s < since_s):
        task.final_done_s, task.final_done_f = None, None


@dataclass
class _Runs:
    """Executions of one task (or one agent) in the window."""

    runs: int = 0
    ok: int = 0
    failed: int = 0  # finished, not ok and not interrupted
    finished: int = 0
    interrupted: int = 0  # ended by an interrupt: neither a success nor a failure
    dur_ms: float = 0.0
    tool_calls: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None

    def merge(self, other: _Runs) -> _Runs:
        """Add ``other``'s executions to these; returns self."""
        self.runs += other.runs
        self.ok += other.ok
        self.failed += other.failed
        self.finished += other.finished
        self.interrupted += other.interrupted
        self.dur_ms += other.dur_ms
        self.tool_calls += other.tool_calls
        self.input_tokens = _add_known(self.input_tokens, other.input_tokens)
        self.output_tokens = _add_known(self.output_tokens, other.output_tokens)
        self.cost_usd = _add_known(self.cost_usd, other.cost_usd)
        return self


def _add_known(total: Any, value: Any) -> Any:
    if value is None:
        return total
    return value if total is None else total + value


def _execution_stats(
    conn: sqlite3.Connection, flt: _Filter, since_s: str, until_s: str
) -> tuple[dict[tuple[int, str, str], _Runs], dict[str, _Runs]]:
    """Per-task and per-agent execution totals: from the running totals when the window
    holds every execution, else from one scan of a covering index."""
    where, params = flt.where()
    window = _time_window(conn, "executions", "started_at", since_s, until_s)
    interrupted: dict[tuple[int, str, str, str], int] = {}
    if window[0]:
        # few rows, found through the failures index (it holds no agent: a lookup each)
        interrupted = {
            (pid, tag, task_id, agent_name): n
            for pid, tag, task_id, agent_name, n in conn.execute(
                "SELECT project_id, tag, task_id, agent, count(*) FROM executions "
                "INDEXED BY executions_failures "
                f"WHERE {where} AND success = 0 AND {interrupted_error()}{window[0]} "
                "GROUP BY 1, 2, 3, 4",
                [*params, *window[1]],
            )
        }
        cur = conn.execute(
            "SELECT project_id, tag, task_id, agent, count(*), sum(success), count(success), "
            "sum(duration_ms), sum(tool_calls), sum(input_tokens), sum(output_tokens), "
            "sum(cost_usd) FROM executions INDEXED BY executions_task_cov "
            f"WHERE {where}{window[0]} GROUP BY project_id, tag, task_id, agent",
            [*params, *window[1]],
        )
    else:
        cur = conn.execute(
            "SELECT project_id, tag, task_id, agent, n, ok, finished, duration_ms, tool_calls, "
            "CASE WHEN input_known THEN input_tokens END, "
            "CASE WHEN output_known THEN output_tokens END, "
            "CASE WHEN cost_known THEN cost_usd END, interrupted FROM execution_task_totals "
            f"WHERE {where} AND n > 0",
            params,
        )
    per_task: dict[tuple[int, str, str], _Runs] = {}
    per_agent: dict[str, _Runs] = {}
    for (
        pid,
        tag,
        task_id,
        agent_name,
        runs,
        ok,
        finished,
        dur,
        calls,
        tin,
        tout,
        cost,
        *more,
    ) in cur:
        ok = ok or 0
        key = (pid, tag, task_id)
        stopped = more[0] if more else interrupted.get((pid, tag, task_id, agent_name), 0)
        row = _Runs(
            runs,
            ok,
            finished - ok - stopped,
            finished,
            stopped,
            dur or 0.0,
            calls or 0,
            tin,
            tout,
            cost,
        )
        stats = per_task.get(key)
        if stats is None:
            per_task[key] = row  # one agent per task is the usual case: no sum needed
        else:
            stats.merge(row)
        agent = per_agent.get(agent_name)
        if agent is None:
            per_agent[agent_name] = _Runs().merge(row)
        else:
            agent.merge(row)
    return per_task, per_agent


def _time_window(
    conn: sqlite3.Connection, table: str, column: str, since_s: str, until_s: str
) -> tuple[str, list[str]]:
    """`` AND column >= ? AND column <= ?``, leaving out bounds that exclude nothing.

    A bound that every row meets still costs a comparison per row; over a
    million rows that is worth one indexed min/max lookup to skip.
    """
    # Two queries: min() and max() together would scan instead of using the index.
    low = conn.execute(f"SELECT min({column}) FROM {table}").fetchone()[0]
    high = conn.execute(f"SELECT max({column}) FROM {table}").fetchone()[0]
    sql, params = "", []
    if since_s and (low is None or low < since_s):
        sql += f" AND {column} >= ?"
        params.append(since_s)
    if high is not None and high > until_s:
        sql += f" AND {column} <= ?"
        params.append(until_s)
    return sql, params


def _summary(
    tasks: dict[tuple[int, str, str], _Task], execs: dict[tuple[int, str, str], _Runs]
) -> dict[str, Any]:
    """The summary's figures; each is defined once, in docs/metrics.md."""
    total = _Runs()
    for stats in execs.values():
        total.merge(stats)
    finished = total.finished
    judged = total.ok + total.failed  # an interrupted execution is neither
    return {
        # the seed's five, over the executions that finished in the window
        "total_tasks": finished,
        "success_rate": _round(total.ok / judged) if judged else None,
        "avg_execution_time": _round(total.dur_ms / finished / 1000.0) if finished else None,
        "avg_tool_calls": _round(total.tool_calls / finished) if finished else None,
        "total_time": _round(total.dur_ms / 1000.0),
        "succeeded": total.ok,
        "failed": total.failed,
        "interrupted": total.interrupted,
        "running": total.runs - finished,
        # the project's tasks and subtasks
        "tasks_in_project": sum(
            1 for t in tasks.values() if t.status_now is not None and t.status_now != REMOVED
        ),
        "tasks_changed": sum(1 for t in tasks.values() if t.in_window),
        "tasks_done": sum(1 for t in tasks.values() if t.done_stamps),
        "input_tokens": total.input_tokens,
        "output_tokens": total.output_tokens,
        "cost_usd": None if total.cost_usd is None else round(float(total.cost_usd), 4),
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
    execs: dict[tuple[int, str, str], _Runs],
) -> datetime | None:
    first = min((t.created_s for t in tasks.values()), default=None)
    candidates = [from_db_time(first)] if first else []
    if execs:
        where, params = flt.where()
        row = conn.execute(
            f"SELECT min(started_at) FROM executions WHERE {where}", params
        ).fetchone()
        if row[0]:
            candidates.append(from_db_time(row[0]))
    return min(candidates) if candidates else None


def _has_other_records(conn: sqlite3.Connection, flt: _Filter, since_s: str, until_s: str) -> bool:
    where, params = flt.where("ct", tag=stale.LINK_TAG)
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


def _day_starts(days: list[date], tz: tzinfo | None) -> list[str]:
    """Stored-form UTC stamps of each local day's midnight, plus the one after the last day.

    A stamp ``s`` falls on ``days[i]`` when ``starts[i] <= s < starts[i + 1]``,
    so days are found by bisecting strings instead of converting every stamp.
    """
    out = []
    for day in [*days, days[-1] + timedelta(days=1)] if days else []:
        midnight = datetime.combine(day, datetime.min.time())
        out.append(to_db_time(midnight.replace(tzinfo=tz) if tz else midnight.astimezone()))
    return out


def _throughput(
    tasks: dict[tuple[int, str, str], _Task], days: list[date], starts: list[str]
) -> list[dict[str, Any]]:
    """Tasks that became done per local day (a task done twice in a day counts once)."""
    counts = [0] * len(days)
    last = len(days) - 1
    for t in tasks.values():
        if t.done_stamps:
            seen = {bisect.bisect_right(starts, s) - 1 for s in t.done_stamps}
            for i in seen:
                if 0 <= i <= last:
                    counts[i] += 1
    return [{"date": d.isoformat(), "done": counts[i]} for i, d in enumerate(days)]


def _burndown(
    deltas: list[tuple[str, int]], days: list[date], starts: list[str]
) -> list[dict[str, Any]]:
    """Open tasks (not done/cancelled/deferred) at the end of each day."""
    ends = starts[1:]
    bucket = [0] * (len(days) + 1)
    for stamp, delta in deltas:
        # Counts for every day whose end comes after the change.
        bucket[bisect.bisect_right(ends, stamp)] += delta
    out: list[dict[str, Any]] = []
    total = 0
    for i, day in enumerate(days):
        total += bucket[i]
        out.append({"date": day.isoformat(), "open": total})
    return out


def _status_counts(tasks: dict[tuple[int, str, str], _Task], has_since: bool) -> dict[str, Any]:
    gone = (None, REMOVED)
    now: Counter[str] = Counter(t.status_now for t in tasks.values() if t.status_now not in gone)
    then: Counter[str] = Counter(
        t.status_at_since for t in tasks.values() if t.status_at_since not in gone
    )
    statuses = sorted(set(now) | set(then))
    return {
        "now": {s: now.get(s, 0) for s in statuses},
        "at_since": {s: then.get(s, 0) for s in statuses} if has_since else None,
    }


def _lead_cycle(tasks: dict[tuple[int, str, str], _Task], label: Any) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    for t in tasks.values():
        if t.final_done_s is None:
            continue
        lead = t.lead_time()
        cycle = t.cycle_time()
        rows.append(
            {
                "task": label(t.key),
                "title": t.title,
                "created": t.created_s if t.created_known else None,
                "started": t.first_in_progress_s,
                "done": t.final_done_s,
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


def _slowest(
    tasks: dict[tuple[int, str, str], _Task],
    execs: dict[tuple[int, str, str], _Runs],
    label: Any,
    titles: dict[tuple[int, str, str], str | None],
) -> list[dict[str, Any]]:
    scored: list[tuple[float, tuple[int, str, str], float | None, float | None]] = []
    for key in set(execs) | {k for k, t in tasks.items() if t.final_done_s}:
        t = tasks.get(key)
        cycle = t.cycle_time() if t else None
        runs = execs.get(key)
        agent_time = runs.dur_ms / 1000.0 if runs is not None else None
        top = max(cycle or 0.0, agent_time or 0.0)
        if top:
            scored.append((top, key, cycle, agent_time))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [
        {
            "task": label(key),
            "title": titles.get(key),
            "cycle_time": cycle,
            "execution_time": agent_time,
        }
        for _top, key, cycle, agent_time in scored[:TOP_N]
    ]


def _most_retried(
    execs: dict[tuple[int, str, str], _Runs],
    label: Any,
    titles: dict[tuple[int, str, str], str | None],
) -> list[dict[str, Any]]:
    ranked = sorted(
        ((k, r) for k, r in execs.items() if r.runs > 1),
        key=lambda kr: (-kr[1].runs, -kr[1].failed, label(kr[0])),
    )
    return [
        {
            "task": label(key),
            "title": titles.get(key),
            "attempts": r.runs,
            "failures": r.failed,
            "succeeded": r.ok > 0,
        }
        for key, r in ranked[:TOP_N]
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
    """Failed executions grouped by :func:`failure_reason`, with a few example tasks."""
    where, params = flt.where()
    window = (
        f"{where} AND success = 0 AND (error IS NULL OR NOT ({interrupted_error()})) "
        "AND started_at >= ? AND started_at <= ?"
    )
    cur = conn.execute(
        "SELECT error, exit_code, count(*) FROM executions INDEXED BY executions_failures "
        f"WHERE {window} GROUP BY error, exit_code",
        [*params, since_s, until_s],
    )
    groups: dict[str, dict[str, Any]] = {}
    raw: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
    for error, exit_code, count in cur:
        reason = failure_reason(error, exit_code)
        g = groups.setdefault(reason, {"reason": reason, "count": 0, "tasks": []})
        g["count"] += count
        raw[reason].append((error, exit_code))
    ranked = sorted(groups.values(), key=lambda g: (-g["count"], g["reason"]))[:TOP_N]
    for g in ranked:
        examples: set[str] = set()
        for error, exit_code in raw[g["reason"]][:20]:
            for pid, tag, task_id in conn.execute(
                "SELECT DISTINCT project_id, tag, task_id FROM executions "
                f"INDEXED BY executions_failures WHERE error IS ? AND exit_code IS ? AND {window} "
                "LIMIT 5",
                [error, exit_code, *params, since_s, until_s],
            ):
                examples.add(label((pid, tag, task_id)))
        g["tasks"] = sorted(examples)[:5]
    return ranked


def _commits(
    conn: sqlite3.Connection,
    flt: _Filter,
    since_s: str,
    until_s: str,
    label: Any,
    titles: dict[tuple[int, str, str], str | None],
) -> dict[str, Any]:
    where, params = flt.where("ct", tag=stale.LINK_TAG)
    per_task = conn.execute(
        f"SELECT ct.project_id, {stale.LINK_TAG}, ct.task_id, count(*), sum(c.files), "
        "sum(c.insertions), sum(c.deletions) FROM commit_tasks ct "
        "JOIN commits c ON c.id = ct.commit_id "
        f"WHERE {where} AND c.committed_at >= ? AND c.committed_at <= ? "
        "GROUP BY 1, 2, 3 ORDER BY count(*) DESC, ct.task_id, 2",
        [*params, since_s, until_s],
    ).fetchall()
    pwhere = "project_id = ?" if flt.project_id is not None else "1"
    pparams = [flt.project_id] if flt.project_id is not None else []
    total, linked, merges, taskmaster_only = 0, 0, 0, 0
    if flt.q.task is None:
        # with --tag, a commit counts as linked when it names a task of that tag. Left out
        # of the total, as `tmxd hooks status` leaves them out of the unlinked: merge
        # commits (never linked) and commits of Task Master's files only that name no task
        # (never linked by inference)
        in_tag = f" AND {stale.LINK_TAG} = ?" if flt.q.tag is not None else ""
        any_link = "EXISTS (SELECT 1 FROM commit_tasks ct WHERE ct.commit_id = c.id)"
        row = conn.execute(
            "SELECT count(*), "
            f"sum(EXISTS (SELECT 1 FROM commit_tasks ct WHERE ct.commit_id = c.id{in_tag})), "
            "sum(coalesce(c.merge, 0)), "
            f"sum(coalesce(c.merge, 0) = 0 AND coalesce(c.taskmaster_only, 0) AND NOT {any_link}) "
            f"FROM commits c WHERE {pwhere} AND committed_at >= ? AND committed_at <= ?",
            [*([flt.q.tag] if in_tag else []), *pparams, since_s, until_s],
        ).fetchone()
        linked, merges, taskmaster_only = int(row[1] or 0), int(row[2] or 0), int(row[3] or 0)
        total = int(row[0]) - merges - taskmaster_only
    else:
        total = linked = len(per_task)
    return {
        "total": total,
        "linked": linked,
        "merges": merges,
        "taskmaster_only": taskmaster_only,
        "per_task": [
            {
                "task": label((r[0], r[1], r[2])),
                "title": titles.get((r[0], r[1], r[2])),
                "commits": r[3],
                "files": r[4] or 0,
                "insertions": r[5] or 0,
                "deletions": r[6] or 0,
            }
            for r in per_task
        ],
    }


def _last_commit_per_task(
    conn: sqlite3.Connection, flt: _Filter, until_s: str
) -> dict[tuple[int, str, str], datetime]:
    where, params = flt.where("ct", tag=stale.LINK_TAG)
    return stale.last_commit_per_task(conn, where, params, until_s)


def _stale(
    tasks: dict[tuple[int, str, str], _Task],
    last_commit: dict[tuple[int, str, str], datetime],
    now: datetime,
    stale_hours: float,
    label: Any,
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for t in tasks.values():
        if t.status_now != "in-progress" or t.entered_current is None:
            continue
        commit = last_commit.get(t.key)
        hours = stale.stale_for(t.entered_current, commit, now, stale_hours)
        if hours is not None:
            out.append(
                {
                    "task": label(t.key),
                    "title": t.title,
                    "in_progress_since": to_db_time(t.entered_current),
                    "last_commit": to_db_time(commit) if commit else None,
                    "hours_in_progress": round(hours, 2),
                }
            )
    out.sort(key=lambda r: -r["hours_in_progress"])
    return out


def _running(
    conn: sqlite3.Connection, flt: _Filter, since_s: str, until_s: str, now: datetime, label: Any
) -> list[dict[str, Any]]:
    where, params = flt.where()
    cur = conn.execute(
        "SELECT project_id, tag, task_id, attempt, agent, started_at FROM executions "
        f"INDEXED BY executions_running WHERE {where} AND finished_at IS NULL "
        "AND started_at >= ? AND started_at <= ? "
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


def _agents(per_agent: dict[str, _Runs]) -> list[dict[str, Any]]:
    ranked = sorted(per_agent.items(), key=lambda kv: (-kv[1].runs, kv[0]))
    return [
        {
            "agent": agent,
            "executions": r.finished,
            "succeeded": r.ok,
            "interrupted": r.interrupted,
            "running": r.runs - r.finished,
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "cost_usd": None if r.cost_usd is None else round(float(r.cost_usd), 4),
            "time": round(r.dur_ms / 1000.0, 3),
        }
        for agent, r in ranked
    ]


def load_report(db_path: Path | None, q: ReportQuery) -> dict[str, Any]:
    """Open the metrics database at ``db_path`` (default: TMXD_DB/state dir) and build a report.

    A database that does not exist yet is reported as empty, and not created.
    """
    from tmxd import paths
    from tmxd.metrics.schema import MetricsError, connect

    path = db_path if db_path is not None else paths.db_path()
    db = connect(path if path.exists() else Path(":memory:"))
    try:
        return build_report(db, q)
    except sqlite3.Error as exc:
        raise MetricsError(f"{path}: cannot read metrics: {exc}") from exc
    finally:
        db.close()
