"""Text views of tasks for people: aligned tables, status symbols, optional colour.

Colour is applied by a ``paint(status, text)`` callable the caller supplies (the CLI
passes one that colours only on a terminal), so this module stays free of click.
"""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tmxd.taskmaster.document import Task
from tmxd.taskmaster.status import COMPLETE_STATUSES, symbol

if TYPE_CHECKING:
    from tmxd.taskmaster.dependencies import DependencyIssue

Paint = Callable[[str, str], str]


def no_paint(_status: str, text: str) -> str:
    return text


def width(text: str) -> int:
    """Terminal columns of ``text`` (wide CJK and emoji count two)."""
    total = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        total += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return total


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` columns with an ellipsis."""
    flat = " ".join(text.split())
    if width(flat) <= limit:
        return flat
    out = ""
    for char in flat:
        if width(out + char) > limit - 1:
            break
        out += char
    return out + "…"


@dataclass(frozen=True)
class Column:
    header: str
    limit: int = 0  # 0: no limit


def table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str]],
    paints: Sequence[Sequence[str | None]] | None = None,
    paint: Paint = no_paint,
) -> list[str]:
    """Aligned rows under a header; ``paints[r][c]`` names the status colouring a cell."""
    cells = [
        [
            clip(cell, col.limit) if col.limit else cell
            for cell, col in zip(row, columns, strict=True)
        ]
        for row in rows
    ]
    widths = [width(col.header) for col in columns]
    for row in cells:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], width(cell))
    lines = [
        "  ".join(col.header.ljust(w) for col, w in zip(columns, widths, strict=True)).rstrip()
    ]
    for r, row in enumerate(cells):
        parts = []
        for c, cell in enumerate(row):
            padded = cell + " " * (widths[c] - width(cell))
            status = paints[r][c] if paints else None
            parts.append(paint(status, padded) if status else padded)
        lines.append("  ".join(parts).rstrip())
    return lines


def status_cell(status: str) -> str:
    return f"{symbol(status)} {status}"


def deps_cell(deps: Sequence[str]) -> str:
    return ", ".join(deps) if deps else "-"


def task_table(
    tasks: Sequence[Task], *, with_subtasks: bool, title_limit: int = 60, paint: Paint = no_paint
) -> list[str]:
    """The ``list`` table: ID, Title, Status, Priority, Dependencies."""
    columns = [
        Column("ID"),
        Column("Title", title_limit),
        Column("Status"),
        Column("Priority"),
        Column("Dependencies", 30),
    ]
    rows: list[list[str]] = []
    paints: list[list[str | None]] = []
    for task in tasks:
        rows.append(
            [
                task.id,
                task.title,
                status_cell(task.status),
                task.priority,
                deps_cell(task.dependencies),
            ]
        )
        paints.append([None, None, task.status, None, None])
        if with_subtasks:
            for sub in task.subtasks:
                rows.append(
                    [
                        "  " + sub.id,
                        sub.title,
                        status_cell(sub.status),
                        sub.priority,
                        deps_cell(sub.dependencies),
                    ]
                )
                paints.append([None, None, sub.status, None, None])
    return table(columns, rows, paints, paint)


def progress_line(tasks: Sequence[Task]) -> str:
    """``Tasks: 3/9 done (33%) · 1 in progress · 4 pending · ...``"""
    total = len(tasks)
    complete = sum(1 for t in tasks if t.status in COMPLETE_STATUSES)
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task.status] = counts.get(task.status, 0) + 1
    percent = round(100 * complete / total) if total else 0
    parts = [f"{complete}/{total} complete ({percent}%)"]
    parts += [f"{n} {status}" for status, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    return " · ".join(parts)


def wrap(body: str, columns: int) -> list[str]:
    """``body`` indented by two spaces, long lines wrapped at ``columns``."""
    out: list[str] = []
    for line in body.splitlines():
        if not line.strip():
            out.append("")
            continue
        lead = " " * (len(line) - len(line.lstrip(" ")))
        out += textwrap.wrap(
            line.strip(),
            width=max(20, columns - 2 - len(lead)),
            initial_indent="  " + lead,
            subsequent_indent="  " + lead,
            break_long_words=False,
            break_on_hyphens=False,
        ) or [""]
    return out


def task_detail(
    task: Task,
    *,
    status_of: Callable[[str], str | None],
    paint: Paint = no_paint,
    columns: int = 100,
) -> list[str]:
    """``show`` for one task or subtask, text wrapped at ``columns``."""
    kind = "Subtask" if task.parent_id else "Task"
    lines = [f"{kind} {task.id}: {task.title}"]
    deps = [
        f"{dep} ({symbol(status)} {status})" if (status := status_of(dep)) else f"{dep} (missing)"
        for dep in task.dependencies
    ]
    fields = [
        ("Status", paint(task.status, status_cell(task.status))),
        ("Priority", task.priority),
        ("Depends on", ", ".join(deps) if deps else "-"),
    ]
    if task.parent_id:
        fields.append(("Parent", task.parent_id))
    lines += [f"  {name:<11} {value}" for name, value in fields]
    for title, body in (
        ("Description", task.description),
        ("Details", task.details),
        ("Test strategy", task.test_strategy),
    ):
        if body.strip():
            lines.append("")
            lines.append(f"{title}:")
            lines += wrap(body, columns)
    if task.subtasks:
        lines.append("")
        lines.append("Subtasks:")
        cols = [Column("ID"), Column("Status"), Column("Title", 70), Column("Deps", 30)]
        rows = [
            [sub.id, status_cell(sub.status), sub.title, deps_cell(sub.dependencies)]
            for sub in task.subtasks
        ]
        paints: list[list[str | None]] = [[None, sub.status, None, None] for sub in task.subtasks]
        lines += ["  " + line for line in table(cols, rows, paints, paint)]
    return lines


def issues_table(issues: Sequence[DependencyIssue]) -> list[str]:
    columns = [Column("Kind"), Column("Task"), Column("Problem", 90)]
    rows = [[issue.kind.upper(), issue.task_id, issue.message] for issue in issues]
    return table(columns, rows)
