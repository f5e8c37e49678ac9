from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from metrics_fixture import NOW, PLUS2, SINCE, build
from tmxd.metrics.recorder import Recorder
from tmxd.metrics.report import ReportQuery, build_report, failure_reason, percentile

H = 3600.0
D = 86400.0


@pytest.fixture()
def projects(tmp_path: Path) -> tuple[Path, Path]:
    p, q = tmp_path / "proj", tmp_path / "other"
    p.mkdir()
    q.mkdir()
    return p, q


@pytest.fixture()
def rec(tmp_path: Path, projects: tuple[Path, Path]) -> Iterator[Recorder]:
    recorder = Recorder.open(tmp_path / "m.db")
    build(recorder, *projects)
    yield recorder
    recorder.close()


def report(rec: Recorder, **kw: Any) -> dict[str, Any]:
    kw.setdefault("since", SINCE)
    kw.setdefault("until", NOW)
    kw.setdefault("now", NOW)
    kw.setdefault("tz", PLUS2)
    return build_report(rec.db.conn, ReportQuery(**kw))


def test_percentile_interpolates_linearly() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0], 90) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([10.0, 20.0], 90) == pytest.approx(19.0)


def test_failure_reason_groups_by_first_line_or_exit_code() -> None:
    assert failure_reason("tests failed\nmore", 1) == "tests failed"
    assert failure_reason(None, 137) == "exit code 137"
    assert failure_reason("   ", None) == "unknown error"
    assert failure_reason("x" * 200, 1).endswith("...")


def test_summary(rec: Recorder, projects: tuple[Path, Path]) -> None:
    s = report(rec, project=projects[0])["summary"]
    assert s["total_tasks"] == 5
    assert s["success_rate"] == 0.4  # 2 of 5 finished executions
    assert s["avg_execution_time"] == 120.0  # (120+60+300+30+90)/5
    assert s["avg_tool_calls"] == 10.0  # (10+20+5+0+15)/5
    assert s["total_time"] == 600.0
    assert s["running"] == 1
    assert (s["succeeded"], s["failed"]) == (2, 3)
    assert s["tasks_in_project"] == 5  # tasks 1-5; run 9 has no transition
    assert s["tasks_changed"] == 5
    assert s["tasks_done"] == 5  # 4 became done on the 12th, then was reopened
    assert (s["input_tokens"], s["output_tokens"], s["cost_usd"]) == (3000, 300, 0.3)


def test_lead_and_cycle_times(rec: Recorder, projects: tuple[Path, Path]) -> None:
    lc = report(rec, project=projects[0])["lead_cycle"]
    by_task = {r["task"]: r for r in lc["tasks"]}
    assert set(by_task) == {"1", "2", "3", "5"}
    assert (by_task["1"]["lead_time"], by_task["1"]["cycle_time"]) == (2 * D, 1 * D)
    assert (by_task["2"]["lead_time"], by_task["2"]["cycle_time"]) == (2 * D, None)
    assert (by_task["3"]["lead_time"], by_task["3"]["cycle_time"]) == (3.5 * D, 3 * D)
    assert by_task["3"]["reopened"] == 1
    assert by_task["5"]["lead_time"] == 3 * D + 22.5 * H
    assert lc["lead_time"]["median"] == pytest.approx(237600.0)
    assert lc["lead_time"]["p90"] == pytest.approx(328860.0)
    assert lc["cycle_time"]["median"] == pytest.approx(172800.0)
    assert lc["cycle_time"]["p90"] == pytest.approx(241920.0)


def test_throughput_days_are_local(rec: Recorder, projects: tuple[Path, Path]) -> None:
    r = report(rec, project=projects[0])
    assert r["throughput"] == [
        {"date": "2026-11-10", "done": 0},
        {"date": "2026-11-11", "done": 2},
        {"date": "2026-11-12", "done": 2},
        {"date": "2026-11-13", "done": 1},
        {"date": "2026-11-14", "done": 1},  # task 5, 23:30 UTC
        {"date": "2026-11-15", "done": 0},
    ]
    utc = report(rec, project=projects[0], tz=UTC)["throughput"]
    assert [d["done"] for d in utc] == [0, 2, 2, 2, 0]  # 11-10 .. 11-14 in UTC


def test_burndown_counts_open_tasks_at_each_local_day_end(
    rec: Recorder, projects: tuple[Path, Path]
) -> None:
    bd = report(rec, project=projects[0])["burndown"]
    assert [d["open"] for d in bd] == [5, 3, 2, 2, 1, 1]


def test_status_now_vs_since(rec: Recorder, projects: tuple[Path, Path]) -> None:
    st = report(rec, project=projects[0])["status"]
    assert st["now"] == {"done": 4, "in-progress": 1, "pending": 0}
    assert st["at_since"] == {"done": 0, "in-progress": 0, "pending": 2}


def test_time_per_status_is_clipped_to_the_window(
    rec: Recorder, projects: tuple[Path, Path]
) -> None:
    tis = report(rec, project=projects[0])["time_in_status"]
    assert tis == {"done": 258.5 * H, "pending": 188.5 * H, "in-progress": 138 * H}


def test_slowest_retried_failures(rec: Recorder, projects: tuple[Path, Path]) -> None:
    r = report(rec, project=projects[0])
    assert [(x["task"], x["cycle_time"], x["execution_time"]) for x in r["slowest_tasks"]] == [
        ("3", 3 * D, 420.0),
        ("1", 1 * D, 180.0),
    ]
    assert [(x["task"], x["attempts"], x["failures"]) for x in r["most_retried"]] == [
        ("3", 3, 2),
        ("1", 2, 1),
    ]
    assert r["failure_reasons"] == [
        {"reason": "tests failed: test_parse", "count": 2, "tasks": ["1", "3"]},
        {"reason": "exit code 137", "count": 1, "tasks": ["3"]},
    ]


def test_commits_stale_and_running(rec: Recorder, projects: tuple[Path, Path]) -> None:
    r = report(rec, project=projects[0])
    c = r["commits"]
    assert (c["total"], c["linked"]) == (3, 2)
    assert [
        (x["task"], x["commits"], x["files"], x["insertions"], x["deletions"])
        for x in c["per_task"]
    ] == [("1", 2, 3, 40, 5), ("3", 1, 1, 10, 0)]
    assert r["stale_in_progress"] == [
        {
            "task": "4",
            "title": "Flaky test",
            "in_progress_since": "2026-11-13T06:00:00.000Z",
            "last_commit": "2026-11-08T09:00:00.000Z",
            "hours_in_progress": 42.0,
        }
    ]
    assert [(x["task"], x["elapsed"]) for x in r["running_executions"]] == [("4", 3600.0)]
    assert report(rec, project=projects[0], stale_hours=48)["stale_in_progress"] == []


def test_filters(rec: Recorder, projects: tuple[Path, Path]) -> None:
    everything = report(rec)
    assert everything["summary"]["total_tasks"] == 5
    assert everything["summary"]["tasks_in_project"] == 6
    labels = {x["task"] for x in everything["lead_cycle"]["tasks"]}
    assert labels == {"proj/1", "proj/2", "proj/3", "proj/5"}
    only3 = report(rec, project=projects[0], task="3")
    assert only3["summary"]["total_tasks"] == 3
    assert only3["summary"]["tasks_changed"] == 1
    assert [x["task"] for x in only3["commits"]["per_task"]] == ["3"]
    feat = report(rec, tag="feat")
    assert feat["summary"]["total_tasks"] == 0
    assert feat["summary"]["tasks_changed"] == 1
    assert feat["status"]["now"] == {"in-progress": 1}
    unknown = report(rec, project=projects[0] / "nope")
    assert unknown["empty"] is True


def test_all_time_window_starts_at_the_first_record(
    rec: Recorder, projects: tuple[Path, Path]
) -> None:
    r = report(rec, project=projects[0], since=None)
    assert r["window"]["since"] is None
    assert r["throughput"][0]["date"] == "2026-11-09"
    assert r["status"]["at_since"] is None
    assert r["summary"]["total_tasks"] == 6  # includes the run before the window
    assert r["summary"]["running"] == 1


def test_empty_database(tmp_path: Path) -> None:
    with Recorder.open(tmp_path / "empty.db") as rec:
        r = build_report(rec.db.conn, ReportQuery(now=NOW))
    assert r["empty"] is True
    assert r["summary"]["total_tasks"] == 0
    assert r["summary"]["success_rate"] is None


def test_window_excludes_later_history(rec: Recorder, projects: tuple[Path, Path]) -> None:
    r = report(rec, project=projects[0], until=datetime(2026, 11, 12, tzinfo=UTC))
    # At 11-12 00:00Z task 3 was done (first time) and task 4 not yet.
    assert r["status"]["now"] == {"done": 2, "in-progress": 1, "pending": 2}
    assert {x["task"] for x in r["lead_cycle"]["tasks"]} == {"1", "3"}
    assert r["lead_cycle"]["tasks"][1]["cycle_time"] == 1 * D
    assert timedelta(seconds=r["summary"]["total_time"]) == timedelta(seconds=600)


def test_lead_time_needs_the_creation(tmp_path: Path) -> None:
    with Recorder.open(tmp_path / "l.db") as rec:
        # First seen already pending (created before tmxd watched): no lead time.
        rec.transition(tmp_path, "7", "pending", "in-progress", "external", at=SINCE)
        done_at = SINCE + timedelta(hours=5)
        rec.transition(tmp_path, "7", "in-progress", "done", "external", at=done_at)
        r = build_report(rec.db.conn, ReportQuery(since=SINCE, until=NOW, now=NOW, tz=PLUS2))
    (row,) = r["lead_cycle"]["tasks"]
    assert (row["created"], row["lead_time"], row["cycle_time"]) == (None, None, 5 * H)
    assert r["lead_cycle"]["lead_time"] == {"median": None, "p90": None}


def test_days_follow_daylight_saving_time(tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")  # CEST (+2) until 2026-10-25 01:00Z, then CET (+1)
    with Recorder.open(tmp_path / "dst.db") as rec:
        for task, done in (
            ("1", datetime(2026, 10, 24, 22, 30, tzinfo=UTC)),
            ("2", datetime(2026, 10, 25, 23, 30, tzinfo=UTC)),
        ):
            rec.transition(tmp_path, task, None, "pending", "external", at=done - timedelta(days=1))
            rec.transition(tmp_path, task, "pending", "done", "external", at=done)
        since = datetime(2026, 10, 23, 22, 0, tzinfo=UTC)  # Berlin midnight, Oct 24
        until = datetime(2026, 10, 26, 23, 0, tzinfo=UTC)  # Berlin midnight, Oct 27
        local = build_report(
            rec.db.conn, ReportQuery(since=since, until=until, now=until, tz=berlin)
        )
        utc = build_report(rec.db.conn, ReportQuery(since=since, until=until, now=until, tz=UTC))
    assert [(d["date"], d["done"]) for d in local["throughput"]] == [
        ("2026-10-24", 0),
        ("2026-10-25", 1),  # 00:30 CEST
        ("2026-10-26", 1),  # 00:30 CET
    ]
    assert [d["open"] for d in local["burndown"]] == [1, 1, 0]
    assert [(d["date"], d["done"]) for d in utc["throughput"]] == [
        ("2026-10-23", 0),
        ("2026-10-24", 1),
        ("2026-10-25", 1),
        ("2026-10-26", 0),
    ]


def test_running_totals_give_the_same_execution_figures_as_the_rows(
    rec: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An all-time report reads execution_task_totals; a scan of every row agrees."""
    from tmxd.metrics import report as report_module

    quick = report(rec, since=None)
    monkeypatch.setattr(
        report_module,
        "_time_window",
        lambda *_a: (" AND started_at >= ?", [""]),  # a bound every row meets: the row scan
    )
    slow = report(rec, since=None)
    for key in ("summary", "agents", "most_retried", "slowest_tasks"):
        assert quick[key] == slow[key], key


def test_a_rewrite_between_done_like_statuses_is_not_work_done(tmp_path: Path) -> None:
    """Task Master's own save turns `completed` into `done`: no task became done that day."""
    with Recorder.open(tmp_path / "r.db") as rec:
        rec.transition(tmp_path, "41.1", None, "pending", "external", at=SINCE - timedelta(days=9))
        done_at = SINCE - timedelta(days=5)
        rec.transition(tmp_path, "41.1", "pending", "completed", "external", at=done_at)
        rewrite = SINCE + timedelta(days=1)
        rec.transition(tmp_path, "41.1", "completed", "done", "external", at=rewrite)
        r = build_report(rec.conn, ReportQuery(since=SINCE, until=NOW, now=NOW, tz=PLUS2))
        whole = build_report(rec.conn, ReportQuery(until=NOW, now=NOW, tz=PLUS2))
    assert r["summary"]["tasks_done"] == 0
    assert sum(d["done"] for d in r["throughput"]) == 0
    assert r["lead_cycle"]["tasks"] == []  # its done is the one before the window
    assert r["summary"]["tasks_changed"] == 1  # the rewrite is still a status change
    (row,) = whole["lead_cycle"]["tasks"]
    assert (row["done"], row["lead_time"]) == ("2026-11-05T00:00:00.000Z", 4 * D)
    assert whole["summary"]["tasks_done"] == 1


def test_a_commit_counts_for_the_task_of_its_own_tag(tmp_path: Path) -> None:
    """Task 5.1 of tag ``two`` is not master's 5.1: its commit is listed with its title,
    under ``--tag two`` only, and it keeps two's 5.1 from being stale, not master's."""
    with Recorder.open(tmp_path / "t.db") as rec:
        started = SINCE - timedelta(days=3)
        for tag, title in (("master", "Outline page"), ("two", "Tabs for links")):
            rec.transition(tmp_path, "5.1", "pending", "in-progress", "external", tag=tag,
                           title=title, at=started)  # fmt: skip
        rec.commit(tmp_path, "a" * 40, "Tabs", "dev", SINCE + timedelta(days=1), 1, 9, 0,
                   "main", ["5.1"], tag="two")  # fmt: skip
        everything, two, master = (
            build_report(rec.conn, ReportQuery(since=SINCE, until=NOW, now=NOW, tag=tag))
            for tag in (None, "two", "master")
        )
    (row,) = everything["commits"]["per_task"]
    assert (row["title"], row["commits"], row["insertions"]) == ("Tabs for links", 1, 9)
    assert [x["title"] for x in two["commits"]["per_task"]] == ["Tabs for links"]
    assert master["commits"]["per_task"] == []
    # the commit names a task of two, none of master's
    assert [(r["commits"]["total"], r["commits"]["linked"]) for r in (two, master)] == [
        (1, 1),
        (1, 0),
    ]
    stale = {x["title"]: x["last_commit"] for x in everything["stale_in_progress"]}
    assert stale == {"Outline page": None}


def test_commits_that_cannot_name_a_task_are_left_out_unless_they_do(tmp_path: Path) -> None:
    from tmxd.metrics import records

    p = tmp_path / "p"
    p.mkdir()
    when = datetime(2026, 11, 12, tzinfo=UTC)

    def made(sha: str, tasks: list[str], **kind: Any) -> records.Record:
        return records.commit(p, sha, sha, "Ada", when, 1, 1, 0, "main", tasks, **kind)

    old = made("old", [])
    del old["merge"], old["taskmaster_only"]  # a journal line from before: not known
    with Recorder.open(tmp_path / "c.db") as rec:
        rec.store(
            [
                made("a", ["1"], merge=False, taskmaster_only=False),
                made("m1", [], merge=True, taskmaster_only=False),
                made("m2", [], merge=True),
                made("tm", [], merge=False, taskmaster_only=True),
                made("tm-named", ["2"], merge=False, taskmaster_only=True),  # named: counts
                made("none", [], merge=False, taskmaster_only=False),  # control: counts
                old,  # counts, as before
            ]
        )
        got = build_report(rec.db.conn, ReportQuery(project=p, now=NOW))["commits"]
        assert (got["linked"], got["total"], got["merges"], got["taskmaster_only"]) == (2, 4, 2, 1)
        assert rec.db.conn.execute(
            "SELECT merge, taskmaster_only FROM commits WHERE sha = 'old'"
        ).fetchone() == (None, None)
        by_tag = build_report(rec.db.conn, ReportQuery(project=p, now=NOW, tag="master"))
        assert by_tag["commits"]["total"] == 4
