"""The HTML report rendered by a real browser (headless Chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from metrics_fixture import PLUS2, fixture_report
from tmxd.metrics.html import CYCLE_BINS, cycle_histogram, render_html

BROWSER = next(
    (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
    None,
)
needs_browser = pytest.mark.skipif(
    BROWSER is None, reason="no Chromium on PATH (.ci/run installs the Debian package `chromium`)"
)


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert BROWSER is not None
    return subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            *args,
        ],
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
