#!/usr/bin/env python3
"""Regenerate docs/report.png: a three-week sample history rendered by headless Chromium.

The history is synthetic but goes through the real Recorder API (transitions,
commits, agent executions with retries and failures), so the picture shows
exactly what `tmxd report --format html` produces.

Usage: scripts/report_screenshot.py [--out docs/report.png] [--html FILE]
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "daemon"))

from tmxd.metrics.html import render_html  # noqa: E402
from tmxd.metrics.recorder import Recorder  # noqa: E402
from tmxd.metrics.report import ReportQuery, build_report  # noqa: E402

TITLES = [
    "Parse tasks.json",
    "Status cascade",
    "Commit trailers",
    "Spool drain",
    "Daemon socket",
    "Prometheus export",
    "Retry with backoff",
    "Circuit breaker",
    "Worktree per task",
    "HTML report",
    "Daily report job",
    "Service unit",
    "Doctor checks",
    "Hook chaining",
    "Approval gate",
    "Cost tracking",
    "Routing by complexity",
    "Stale task alert",
]
ERRORS = ["tests failed: 2 failing", "lint failed: ruff", "timeout after 1800s"]


def sample_history(rec: Recorder, project: Path, now: datetime) -> None:
    rnd = random.Random(7)
    start = now - timedelta(days=21)
    for n, title in enumerate(TITLES, start=1):
        task = str(n)
        created = start + timedelta(hours=rnd.uniform(0, 48))
        rec.transition(project, task, None, "pending", "external", at=created, title=title)
        if n > 15:
            continue  # still pending
        began = created + timedelta(days=rnd.uniform(0.5, 12))
        rec.transition(project, task, "pending", "in-progress", "autopilot", at=began)
        moment = began
        for attempt in range(1, rnd.choice([2, 2, 3, 4]) + 1):
            seconds = rnd.uniform(90, 1500)
            ex = rec.execution_started(project, task, attempt, "medium", "claude", at=moment)
            ok = attempt > 1 and rnd.random() < 0.7
            rec.execution_finished(
                ex,
                success=ok,
                exit_code=0 if ok else 1,
                tool_calls=rnd.randrange(8, 60),
                turns=rnd.randrange(3, 20),
                input_tokens=rnd.randrange(20_000, 200_000),
                output_tokens=rnd.randrange(2_000, 20_000),
                cost_usd=round(rnd.uniform(0.05, 1.2), 2),
                peak_rss_bytes=rnd.randrange(200, 900) * 1_000_000,
                error=None if ok else rnd.choice(ERRORS),
                at=moment + timedelta(seconds=seconds),
            )
            moment += timedelta(hours=rnd.uniform(1, 20))
            if ok:
                break
        sha = f"{n:04x}{rnd.getrandbits(32):08x}"
        rec.commit(
            project,
            sha,
            f"{title} [{task}]",
            "Ada",
            moment,
            rnd.randrange(1, 9),
            rnd.randrange(10, 400),
            rnd.randrange(0, 120),
            "main",
            [task],
        )
        if n <= 13 and moment < now:
            rec.transition(project, task, "in-progress", "done", "autopilot", at=moment)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    ap.add_argument("--html", type=Path, default=None, help="also keep the HTML page here")
    args = ap.parse_args()
    browser = next(
        (shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None
    )
    if browser is None:
        raise SystemExit("needs chromium (Debian: apt-get install chromium)")
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="tmxd-shot-") as tmp:
        project = Path(tmp) / "tmxd-demo"
        project.mkdir()
        with Recorder.open(Path(tmp) / "metrics.db") as rec:
            sample_history(rec, project, now)
            report = build_report(
                rec.db.conn,
                ReportQuery(
                    since=now - timedelta(days=21), until=now, now=now, tz=UTC, project=project
                ),
            )
        page = Path(tmp) / "report.html"
        page.write_text(render_html(report, UTC), encoding="utf-8")
        if args.html:
            shutil.copyfile(page, args.html)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={Path(tmp) / 'profile'}",
                "--hide-scrollbars",
                "--window-size=1280,1400",
                f"--screenshot={args.out}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
