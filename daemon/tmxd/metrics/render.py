"""Text, Markdown and JSON renderings of a report dict (see ``report.py``), and the one
entry point for every format (:func:`render_report`; HTML is in ``html``).

Text columns are measured in terminal cells with the same function as ``tmxd list``
(:func:`tmxd.taskmaster.text.width`: CJK and emoji take two), fit a given width by
clipping their longest free-text column, and can be coloured by a ``paint(role, text)``
callable the caller supplies (roles: ``heading``, ``title``, ``header``, ``rule``,
``trend``, ``note``), so this module stays free of terminal decisions. Text and Markdown
are for people: task titles and commit subjects in them are made printable
(:func:`tmxd.sanitize.printable`) before they are measured or painted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import tzinfo
from typing import Any

from tmxd.metrics.tables import Table, empty_message, heading, sparkline, tables
from tmxd.sanitize import printable
from tmxd.taskmaster.text import clip, width

Paint = Callable[[str, str], str]
MIN_FREE_TEXT = 12  # a clipped title keeps at least this many cells
SPARK_INDENT = 2  # a sparkline on its own line is indented as table rows are


def no_paint(_role: str, text: str) -> str:
    return text


def trend_lines(report: dict[str, Any], columns: int | None = None) -> list[str]:
    """The throughput and open-task sparklines, one cell a day, each beside its figures.

    With ``columns`` (text on a terminal) they fit that width as the tables do: a
    sparkline too wide to sit beside its figures goes on its own line under them, and
    when it is too wide for that too, each cell covers several days, counted back from
    the last day (the first cell may cover fewer). The label says so (``done per 3
    days``): a cell of done is the sum over its days, a cell of open tasks the count at
    the end of its last day. The figures always cover every day.
    """
    rows: list[tuple[str, list[int], str, bool]] = []  # label, per day, figures, summed
    tp = report["throughput"]
    if tp:
        done = [int(d["done"]) for d in tp]
        span = f"{sum(done)} in {len(done)} days ({tp[0]['date']} → {tp[-1]['date']})"
        rows.append(("done per day", done, span, True))
    bd = report["burndown"]
    if bd:
        opened = [int(d["open"]) for d in bd]
        rows.append(("open tasks", opened, f"{opened[0]} → {opened[-1]}", False))
    if not rows:
        return []
    size = max(width(label) for label, *_ in rows)
    lines = [
        f"{label.ljust(size)}  {sparkline(values)}  {figures}" for label, values, figures, _ in rows
    ]
    if columns is None or all(width(line) <= columns for line in lines):
        return lines
    days = max(len(values) for _, values, _, _ in rows)
    per = -(-days // max(1, columns - SPARK_INDENT))  # days a cell, rounded up
    if per > 1:
        rows = [
            (f"done per {per} days" if summed else label, values, figures, summed)
            for label, values, figures, summed in rows
        ]
    size = max(width(label) for label, *_ in rows)
    lines = []
    for label, values, figures, summed in rows:
        lines.append(f"{label.ljust(size)}  {figures}")
        lines.append(" " * SPARK_INDENT + sparkline(cells(values, per, summed=summed)))
    return lines


def cells(values: Sequence[int], per: int, *, summed: bool) -> list[int]:
    """``values`` (one a day) in cells of ``per`` days, counted back from the last day:
    each cell's sum (``summed``) or its last day's value."""
    if per <= 1:
        return list(values)
    first = len(values) % per or per
    groups = [values[:first]] + [values[i : i + per] for i in range(first, len(values), per)]
    return [sum(g) if summed else g[-1] for g in groups if g]


def _pad(cell: str, size: int, right: bool) -> str:
    fill = " " * max(0, size - width(cell))
    return fill + cell if right else cell + fill


def _fit(table: Table, widths: list[int], columns: int | None) -> set[int]:
    """Narrow the widest text columns (never below :data:`MIN_FREE_TEXT`, never numbers)
    until a row fits ``columns`` cells; returns the columns to clip."""
    clipped: set[int] = set()
    if columns is None:
        return clipped
    while True:
        over = 2 + sum(widths) + 2 * (len(widths) - 1) - columns
        free = [i for i in range(len(widths)) if i not in table.right and widths[i] > MIN_FREE_TEXT]
        if over <= 0 or not free:
            return clipped
        widest = max(free, key=lambda i: widths[i])
        widths[widest] = max(MIN_FREE_TEXT, widths[widest] - over)
        clipped.add(widest)


def layout_text(table: Table, columns: int | None = None, paint: Paint = no_paint) -> list[str]:
    """The table as aligned lines, at most ``columns`` cells wide when that is given."""
    has_header = any(table.headers)
    rows = [table.headers, *table.rows] if has_header else list(table.rows)
    cells = [[printable(c) for c in row] for row in rows]
    widths = [max(width(row[i]) for row in cells) for i in range(len(table.headers))]
    clipped = _fit(table, widths, columns)
    if clipped:
        cells = [
            [clip(c, widths[i]) if i in clipped else c for i, c in enumerate(row)] for row in cells
        ]
    lines = [paint("title", printable(table.title))]
    for n, row in enumerate(cells):
        line = (
            "  "
            + "  ".join(
                _pad(cell, widths[i], i in table.right) for i, cell in enumerate(row)
            ).rstrip()
        )
        header = n == 0 and has_header
        lines.append(paint("header", line) if header else line)
        if header:
            lines.append(paint("rule", "  " + "  ".join("─" * w for w in widths)))
    if table.note:
        lines.append(paint("note", printable(f"  ({table.note})")))
    return lines


def render_text(
    report: dict[str, Any],
    tz: tzinfo | None = None,
    *,
    columns: int | None = None,
    paint: Paint = no_paint,
) -> str:
    """The terminal report; ``columns`` (the terminal's width) clips long titles and
    narrows the sparklines (:func:`trend_lines`) to fit."""
    if report["empty"]:
        return printable(empty_message(report, tz)) + "\n"
    lines = [paint("heading", printable(heading(report, tz))), ""]
    trend = trend_lines(report, columns)
    if trend:
        lines += [*(paint("trend", printable(line)) for line in trend), ""]
    for table in tables(report, tz):
        lines += [*layout_text(table, columns, paint), ""]
    return "\n".join(lines).rstrip() + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|") or " "


def layout_markdown(table: Table) -> list[str]:
    headers = [h or " " for h in table.headers]
    lines = [f"## {table.title}", ""]
    lines.append("| " + " | ".join(headers) + " |")
    lines.append(
        "|" + "|".join("---:" if i in table.right else "---" for i in range(len(headers))) + "|"
    )
    for row in table.rows:
        lines.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
    if table.note:
        lines += ["", f"_{table.note}_"]
    return lines


def render_markdown(report: dict[str, Any], tz: tzinfo | None = None) -> str:
    if report["empty"]:
        return f"# tmxd report\n\n{empty_message(report, tz)}\n"
    lines = [f"# {heading(report, tz)}", ""]
    trend = trend_lines(report)
    if trend:
        lines += ["```", *trend, "```", ""]
    for table in tables(report, tz):
        lines += [*layout_markdown(table), ""]
    return printable("\n".join(lines).rstrip() + "\n")


def render_json(report: dict[str, Any], tz: tzinfo | None = None) -> str:
    """One top-level key per line, each value compact.

    Readable with ``jq`` or by eye, and fast: without ``indent`` the json
    module uses its C encoder, which matters for reports with 10,000s of tasks.
    """
    out = dict(report)
    if report["empty"]:
        out["message"] = empty_message(report, tz)
    lines = [
        f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}"
        for key, value in out.items()
    ]
    return "{\n" + ",\n".join(lines) + "\n}\n"


FORMATS = ("text", "json", "markdown", "html")


def render_report(
    report: dict[str, Any],
    fmt: str,
    tz: tzinfo | None = None,
    *,
    columns: int | None = None,
    paint: Paint = no_paint,
) -> str:
    """The report in one of :data:`FORMATS` (``columns`` and ``paint``: text only)."""
    if fmt == "json":
        return render_json(report, tz)
    if fmt == "markdown":
        return render_markdown(report, tz)
    if fmt == "html":
        from tmxd.metrics.html import render_html  # the only format that needs it

        return render_html(report, tz)
    return render_text(report, tz, columns=columns, paint=paint)
