"""Text, Markdown and JSON renderings of a report dict (see ``report.py``), and the one
entry point for every format (:func:`render_report`; HTML is in ``html``).

Text columns are measured in terminal cells with the same function as ``tmxd list``
(:func:`tmxd.taskmaster.text.width`: CJK and emoji take two), fit a given width by
clipping their longest free-text column, and can be coloured by a ``paint(role, text)``
callable the caller supplies (roles: ``heading``, ``title``, ``header``, ``rule``,
``trend``, ``note``), so this module stays free of terminal decisions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from tmxd.metrics.tables import Table, empty_message, heading, sparkline, tables
from tmxd.taskmaster.text import clip, width

Paint = Callable[[str, str], str]
MIN_FREE_TEXT = 12  # a clipped title keeps at least this many cells


def no_paint(_role: str, text: str) -> str:
    return text


def trend_lines(report: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    tp = report["throughput"]
    if tp:
        done = [d["done"] for d in tp]
        lines.append(
            f"done per day  {sparkline(done)}  {sum(done)} in {len(done)} days "
            f"({tp[0]['date']} → {tp[-1]['date']})"
        )
    bd = report["burndown"]
    if bd:
        opened = [d["open"] for d in bd]
        lines.append(f"open tasks    {sparkline(opened)}  {opened[0]} → {opened[-1]}")
    return lines


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
    cells = [table.headers, *table.rows] if has_header else list(table.rows)
    widths = [max(width(row[i]) for row in cells) for i in range(len(table.headers))]
    clipped = _fit(table, widths, columns)
    if clipped:
        cells = [
            [clip(c, widths[i]) if i in clipped else c for i, c in enumerate(row)] for row in cells
        ]
    lines = [paint("title", table.title)]
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
        lines.append(paint("note", f"  ({table.note})"))
    return lines


def render_text(
    report: dict[str, Any],
    tz: tzinfo | None = None,
    *,
    columns: int | None = None,
    paint: Paint = no_paint,
) -> str:
    """The terminal report; ``columns`` (the terminal's width) clips long titles to fit."""
    if report["empty"]:
        return empty_message(report, tz) + "\n"
    lines = [paint("heading", heading(report, tz)), ""]
    trend = trend_lines(report)
    if trend:
        lines += [*(paint("trend", line) for line in trend), ""]
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
    return "\n".join(lines).rstrip() + "\n"


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
