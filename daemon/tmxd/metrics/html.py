"""The HTML report: one self-contained page (inline CSS and SVG, no script, no network).

Three charts: a burn-down of open tasks (one point per day), a throughput
bar chart (one bar per day) and a cycle-time histogram (fixed bins); then
the same tables as the text report. Every chart element carries a class
(``burndown-point``, ``throughput-bar``, ``cycle-bar``, ``y-tick``) and its value in a
``data-value`` attribute, so the page can be checked by counting elements.

The page follows its reader: the charts scale with the page (two side by side on a
wide screen, one per row on a phone), it is dark when the system is
(``prefers-color-scheme``, ``<meta name="color-scheme">``), and it prints on white
with table headers repeated on each page and no row split across two.
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

# The viewBox of each chart; the page scales it to the width it has.
W, H = 560, 250
LEFT, RIGHT, TOP, BOTTOM = 40, 14, 34, 28  # room for the y labels, the title, the x labels
MAX_TICKS = 6

# Colours are variables: light by default, dark on a dark screen, light again on paper.
CSS = """
:root{color-scheme:light dark;--fg:#1f2328;--muted:#57606a;--bg:#fff;--panel:#fff;
--line:#d0d7de;--head:#f6f8fa;--axis:#8c959f;--grid:#eaeef2;--bar:#2da44e;--cycle:#8250df;
--burn:#cf222e}
@media screen and (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;
--panel:#161b22;--line:#30363d;--head:#1c2128;--axis:#6e7681;--grid:#262c36;--bar:#3fb950;
--cycle:#a371f7;--burn:#ff7b72}}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;
color:var(--fg);background:var(--bg);padding:0 1rem}
h1{font-size:1.3rem;overflow-wrap:anywhere}h2{font-size:1.05rem;margin:1.8rem 0 .4rem}
.charts{display:grid;grid-template-columns:minmax(0,1fr);gap:1rem}
@media (min-width:900px){.charts{grid-template-columns:repeat(2,minmax(0,1fr))}}
.chart{margin:0;background:var(--panel);border:1px solid var(--line);border-radius:6px;
padding:.25rem;min-width:0}
.chart svg{display:block;width:100%;height:auto}
.chart-title{font-size:14px;font-weight:600;fill:var(--fg)}
.axis{stroke:var(--axis);stroke-width:1}.grid{stroke:var(--grid);stroke-width:1}
.label,.y-tick text{font-size:12px;fill:var(--muted)}
.throughput-bar{fill:var(--bar)}.cycle-bar{fill:var(--cycle)}
.burndown-line{fill:none;stroke:var(--burn);stroke-width:2}.burndown-point{fill:var(--burn)}
.table-wrap{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.2rem 0}
td,th{padding:.25rem .7rem;border-bottom:1px solid var(--line);text-align:left;
vertical-align:top}
th{background:var(--head)}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:var(--muted)}
@media print{
@page{margin:14mm}
body{margin:0;max-width:none;font-size:11pt}
.charts{grid-template-columns:repeat(2,minmax(0,1fr))}
.chart,h2{break-inside:avoid}h2{break-after:avoid}
.table-wrap{overflow:visible}
thead{display:table-header-group}
tr,td,th{break-inside:avoid}
}
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


def y_ticks(top: int) -> list[int]:
    """Whole-number ticks from 0 to at least ``top``, 1, 2 or 5 times a power of ten apart,
    at most :data:`MAX_TICKS` of them (the last is the axis' maximum)."""
    top = max(1, top)
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if -(-top // step) + 1 <= MAX_TICKS:
                return list(range(0, -(-top // step) * step + 1, step))
        magnitude *= 10


def _y(value: float, axis_max: int) -> float:
    return H - BOTTOM - (H - TOP - BOTTOM) * value / axis_max


def _bars(title: str, items: list[tuple[str, int]], css: str, every: int = 1) -> str:
    n = max(1, len(items))
    ticks = y_ticks(max([v for _l, v in items] + [1]))
    axis_max = ticks[-1]
    slot = (W - LEFT - RIGHT) / n
    parts = [_svg_open(title), _axes(ticks)]
    for i, (label, value) in enumerate(items):
        y = _y(value, axis_max)
        x = LEFT + i * slot + slot * 0.1
        parts.append(
            f'<rect class="{css}" x="{x:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" '
            f'height="{H - BOTTOM - y:.1f}" data-label="{escape(label)}" data-value="{value}">'
            f"<title>{escape(label)}: {value}</title></rect>"
        )
        if _show_label(i, len(items), every):
            parts.append(
                f'<text class="label" x="{x + slot * 0.4:.1f}" y="{H - BOTTOM + 17}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg></figure>")
    return "".join(parts)


def _line(title: str, items: list[tuple[str, int]], every: int) -> str:
    n = len(items)
    ticks = y_ticks(max([v for _l, v in items] + [1]))
    step = (W - LEFT - RIGHT) / max(1, n - 1)
    points = [
        (LEFT + i * step if n > 1 else (LEFT + W - RIGHT) / 2, _y(v, ticks[-1]))
        for i, (_l, v) in enumerate(items)
    ]
    parts = [_svg_open(title), _axes(ticks)]
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
            # the last point sits on the right edge: a label centred there would be clipped
            anchor = "end" if n > 1 and i == n - 1 else "middle"
            parts.append(
                f'<text class="label" x="{x:.1f}" y="{H - BOTTOM + 17}" '
                f'text-anchor="{anchor}">{escape(label)}</text>'
            )
    parts.append("</svg></figure>")
    return "".join(parts)


def _show_label(i: int, n: int, every: int) -> bool:
    """Every ``every``-th label, and the last one unless it would touch its neighbour."""
    if i % every == 0:
        return True
    return i == n - 1 and (n - 1) % every > every // 2


def _svg_open(title: str) -> str:
    """A chart's ``<svg>``: no fixed size, the page's CSS scales its viewBox."""
    return (
        f'<figure class="chart"><svg xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{escape(title)}" viewBox="0 0 {W} {H}">'
        f'<text class="chart-title" x="{LEFT}" y="20">{escape(title)}</text>'
    )


def _axes(ticks: list[int]) -> str:
    """Grid lines and labels at each tick, then the two axes."""
    parts = []
    for value in ticks:
        y = _y(value, ticks[-1])
        grid = (
            f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}"/>'
            if value
            else ""
        )
        parts.append(
            f'<g class="y-tick" data-value="{value}">{grid}'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text></g>'
        )
    parts.append(
        f'<line class="axis" x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" y2="{H - BOTTOM}"/>'
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}"/>'
    )
    return "".join(parts)


def _table_html(table: Table) -> str:
    def cls(i: int) -> str:
        return ' class="num"' if i in table.right else ""

    head = ""
    if any(table.headers):
        head = (
            "<thead><tr>"
            + "".join(
                f'<th scope="col"{cls(i)}>{escape(h)}</th>' for i, h in enumerate(table.headers)
            )
            + "</tr></thead>"
        )
    rows = [
        "<tr>" + "".join(f"<td{cls(i)}>{escape(c)}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in table.rows
    ]
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return (
        f'<section><h2>{escape(table.title)}</h2><div class="table-wrap"><table>{head}'
        f"<tbody>{''.join(rows)}</tbody></table></div>{note}</section>"
    )


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
        '<meta name="color-scheme" content="light dark">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
