"""A hand-computed metrics history shared by the report, render and CLI tests.

Window: 2026-11-10T00:00Z .. 2026-11-15T00:00Z ("now"). Display zone UTC+2.
Every expected number below is worked out by hand in tests/test_metrics_report.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tmxd.metrics.recorder import Recorder
from tmxd.metrics.report import ReportQuery, build_report

PLUS2 = timezone(timedelta(hours=2))
SINCE = datetime(2026, 11, 10, tzinfo=UTC)
NOW = datetime(2026, 11, 15, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def build(rec: Recorder, project: Path, other: Path) -> None:
    t = rec.transition
    # 1: pending before the window, in progress, done.
    t(project, "1", None, "pending", "external", at=at(9, 10), title="Parse the config")
    t(project, "1", "pending", "in-progress", "tmxd", at=at(10, 10))
    t(project, "1", "in-progress", "done", "commit", at=at(11, 10))
    # 2: done without ever being in progress.
    t(project, "2", None, "pending", "external", at=at(10, 8), title="Write docs")
    t(project, "2", "pending", "done", "external", at=at(12, 8))
    # 3: reopened after done, then done again.
    t(project, "3", None, "pending", "external", at=at(10, 0), title="Retry logic")
    t(project, "3", "pending", "in-progress", "autopilot", at=at(10, 12))
    t(project, "3", "in-progress", "done", "autopilot", at=at(11, 12))
    t(project, "3", "done", "in-progress", "external", at=at(12, 12))
    t(project, "3", "in-progress", "done", "autopilot", at=at(13, 12))
    # 4: reopened and still in progress (stale: 42 h before "now").
    t(project, "4", None, "pending", "external", at=at(10, 6), title="Flaky test")
    t(project, "4", "pending", "in-progress", "tmxd", at=at(11, 6))
    t(project, "4", "in-progress", "done", "tmxd", at=at(12, 6))
    t(project, "4", "done", "in-progress", "external", at=at(13, 6))
    # 5: done at 23:30 UTC, which is the next day at UTC+2.
    t(project, "5", None, "pending", "external", at=at(10, 1), title="Late night")
    t(project, "5", "pending", "done", "external", at=at(13, 23, 30))
    # Another project, another tag.
    t(other, "1", None, "in-progress", "external", tag="feat", at=at(12, 0), title="Other")

    def run(
        task: str,
        attempt: int,
        start: datetime,
        seconds: float | None,
        ok: bool,
        tools: int,
        exit_code: int | None = 0,
        error: str | None = None,
        tokens: tuple[int, int] | None = None,
        cost: float | None = None,
    ) -> None:
        ex = rec.execution_started(project, task, attempt, "medium", "claude", at=start)
        if seconds is None:
            return
        rec.execution_finished(
            ex,
            success=ok,
            exit_code=exit_code,
            tool_calls=tools,
            turns=3,
            input_tokens=tokens[0] if tokens else None,
            output_tokens=tokens[1] if tokens else None,
            cost_usd=cost,
            peak_rss_bytes=None,
            error=error,
            at=start + timedelta(seconds=seconds),
        )

    run(
        "1",
        1,
        at(10, 10),
        120,
        False,
        10,
        1,
        "tests failed: test_parse\nTraceback",
        (1000, 100),
        0.1,
    )
    run("1", 2, at(10, 11), 60, True, 20, 0, None, (2000, 200), 0.2)
    run("3", 1, at(10, 13), 300, False, 5, 2, "tests failed: test_parse\nother detail")
    run("3", 2, at(10, 14), 30, False, 0, 137, None)
    run("3", 3, at(10, 15), 90, True, 15)
    run("4", 1, at(14, 23), None, False, 0)  # still running
    run("9", 1, at(9, 0), 100, True, 1)  # before the window

    rec.commit(project, "c1", "Parse [1]", "Ada", at(11, 9), 2, 30, 5, "main", ["1"])
    rec.commit(project, "c2", "More [1] [3]", "Ada", at(12, 9), 1, 10, 0, "main", ["1", "3"])
    rec.commit(project, "c3", "Unlinked", "Ada", at(12, 10), 4, 4, 4, "main", [])
    rec.commit(project, "c4", "Old [4]", "Ada", at(8, 9), 1, 1, 1, "main", ["4"])


def finish(rec: Recorder, execution: int, **overrides: Any) -> None:
    """End an execution: a success with 1 tool call and nothing else reported, unless
    ``overrides`` say otherwise (``duration_ms=2000``, ``success=False``, ...)."""
    outcome: dict[str, Any] = {
        "success": True,
        "exit_code": 0,
        "tool_calls": 1,
        "turns": 1,
        "input_tokens": None,
        "output_tokens": None,
        "cost_usd": None,
        "peak_rss_bytes": None,
        "error": None,
    }
    rec.execution_finished(execution, **{**outcome, **overrides})


def fixture_report(folder: Path) -> dict[str, Any]:
    """The report over :func:`build` for the main project, window SINCE..NOW, shown at UTC+2."""
    p, q = folder / "proj", folder / "other"
    p.mkdir()
    q.mkdir()
    with Recorder.open(folder / "m.db") as rec:
        build(rec, p, q)
        return build_report(
            rec.db.conn, ReportQuery(since=SINCE, until=NOW, now=NOW, tz=PLUS2, project=p)
        )
