from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from metrics_fixture import NOW, PLUS2, fixture_report
from tmxd.metrics.recorder import Recorder
from tmxd.metrics.render import layout_text, render_report
from tmxd.metrics.report import ReportQuery, build_report
from tmxd.metrics.tables import EMPTY_MESSAGE, Table


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
