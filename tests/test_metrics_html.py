"""The HTML report rendered by a real browser (headless Chromium)."""

from __future__ import annotations

import contextlib
import itertools
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from browser import BROWSER, FLAGS, NO_BROWSER, Browser
from metrics_fixture import PLUS2, fixture_report
from tmxd.metrics.html import CYCLE_BINS, _table_html, cycle_histogram, render_html, y_ticks
from tmxd.metrics.tables import Table

needs_browser = pytest.mark.skipif(BROWSER is None, reason=NO_BROWSER)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert BROWSER is not None
    return subprocess.run(
        [BROWSER, *FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture()
def data(tmp_path: Path) -> dict[str, Any]:
    return fixture_report(tmp_path)


def test_cycle_histogram_bins(data: dict[str, Any]) -> None:
    bins = dict(cycle_histogram(data))
    assert len(bins) == len(CYCLE_BINS)
    assert bins["1–2d"] == 1  # task 1: exactly one day falls in [1d, 2d)
    assert bins["2–4d"] == 1  # task 3: three days
    assert sum(bins.values()) == 2


@needs_browser
def test_browser_renders_the_charts(data: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(data, PLUS2), encoding="utf-8")
    proc = chromium(tmp_path, "--dump-dom", page.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert "<svg" in dom
    bars = re.findall(r'<rect class="throughput-bar"[^>]*data-value="(\d+)"', dom)
    assert bars == ["0", "2", "2", "1", "1", "0"]
    points = re.findall(r'<circle class="burndown-point"[^>]*data-value="(\d+)"', dom)
    assert points == ["5", "3", "2", "2", "1", "1"]
    assert len(re.findall(r'<rect class="cycle-bar"', dom)) == len(CYCLE_BINS)
    assert "Failure reasons" in dom


@needs_browser
def test_browser_screenshot(data: dict[str, Any], tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(data, PLUS2), encoding="utf-8")
    shot = tmp_path / "report.png"
    proc = chromium(
        tmp_path,
        "--hide-scrollbars",
        "--window-size=1000,1400",
        f"--screenshot={shot}",
        page.as_uri(),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1000, 1400)
    assert len(png) > 20_000  # charts and tables, not a blank page


def test_y_ticks_are_round_numbers_from_zero_past_the_maximum() -> None:
    assert y_ticks(0) == [0, 1] and y_ticks(2) == [0, 1, 2] and y_ticks(5) == [0, 1, 2, 3, 4, 5]
    assert y_ticks(7) == [0, 2, 4, 6, 8] and y_ticks(13) == [0, 5, 10, 15]
    for top in range(1, 2000, 7):
        ticks = y_ticks(top)
        steps = {b - a for a, b in itertools.pairwise(ticks)}
        assert ticks[0] == 0 and ticks[-1] >= top and len(steps) == 1
        assert 2 <= len(ticks) <= 6 and ticks[-2] < top  # no empty band at the top
        assert str(steps.pop()).lstrip("0").rstrip("0") in ("1", "2", "5")


@pytest.fixture()
def page(data: dict[str, Any], tmp_path: Path) -> Path:
    """The report, with one long table added (it must run over several printed pages)."""
    long = Table("Long table", ["task", "title", "time"], right={2})
    long.rows = [[str(n), f"Task number {n}", f"{n}m"] for n in range(1, 151)]
    html = render_html(data, PLUS2).replace("</body>", _table_html(long) + "</body>")
    path = tmp_path / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


@pytest.fixture()
def browser(tmp_path: Path) -> Any:
    with contextlib.closing(Browser(tmp_path / "profile")) as b:
        yield b


CHART_BOXES = """[...document.querySelectorAll('.chart svg')].map(s => {
  const r = s.getBoundingClientRect(); return [r.left, r.top, r.width, r.height];})"""
OVERFLOW = "document.documentElement.scrollWidth - innerWidth"


@needs_browser
def test_wide_screen_two_charts_side_by_side_scaled(browser: Browser, page: Path) -> None:
    browser.viewport(1280)
    browser.open(page.as_uri())
    boxes = browser.evaluate(CHART_BOXES)
    assert len(boxes) == 3
    (l0, t0, w0, h0), (l1, t1, w1, _h1), (_l2, t2, _w2, _h2) = boxes
    assert abs(t0 - t1) < 1 and l1 > l0 + w0  # first row: two charts, side by side
    assert t2 > t0 + h0  # the third below them
    assert 450 < w0 < 640 and abs(w0 - w1) < 1  # scaled to half the page, not 640 px fixed
    assert abs(h0 / w0 - 250 / 560) < 0.01  # the aspect ratio of the viewBox
    assert browser.evaluate(OVERFLOW) == 0


@needs_browser
def test_phone_width_charts_stack_and_nothing_overflows(browser: Browser, page: Path) -> None:
    browser.viewport(420)
    browser.open(page.as_uri())
    boxes = browser.evaluate(CHART_BOXES)
    lefts = {round(b[0]) for b in boxes}
    tops = [b[1] for b in boxes]
    assert len(lefts) == 1 and tops == sorted(tops) and len(set(tops)) == 3  # one per row
    assert all(b[0] + b[2] <= 420 for b in boxes)
    assert browser.evaluate(OVERFLOW) == 0  # wide tables scroll in their own box


def _luminance(css: str) -> float:
    r, g, b = (int(x) for x in re.findall(r"\d+", css)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


STYLE = """(() => {const g = e => getComputedStyle(document.querySelector(e));
  return [g('body').backgroundColor, g('body').color, g('.throughput-bar').fill,
          g('.chart').backgroundColor,
          document.querySelector('meta[name=color-scheme]').content];})()"""


@needs_browser
def test_dark_mode_follows_the_system(browser: Browser, page: Path) -> None:
    browser.viewport(1280)
    browser.media(dark=False)
    browser.open(page.as_uri())
    light = browser.evaluate(STYLE)
    browser.media(dark=True)
    dark = browser.evaluate(STYLE)
    assert light[4] == "light dark"
    assert _luminance(light[0]) > 0.9 and _luminance(light[1]) < 0.3
    assert _luminance(dark[0]) < 0.15 and _luminance(dark[1]) > 0.8  # light text on dark
    assert _luminance(dark[3]) < 0.2 and dark[2] != light[2]  # panels and bars follow


PRINT = """(() => {const g = e => getComputedStyle(document.querySelector(e));
  return [g('thead').display, g('tbody tr').breakInside, g('.chart').breakInside,
          g('body').backgroundColor, document.querySelectorAll('table thead').length,
          document.querySelectorAll('table').length];})()"""


@needs_browser
def test_print_repeats_table_headers_and_keeps_rows_whole(
    browser: Browser, page: Path, tmp_path: Path
) -> None:
    browser.viewport(1280)
    browser.media("print", dark=True)  # paper is white even when the screen is dark
    browser.open(page.as_uri())
    thead, row_break, chart_break, background, theads, tables = browser.evaluate(PRINT)
    assert thead == "table-header-group"  # repeated at the top of each printed page
    assert row_break == "avoid" and chart_break == "avoid"
    assert _luminance(background) > 0.9
    assert theads == tables - 1  # every table but the summary (no header row) has one
    pdf = browser.pdf()
    (tmp_path / "report.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF-")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pages >= 3, pages  # the long table runs over several pages


@needs_browser
def test_y_axis_ticks_are_drawn_in_order(browser: Browser, page: Path) -> None:
    browser.viewport(1280)
    browser.open(page.as_uri())
    charts = browser.evaluate(
        """[...document.querySelectorAll('.chart svg')].map(s => [
          Math.max(...[...s.querySelectorAll('[data-label]')].map(e => Number(e.dataset.value))),
          [...s.querySelectorAll('.y-tick')].map(t =>
            [Number(t.dataset.value), t.querySelector('text').getBoundingClientRect().top])])"""
    )
    for top, ticks in charts:
        values = [v for v, _y in ticks]
        tops = [y for _v, y in ticks]
        assert values[0] == 0 and values[-1] >= top and values[-2] < top, (top, values)
        if top >= 2:
            assert len(values) >= 3, values  # ticks between 0 and the max
        assert tops == sorted(tops, reverse=True)  # higher values higher up
    assert max(top for top, _ticks in charts) >= 5  # the burn-down: 0..5


TEXT_OUTSIDE = """[...document.querySelectorAll('.chart svg')].flatMap(s => {
  const box = s.getBoundingClientRect();
  return [...s.querySelectorAll('text')].map(t => [t.textContent, t.getBoundingClientRect()])
    .filter(([_, r]) => r.left < box.left - 0.5 || r.right > box.right + 0.5
                        || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
    .map(([text, _]) => text);})"""


@needs_browser
@pytest.mark.parametrize("width", [1280, 420])
def test_every_chart_label_is_inside_its_chart(browser: Browser, page: Path, width: int) -> None:
    """An SVG clips what falls outside its viewBox: the burn-down's last date ("11-30"),
    centred on the last point at the right edge, lost its end at 1280 px."""
    browser.viewport(width)
    browser.open(page.as_uri())
    assert browser.evaluate("document.querySelectorAll('.chart text.label').length") > 3
    assert browser.evaluate(TEXT_OUTSIDE) == []
