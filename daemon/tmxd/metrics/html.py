"""The HTML report: one self-contained page (inline CSS and SVG, no script, no network).

Three charts: a burn-down of open tasks (one point per day), a throughput
bar chart (one bar per day) and a cycle-time histogram (fixed bins); then
the same tables as the text report. Every chart element carries a class
(``burndown-point``, ``throughput-bar``, ``cycle-bar``) and its value in a
``data-value`` attribute, so the page can be checked by counting elements.
"""

from __future__ import annotations

from datetime import tzinfo
from html import escape
from typing import Any

from tmxd.metrics.tables import Table, duration, empty_message, heading, tables

CYCLE_BINS: list[tuple[str, float]] = [
    ("<1h", 3600),
    ("1–4h", 4 * 3600),
    ("4–12h", 12 * 3600),
    ("12–24h", 24 * 3600),
    ("1–2d", 2 * 86400),
    ("2–4d", 4 * 86400),
    ("4–7d", 7 * 86400),
    ("1–2w", 14 * 86400),
    (">2w", float("inf")),
]

W, H, PAD = 640, 200, 32

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:960px;
color:#1f2328;padding:0 1rem}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.8rem}
table{border-collapse:collapse;margin:.4rem 0}
td,th{padding:.2rem .7rem;border-bottom:1px solid #d0d7de;
text-align:left;vertical-align:top}th{background:#f6f8fa}td.num,th.num{text-align:right}
.charts{display:grid;grid-template-columns:1fr;gap:1rem}
svg{background:#fff;border:1px solid #d0d7de;border-radius:6px}
.axis{stroke:#8c959f;stroke-width:1}.label{font-size:10px;fill:#57606a}
.throughput-bar{fill:#2da44e}.cycle-bar{fill:#8250df}.burndown-line{fill:none;stroke:#cf222e;
stroke-width:2}.burndown-point{fill:#cf222e}.note{color:#57606a}
"""


def cycle_histogram(report: dict[str, Any]) -> list[tuple[str, int]]:
    counts = [0] * len(CYCLE_BINS)
    for row in report["lead_cycle"]["tasks"]:
        cycle = row["cycle_time"]
        if cycle is None:
            continue
        for i, (_label, upper) in enumerate(CYCLE_BINS):
            if cycle < upper:
                counts[i] += 1
                break
    return [(label, counts[i]) for i, (label, _u) in enumerate(CYCLE_BINS)]


def _bars(title: str, items: list[tuple[str, int]], css: str, every: int = 1) -> str:
    n = max(1, len(items))
    top = max([v for _l, v in items] + [1])
    slot = (W - 2 * PAD) / n
    parts = [_svg_open(title)]
    for i, (label, value) in enumerate(items):
        h = (H - 2 * PAD) * value / top
        x = PAD + i * slot + slot * 0.1
        y = H - PAD - h
        parts.append(
            f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" '
            f'height="{h:.1f}" data-label="{escape(label)}" data-value="{value}">'
            f"<title>{escape(label)}: {value}</title></rect>"
        )
        if _show_label(i, len(items), every):
            parts.append(
                f'<text class="label" x="{x + slot * 0.4:.1f}" y="{H - PAD + 14}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append(_axes(top))
    parts.append("</svg>")
    return "".join(parts)


def _line(title: str, items: list[tuple[str, int]], every: int) -> str:
    n = len(items)
    top = max([v for _l, v in items] + [1])
    step = (W - 2 * PAD) / max(1, n - 1)
    points = [
        (PAD + i * step if n > 1 else W / 2, H - PAD - (H - 2 * PAD) * v / top)
        for i, (_l, v) in enumerate(items)
    ]
    parts = [_svg_open(title)]
    if n > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline class="burndown-line" points="{path}"/>')
    for i, ((label, value), (x, y)) in enumerate(zip(items, points, strict=True)):
        parts.append(
            f'<circle class="burndown-point" cx="{x:.1f}" cy="{y:.1f}" r="3" '
            f'data-label="{escape(label)}" data-value="{value}">'
            f"<title>{escape(label)}: {value} open</title></circle>"
        )
        if _show_label(i, n, every):
            parts.append(
                f'<text class="label" x="{x:.1f}" y="{H - PAD + 14}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append(_axes(top))
    parts.append("</svg>")
    return "".join(parts)


def _show_label(i: int, n: int, every: int) -> bool:
    """Every ``every``-th label, and the last one unless it would touch its neighbour."""
    if i % every == 0:
        return True
    return i == n - 1 and (n - 1) % every > every // 2


def _svg_open(title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {W} {H}" width="{W}" height="{H}">'
        f'<text x="{PAD}" y="18" font-weight="600" font-size="13">{escape(title)}</text>'
    )


def _axes(top: int) -> str:
    return (
        f'<line class="axis" x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}"/>'
        f'<line class="axis" x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}"/>'
        f'<text class="label" x="{PAD - 4}" y="{PAD + 4}" text-anchor="end">{top}</text>'
        f'<text class="label" x="{PAD - 4}" y="{H - PAD}" text-anchor="end">0</text>'
    )


def _table_html(table: Table) -> str:
    def cls(i: int) -> str:
        return ' class="num"' if i in table.right else ""

    rows = []
    if any(table.headers):
        rows.append(
            "<tr>"
            + "".join(f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(table.headers))
            + "</tr>"
        )
    for row in table.rows:
        rows.append(
            "<tr>" + "".join(f"<td{cls(i)}>{escape(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        )
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return f"<h2>{escape(table.title)}</h2><table>{''.join(rows)}</table>{note}"


def render_html(report: dict[str, Any], tz: tzinfo | None = None) -> str:
    title = heading(report, tz)
    body: list[str] = [f"<h1>{escape(title)}</h1>"]
    if report["empty"]:
        body.append(f"<p>{escape(empty_message(report, tz))}</p>")
    else:
        days = report["throughput"]
        every = max(1, len(days) // 8)
        burn = [(d["date"][5:], d["open"]) for d in report["burndown"]]
        thr = [(d["date"][5:], d["done"]) for d in days]
        lc = report["lead_cycle"]
        body.append('<div class="charts">')
        body.append(_line("Open tasks (burn-down)", burn, every))
        body.append(_bars("Tasks done per day", thr, "throughput-bar", every))
        body.append(
            _bars(
                f"Cycle time (median {duration(lc['cycle_time']['median'])}, "
                f"p90 {duration(lc['cycle_time']['p90'])})",
                cycle_histogram(report),
                "cycle-bar",
            )
        )
        body.append("</div>")
        body.extend(_table_html(t) for t in tables(report, tz))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
