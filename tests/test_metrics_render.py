from __future__ import annotations

import json
import math
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from metrics_fixture import NOW, PLUS2, fixture_report
from tmxd.metrics.recorder import Recorder
from tmxd.metrics.render import cells, layout_text, render_report, trend_lines
from tmxd.metrics.report import ReportQuery, build_report
from tmxd.metrics.tables import EMPTY_MESSAGE, Table, sparkline


@pytest.fixture()
def data(tmp_path: Path) -> dict[str, Any]:
    return fixture_report(tmp_path)


def test_text_layout_aligns_columns() -> None:
    t = Table("T", ["name", "n"], [["a", "1"], ["longer", "100"]], right={1})
    assert layout_text(t) == [
        "T",
        "  name      n",
        "  ──────  ───",
        "  a         1",
        "  longer  100",
    ]


def test_text_report(data: dict[str, Any]) -> None:
    text = render_report(data, "text", PLUS2)
    assert "total tasks" in text and "40.0% (2/5)" in text
    assert "tasks in project" in text and "tasks done" in text
    assert re.search(r"avg execution time +2m  mean duration", text)
    assert "done per day  ▁██▄▄▁  6 in 6 days (2026-11-10 → 2026-11-15)" in text
    assert "open tasks    █▅▃▃▂▂  5 → 1" in text
    assert "tests failed: test_parse" in text
    # Times are local (UTC+2): task 5's done shows as the 14th, 01:30.
    assert "2026-11-14 01:30" in text
    assert "$0.30" in text


def _days(done: list[int], opened: list[int]) -> dict[str, Any]:
    dates = [(date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(len(done))]
    return {
        "throughput": [{"date": d, "done": n} for d, n in zip(dates, done, strict=True)],
        "burndown": [{"date": d, "open": n} for d, n in zip(dates, opened, strict=True)],
    }


def test_trend_lines_fit_the_width() -> None:
    from tmxd.taskmaster.text import width

    done, opened = [1, 0, 2, 0, 0, 3, 1], [5, 5, 4, 4, 4, 2, 1]
    report = _days(done, opened)
    one_line = [
        f"done per day  {sparkline(done)}  7 in 7 days (2026-01-01 → 2026-01-07)",
        f"open tasks    {sparkline(opened)}  5 → 1",
    ]
    # positive controls: no width (files, Markdown) or room enough: one line each, a day a cell
    assert trend_lines(report) == one_line
    assert trend_lines(report, 60) == one_line
    # too narrow to sit beside the figures: under them, still a day a cell
    assert trend_lines(report, 40) == [
        "done per day  7 in 7 days (2026-01-01 → 2026-01-07)",
        f"  {sparkline(done)}",
        "open tasks    5 → 1",
        f"  {sparkline(opened)}",
    ]
    # too narrow for that too: 2 days a cell, counted back from the last day
    assert trend_lines(report, 6) == [
        "done per 2 days  7 in 7 days (2026-01-01 → 2026-01-07)",
        f"  {sparkline([1, 2, 0, 4])}",
        "open tasks       5 → 1",
        f"  {sparkline([5, 4, 4, 1])}",
    ]
    year = _days([i % 5 for i in range(366)], [366 - i for i in range(366)])
    for columns in (40, 60, 80, 100, 120):
        lines = trend_lines(year, columns)
        assert all(width(line) <= columns for line in lines[1::2]), (columns, lines)
        per = math.ceil(366 / (columns - 2))  # the fewest days a cell that fit
        assert lines[0] == f"done per {per} days  730 in 366 days (2026-01-01 → 2027-01-01)"
        assert width(lines[1]) == width(lines[3]) == 2 + math.ceil(366 / per)


def test_cells_sum_done_and_keep_the_last_open_count() -> None:
    assert cells([1, 2, 3, 4, 5], 1, summed=True) == [1, 2, 3, 4, 5]
    assert cells([1, 2, 3, 4, 5], 2, summed=True) == [1, 5, 9]  # the first cell: 1 day
    assert cells([1, 2, 3, 4, 5], 2, summed=False) == [1, 3, 5]  # ends with the last day
    assert cells([1, 2, 3, 4, 5, 6], 3, summed=True) == [6, 15]
    assert cells([1, 2], 5, summed=True) == [3]


def test_markdown_report(data: dict[str, Any]) -> None:
    md = render_report(data, "markdown", PLUS2)
    assert md.startswith("# tmxd report: ")
    assert "## Summary" in md and "## Failure reasons" in md
    assert "|---|---:|---:|" in md  # status table: right-aligned numbers
    assert "| 3 | Retry logic | 3 | 2 | yes |" in md


def test_json_report_has_the_seed_keys(data: dict[str, Any]) -> None:
    out = json.loads(render_report(data, "json"))
    assert {
        "total_tasks",
        "success_rate",
        "avg_execution_time",
        "avg_tool_calls",
        "total_time",
    } <= set(out["summary"])
    assert "message" not in out


def test_empty_report_is_friendly(tmp_path: Path) -> None:
    with Recorder.open(tmp_path / "e.db") as rec:
        empty = build_report(rec.db.conn, ReportQuery(now=NOW))
    assert render_report(empty, "text") == EMPTY_MESSAGE + "\n"
    assert "tmxd hooks install" in render_report(empty, "markdown")
    assert json.loads(render_report(empty, "json"))["message"] == EMPTY_MESSAGE
    assert "tmxd hooks install" in render_report(empty, "html")


def test_html_is_self_contained(data: dict[str, Any]) -> None:
    page = render_report(data, "html", PLUS2)
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page and "<script" not in page
    assert page.count('class="throughput-bar"') == 6
    assert page.count('class="burndown-point"') == 6
    assert page.count('class="cycle-bar"') == 9
    assert "<title>Retry logic" not in page  # titles are escaped text, not markup


def test_json_is_one_key_per_line(data: dict[str, Any]) -> None:
    text = render_report(data, "json")
    lines = text.splitlines()
    assert lines[0] == "{" and lines[-1] == "}"
    assert len(lines) == len(data) + 2
    assert json.loads(text) == json.loads(json.dumps(data))


def test_long_task_lists_are_capped_outside_json(data: dict[str, Any]) -> None:
    rows = data["lead_cycle"]["tasks"]
    many = dict(data, lead_cycle=dict(data["lead_cycle"], tasks=rows * 10))  # 40 rows
    text = render_report(many, "text", PLUS2)
    section = text.split("Tasks done\n", 1)[1].split("\n\n", 1)[0]
    assert section.count("Late night") == 7  # the last 25 rows: 10 blocks of 4, cut at 25
    assert "(the last 25 of 40; --format json lists every task)" in section
    assert len(json.loads(render_report(many, "json"))["lead_cycle"]["tasks"]) == 40


def test_cjk_and_emoji_titles_align_in_cells() -> None:
    from tmxd.taskmaster.text import width

    t = Table(
        "Tasks",
        ["task", "title", "cycle"],
        [["1", "設定ファイルを読む", "2h"], ["2", "Ship it 🚀", "15m"], ["3", "plain", "1d 2h"]],
        right={2},
    )
    lines = layout_text(t)
    rows = lines[1:2] + lines[3:]
    assert len({width(line) for line in rows}) == 1, lines  # right edges line up
    # the same function measures `tmxd list` and the report
    assert width("設定") == 4 and width("🚀") == 2


def test_text_fits_the_terminal_width(data: dict[str, Any]) -> None:
    from tmxd.taskmaster.text import width

    wide = render_report(data, "text", PLUS2)
    assert max(width(line) for line in wide.splitlines()) > 60
    narrow = render_report(data, "text", PLUS2, columns=60)
    tables_only = [ln for ln in narrow.splitlines() if ln.startswith("  ")]
    assert all(width(line) <= 60 for line in tables_only), narrow
    assert "…" in narrow  # a long reason or title was clipped, not wrapped


def test_paint_marks_titles_and_headers(data: dict[str, Any]) -> None:
    painted = render_report(data, "text", PLUS2, paint=lambda role, text: f"<{role}>{text}")
    assert "<title>Summary" in painted and "<heading>tmxd report: " in painted
    assert re.search(r"<header>  status +at since +now", painted)
    assert render_report(data, "text", PLUS2).count("<") == 0
