"""A report's tables, shared by every renderer (text, Markdown, HTML).

Tables are built once as :class:`Table` values from a report dict (see
``report.py``) and laid out by ``render`` (aligned text columns, Markdown pipe
tables) or ``html``; times are shown in the display time zone (local by
default), durations humanly (``3h 20m``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

from tmxd.metrics.recorder import from_db_time
from tmxd.taskmaster.text import clip

EMPTY_MESSAGE = (
    "nothing recorded yet — run `tmxd hooks install` in your project and `tmxd start` "
    "(or `tmxd sync` after committing); transitions, commits and agent runs will show up here"
)

# The summary's rows: (JSON key, what it counts). docs/metrics.md defines each figure once.
SUMMARY_ROWS: tuple[tuple[str, str], ...] = (
    ("total_tasks", "agent executions finished in the window"),
    ("success_rate", "succeeded ÷ (succeeded + failed)"),
    ("interrupted", "stopped (Ctrl-C, a signal, a killed run): not failures"),
    ("avg_execution_time", "mean duration of those executions"),
    ("avg_tool_calls", "mean tool calls per execution"),
    ("total_time", "their durations added up"),
    ("running", "executions not finished yet"),
    ("tasks_in_project", "tasks and subtasks in the project"),
    ("tasks_changed", "tasks whose status changed"),
    ("tasks_done", "tasks that became done (not a rewrite)"),
)
SPARKS = "▁▂▃▄▅▆▇█"
MAX_ROWS = 25  # per-task tables in text, Markdown and HTML; JSON has every row


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    right: set[int] = field(default_factory=set)  # right-aligned columns (numbers)
    note: str = ""


def duration(seconds: float | None) -> str:
    """``0.7s``, ``45s``, ``12m 5s``, ``3h 20m``, ``2d 4h``; ``–`` when unknown.

    Under a second the value keeps one decimal (``0.7s``, ``<0.1s``), whatever figure it is:
    rounding 0.66 s to ``1s`` beside an average shown as ``0.1s`` read as a contradiction."""
    if seconds is None:
        return "–"
    value = float(seconds)
    if 0 < value < 0.05:
        return "<0.1s"
    if 0 < value < 1:
        return f"{value:.1f}s"
    s = round(value)
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m {s}s" if s else f"{m}m"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h {m}m" if m else f"{h}h"
    d, h = divmod(h, 24)
    return f"{d}d {h}h" if h else f"{d}d"


def local_time(stamp: str | None, tz: tzinfo | None) -> str:
    """A stored UTC timestamp shown in the display zone: ``2026-11-20 10:00``."""
    if not stamp:
        return "–"
    return from_db_time(stamp).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def sparkline(values: Sequence[float]) -> str:
    if not values:
        return ""
    top = max(values)
    if top <= 0:
        return SPARKS[0] * len(values)
    return "".join(SPARKS[min(len(SPARKS) - 1, int(v / top * (len(SPARKS) - 1)))] for v in values)


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}"


def money(value: float | None) -> str:
    return "–" if value is None else f"${value:,.2f}"


def heading(report: dict[str, Any], tz: tzinfo | None) -> str:
    window = report["window"]
    since = local_time(window["since"], tz) if window["since"] else "the first record"
    parts = [f"tmxd report: {since} → {local_time(window['until'], tz)} ({window['timezone']})"]
    filters = report["filters"]
    if not filters.get("project"):
        parts.append("all projects")
    for key in ("project", "tag", "task"):
        if filters.get(key):
            value = Path(filters[key]).name if key == "project" else filters[key]
            parts.append(f"{key} {value}")
    return " · ".join(parts)


def empty_message(report: dict[str, Any], tz: tzinfo | None) -> str:
    """What an empty report says: which filter or window matched nothing."""
    if report.get("database_empty"):
        return EMPTY_MESSAGE
    filters = report["filters"]
    scope = [f"{key} {filters[key]}" for key in ("task", "tag") if filters.get(key)]
    if filters.get("project"):
        name = Path(filters["project"]).name
        if not report.get("projects"):
            return (
                f"nothing recorded for project {name} yet: {filters['project']} is not in the "
                "database (tmxd records a project once the daemon or `tmxd sync` has looked at it)"
            )
        scope.append(f"project {name}")
    what = " in ".join(scope) or "any project"
    window = report["window"]
    until = local_time(window["until"], tz)
    when = (
        f"between {local_time(window['since'], tz)} and {until}"
        if window["since"]
        else f"up to {until}"
    )
    return f"nothing recorded for {what} {when}: no transitions, commits or agent runs"


def summary_value(summary: dict[str, Any], key: str) -> str:
    """A summary figure as shown in text, Markdown and HTML."""
    value = summary[key]
    if key == "success_rate":
        judged = summary["succeeded"] + summary["failed"]
        return percent(value) + (f" ({summary['succeeded']}/{judged})" if judged else "")
    if key in ("avg_execution_time", "total_time"):
        return duration(value)
    return number(value)


def summary_table(report: dict[str, Any]) -> Table:
    s = report["summary"]
    rows = [
        [key.replace("_", " "), summary_value(s, key), meaning]
        for key, meaning in SUMMARY_ROWS
        if key in s  # a report saved by an older tmxd has no ``interrupted``
    ]
    if s["input_tokens"] is not None or s["output_tokens"] is not None:
        rows.append(
            ["tokens", f"{number(s['input_tokens'])} in / {number(s['output_tokens'])} out", ""]
        )
    if s["cost_usd"] is not None:
        rows.append(["cost usd", money(s["cost_usd"]), ""])
    return Table("Summary", ["", "", ""], rows, right={1})


def tables(report: dict[str, Any], tz: tzinfo | None) -> list[Table]:
    """Every section of the report as a table, in reading order."""
    out = [summary_table(report)]
    status = report["status"]
    if status["now"]:
        t = Table("Status", ["status", "at since", "now"], right={1, 2})
        for name, count in status["now"].items():
            then = status["at_since"].get(name, 0) if status["at_since"] is not None else "–"
            t.rows.append([name, str(then), str(count)])
        out.append(t)
    lc = report["lead_cycle"]
    if lc["tasks"]:
        out.append(
            Table(
                "Lead and cycle time",
                ["", "median", "p90"],
                [
                    ["lead (created → done)", *_med_p90(lc["lead_time"])],
                    ["cycle (in-progress → done)", *_med_p90(lc["cycle_time"])],
                ],
                right={1, 2},
            )
        )
        t = Table("Tasks done", ["task", "title", "done", "lead", "cycle", "reopened"], right={5})
        done = lc["tasks"]
        if len(done) > MAX_ROWS:
            t.note = f"the last {MAX_ROWS} of {len(done):,}; --format json lists every task"
            done = done[-MAX_ROWS:]
        for r in done:
            t.rows.append(
                [
                    r["task"],
                    _short(r["title"]),
                    local_time(r["done"], tz),
                    duration(r["lead_time"]),
                    duration(r["cycle_time"]),
                    str(r["reopened"]),
                ]
            )
        out.append(t)
    if report["time_in_status"]:
        t = Table("Time per status", ["status", "time"], right={1})
        t.rows = [[k, duration(v)] for k, v in report["time_in_status"].items()]
        out.append(t)
    if report["slowest_tasks"]:
        t = Table("Slowest tasks", ["task", "title", "cycle", "agent time"], right={2, 3})
        t.rows = [
            [
                r["task"],
                _short(r["title"]),
                duration(r["cycle_time"]),
                duration(r["execution_time"]),
            ]
            for r in report["slowest_tasks"]
        ]
        out.append(t)
    if report["most_retried"]:
        t = Table("Most retried", ["task", "title", "attempts", "failures", "ok"], right={2, 3})
        t.rows = [
            [
                r["task"],
                _short(r["title"]),
                str(r["attempts"]),
                str(r["failures"]),
                "yes" if r["succeeded"] else "no",
            ]
            for r in report["most_retried"]
        ]
        out.append(t)
    if report["failure_reasons"]:
        t = Table("Failure reasons", ["count", "reason", "tasks"], right={0})
        t.rows = [
            [str(r["count"]), _short(r["reason"], 70), ", ".join(r["tasks"])]
            for r in report["failure_reasons"]
        ]
        out.append(t)
    commits = report["commits"]
    if commits["total"] or commits["per_task"]:
        t = Table(
            "Commits per task",
            ["task", "title", "commits", "files", "+", "-"],
            right={2, 3, 4, 5},
            note=f"{commits['linked']} of {commits['total']} commits name a task"
            + _not_counted(commits)
            + (
                f"; the {MAX_ROWS} tasks with most commits shown"
                if len(commits["per_task"]) > MAX_ROWS
                else ""
            ),
        )
        t.rows = [
            [
                r["task"],
                _short(r["title"]),
                str(r["commits"]),
                str(r["files"]),
                f"+{r['insertions']}",
                f"-{r['deletions']}",
            ]
            for r in commits["per_task"][:MAX_ROWS]
        ]
        out.append(t)
    if report["stale_in_progress"]:
        t = Table("Stale in progress", ["task", "title", "since", "last commit", "in progress"])
        t.rows = [
            [
                r["task"],
                _short(r["title"]),
                local_time(r["in_progress_since"], tz),
                local_time(r["last_commit"], tz),
                duration(r["hours_in_progress"] * 3600),
            ]
            for r in report["stale_in_progress"]
        ]
        out.append(t)
    if report["running_executions"]:
        t = Table("Running now", ["task", "attempt", "agent", "started", "elapsed"], right={1})
        t.rows = [
            [
                r["task"],
                str(r["attempt"]),
                r["agent"],
                local_time(r["started"], tz),
                duration(r["elapsed"]),
            ]
            for r in report["running_executions"]
        ]
        out.append(t)
    if report["agents"]:
        stopped = any(r.get("interrupted") for r in report["agents"])
        t = Table(
            "Agents",
            [
                "agent",
                "executions",
                "succeeded",
                *(["interrupted"] if stopped else []),
                "tokens in/out",
                "cost",
                "time",
            ],
            right=set(range(1, 7 if stopped else 6)),
        )
        t.rows = [
            [
                r["agent"],
                str(r["executions"]),
                str(r["succeeded"]),
                *([str(r.get("interrupted", 0))] if stopped else []),
                f"{number(r['input_tokens'])}/{number(r['output_tokens'])}",
                money(r["cost_usd"]),
                duration(r["time"]),
            ]
            for r in report["agents"]
        ]
        out.append(t)
    return out


def _not_counted(commits: dict[str, Any]) -> str:
    """The commits left out of "N of M": merges, and Task Master-only commits naming none."""
    left = []
    if commits.get("merges"):
        n = commits["merges"]
        left.append(f"{n} merge{'s' if n != 1 else ''}")
    if commits.get("taskmaster_only"):
        left.append(f"{commits['taskmaster_only']} changing only Task Master files")
    return f" (not counted: {', '.join(left)})" if left else ""


def _med_p90(stats: dict[str, float | None]) -> list[str]:
    return [duration(stats["median"]), duration(stats["p90"])]


def _short(text: str | None, width: int = 40) -> str:
    """One line of at most ``width`` terminal cells (CJK and emoji count two)."""
    return clip(text, width) if text else ""
