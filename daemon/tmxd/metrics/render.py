"""Text, Markdown and JSON renderings of a report dict (see ``report.py``), and the one
entry point for every format (:func:`render_report`; HTML is in ``html``)."""

from __future__ import annotations

import json
from datetime import tzinfo
from typing import Any

from tmxd.metrics.tables import Table, empty_message, heading, sparkline, tables


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


def layout_text(table: Table) -> list[str]:
    cells = [table.headers, *table.rows] if any(table.headers) else table.rows
    widths = [max(len(row[i]) for row in cells) for i in range(len(table.headers))]
    lines = [table.title]
    for n, row in enumerate(cells):
        parts = [
            cell.rjust(widths[i]) if i in table.right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  " + "  ".join(parts).rstrip())
        if n == 0 and any(table.headers):
            lines.append("  " + "  ".join("─" * w for w in widths))
    if table.note:
        lines.append(f"  ({table.note})")
    return lines


def render_text(report: dict[str, Any], tz: tzinfo | None = None) -> str:
    if report["empty"]:
        return empty_message(report, tz) + "\n"
    lines = [heading(report, tz), ""]
    trend = trend_lines(report)
    if trend:
        lines += [*trend, ""]
    for table in tables(report, tz):
        lines += [*layout_text(table), ""]
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


def render_report(report: dict[str, Any], fmt: str, tz: tzinfo | None = None) -> str:
    """The report in one of :data:`FORMATS`."""
    if fmt == "json":
        return render_json(report, tz)
    if fmt == "markdown":
        return render_markdown(report, tz)
    if fmt == "html":
        from tmxd.metrics.html import render_html  # the only format that needs it

        return render_html(report, tz)
    return render_text(report, tz)
