from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from tmxd.metrics import MetricsError, Recorder
from tmxd.metrics.recorder import from_db_time, to_db_time

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Read the file the way an outside tool would: plain sqlite3."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture()
def rec(tmp_path: Path) -> Iterator[Recorder]:
    recorder = Recorder.open(tmp_path / "m.db")
    yield recorder
    recorder.close()


def test_open_defaults_to_tmxd_db(hermetic_env: Path) -> None:
    with Recorder.open() as rec:
        assert rec.path == hermetic_env / "state" / "metrics.db"
    assert (hermetic_env / "state" / "metrics.db").exists()


def test_time_round_trip_is_utc() -> None:
    plus2 = datetime(2026, 11, 20, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert to_db_time(plus2) == "2026-11-20T09:00:00.123Z"
    assert from_db_time("2026-11-20T09:00:00.123Z") == datetime(
        2026, 11, 20, 9, 0, 0, 123000, tzinfo=UTC
    )


def test_projects_are_mapped_once_per_root(rec: Recorder, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    rec.event(a, "started", {"x": 1}, at=T0)
    rec.event(a / ".", "again", {}, at=T0)
    rec.event(b, "started", {}, at=T0)
    assert rows(rec.path, "SELECT root, name FROM projects ORDER BY id") == [
        (str(a.resolve()), "a"),
        (str(b.resolve()), "b"),
    ]
    got = rows(rec.path, "SELECT project_id, kind, data, at FROM events ORDER BY id")
    assert got == [
        (1, "started", json.dumps({"x": 1}), "2026-11-20T09:00:00.000Z"),
        (1, "again", "{}", "2026-11-20T09:00:00.000Z"),
        (2, "started", "{}", "2026-11-20T09:00:00.000Z"),
    ]


def test_transition_rows(rec: Recorder, tmp_path: Path) -> None:
    rec.transition(tmp_path, "5.2", None, "pending", "external", title="Write it", at=T0)
    rec.transition(tmp_path, "5.2", "pending", "done", "commit", tag="feat", at=T0)
    assert rows(
        rec.path, "SELECT tag, task_id, title, old_status, new_status, source FROM transitions"
    ) == [
        ("master", "5.2", "Write it", None, "pending", "external"),
        ("feat", "5.2", None, "pending", "done", "commit"),
    ]
    with pytest.raises(ValueError):
        rec.transition(tmp_path, "1", None, "done", "martians")


def test_transitions_stored_per_project_and_thread(rec: Recorder, tmp_path: Path) -> None:
    """What this process recorded, by thread (the daemon's status counts its autopilot's
    threads apart from the engine's); baselines are no transitions."""
    other = tmp_path / "other"
    rec.transition(tmp_path, "1", None, "pending", "baseline", at=T0)
    rec.transition(tmp_path, "1", "pending", "done", "external", at=T0)
    worker = threading.Thread(
        target=lambda: [
            rec.transition(tmp_path, "2", "pending", "in-progress", "autopilot", at=T0),
            rec.transition(other, "2", "pending", "done", "autopilot", at=T0),
        ]
    )
    worker.start()
    worker.join()
    here = threading.get_ident()
    assert rec.transitions_stored(tmp_path) == 2
    assert rec.transitions_stored(tmp_path, except_thread=here) == 1
    assert rec.transitions_stored(other, except_thread=here) == 1


def test_each_changed_tasks_status_at_a_moment(rec: Recorder, tmp_path: Path) -> None:
    t0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    before, after = t0 - timedelta(hours=1), t0 + timedelta(hours=1)
    rec.transition(tmp_path, "1", "in-progress", "done", "external", at=before)
    rec.transition(tmp_path, "2", "in-progress", "review", "external", at=after)
    rec.transition(tmp_path, "2", "review", "done", "external", at=after + timedelta(hours=1))
    rec.transition(tmp_path, "3", "pending", "in-progress", "external", at=after)
    rec.transition(tmp_path, "5", None, "pending", "external", at=after)
    rec.transition(tmp_path, "4", "in-progress", "done", "cascade", tag="feat", at=after)
    # the old status of each task's first change after t0; task 1 has none since
    assert rec.statuses_then(tmp_path, "master", t0) == {
        "2": "in-progress",
        "3": "pending",
        "5": None,
    }
    assert rec.statuses_then(tmp_path, "feat", t0) == {"4": "in-progress"}
    assert rec.statuses_then(tmp_path / "other", "master", t0) == {}


def test_commit_is_recorded_once_with_its_tasks(rec: Recorder, tmp_path: Path) -> None:
    args = dict(
        subject="Add parser [5.2]",
        author="Ada <ada@example.invalid>",
        committed_at=T0,
        files=3,
        insertions=40,
        deletions=2,
        branch="main",
        task_ids=["5.2", "7", "5.2"],
    )
    assert rec.commit(tmp_path, "abc123", **args) == 1  # type: ignore[arg-type]
    assert rec.commit(tmp_path, "abc123", **args) == 0  # type: ignore[arg-type]
    assert rows(rec.path, "SELECT sha, files, insertions, deletions, branch FROM commits") == [
        ("abc123", 3, 40, 2, "main")
    ]
    assert rows(rec.path, "SELECT task_id FROM commit_tasks ORDER BY task_id") == [
        ("5.2",),
        ("7",),
    ]


def test_execution_lifecycle(rec: Recorder, tmp_path: Path) -> None:
    ex = rec.execution_started(tmp_path, "3", 1, "medium", "claude", at=T0)
    assert rows(rec.path, "SELECT finished_at, success FROM executions") == [(None, None)]
    rec.execution_finished(
        ex,
        success=False,
        exit_code=1,
        tool_calls=12,
        turns=4,
        input_tokens=1000,
        output_tokens=200,
        cost_usd=0.05,
        peak_rss_bytes=123456,
        error="tests failed",
        at=T0 + timedelta(seconds=90),
    )
    assert rows(
        rec.path,
        "SELECT attempt, route, agent, finished_at, duration_ms, success, exit_code, tool_calls, "
        "turns, input_tokens, output_tokens, cost_usd, peak_rss_bytes, error FROM executions",
    ) == [
        (
            1,
            "medium",
            "claude",
            "2026-11-20T09:01:30.000Z",
            90000.0,
            0,
            1,
            12,
            4,
            1000,
            200,
            0.05,
            123456,
            "tests failed",
        )
    ]
    with pytest.raises(MetricsError):
        rec.execution_finished(
            9999,
            success=True,
            exit_code=0,
            tool_calls=0,
            turns=None,
            input_tokens=None,
            output_tokens=None,
            cost_usd=None,
            peak_rss_bytes=None,
            error=None,
        )


def test_explicit_duration_wins(rec: Recorder, tmp_path: Path) -> None:
    ex = rec.execution_started(tmp_path, "3", 1, "simple", "script", at=T0)
    rec.execution_finished(
        ex,
        success=True,
        exit_code=0,
        tool_calls=0,
        turns=None,
        input_tokens=None,
        output_tokens=None,
        cost_usd=None,
        peak_rss_bytes=None,
        error=None,
        at=T0 + timedelta(seconds=10),
        duration_ms=9500.0,
    )
    assert rows(rec.path, "SELECT duration_ms, success FROM executions") == [(9500.0, 1)]


def test_hook_tool_and_job_runs(rec: Recorder, tmp_path: Path) -> None:
    rec.hook_run(tmp_path, "post-commit", True, duration_ms=3.5, at=T0)
    rec.tool_call(tmp_path, "sess-1", "Bash", False, 120.0, "4", at=T0)
    rec.tool_call(tmp_path, "sess-1", "Read", True, None, None, at=T0)
    assert rows(rec.path, "SELECT hook, duration_ms, ok, detail FROM hook_runs") == [
        ("post-commit", 3.5, 1, "")
    ]
    assert rows(rec.path, "SELECT session_id, tool, success, task_id FROM tool_calls") == [
        ("sess-1", "Bash", 0, "4"),
        ("sess-1", "Read", 1, None),
    ]
    assert rec.last_job_run("daily-report") is None
    rec.job_run("daily-report", T0, T0 + timedelta(seconds=1), True)
    rec.job_run("daily-report", T0 + timedelta(days=1), T0 + timedelta(days=1), False, "boom")
    assert rec.last_job_run("daily-report") == T0
    rec.job_run("retention", T0, T0, True, project=tmp_path)
    assert rec.last_job_run("retention", project=tmp_path) == T0
    assert rows(rec.path, "SELECT project_id FROM job_runs ORDER BY id") == [(None,), (None,), (1,)]


def test_prune_deletes_old_rows_keeps_running_executions(rec: Recorder, tmp_path: Path) -> None:
    now = T0 + timedelta(days=200)
    old = rec.execution_started(tmp_path, "1", 1, "simple", "a", at=T0)
    rec.execution_finished(
        old,
        success=True,
        exit_code=0,
        tool_calls=1,
        turns=1,
        input_tokens=None,
        output_tokens=None,
        cost_usd=None,
        peak_rss_bytes=None,
        error=None,
        at=T0,
    )
    rec.execution_started(tmp_path, "2", 1, "simple", "a", at=T0)  # still running
    for i in range(300):
        rec.event(tmp_path, "noise", {"payload": "x" * 500, "i": i}, at=T0)
    rec.event(tmp_path, "recent", {}, at=now - timedelta(days=1))
    rec.commit(tmp_path, "old", "s", "a", T0, 1, 1, 1, None, ["1"])
    deleted = rec.prune(timedelta(days=180), now=now)
    assert deleted["events"] == 300
    assert deleted["executions"] == 1
    assert deleted["commits"] == 1
    assert rows(rec.path, "SELECT task_id FROM executions") == [("2",)]
    assert rows(rec.path, "SELECT kind FROM events") == [("recent",)]
    assert rows(rec.path, "SELECT count(*) FROM commit_tasks") == [(0,)]
    assert rows(rec.path, "PRAGMA freelist_count") == [(0,)]


def test_one_connection_per_thread(rec: Recorder, tmp_path: Path) -> None:
    errors: list[BaseException] = []
    seen: list[object] = []  # the connections themselves: an id() can be reused once freed

    def work(n: int) -> None:
        try:
            seen.append(rec.db)
            for i in range(50):
                rec.transition(tmp_path, f"{n}.{i}", "pending", "done", "tmxd", at=T0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert len({id(db) for db in seen}) == 4
    assert rows(rec.path, "SELECT count(*) FROM transitions") == [(200,)]


def test_closed_recorder_refuses_writes(tmp_path: Path) -> None:
    rec = Recorder.open(tmp_path / "m.db")
    rec.close()
    with pytest.raises(MetricsError, match="closed"):
        rec.event(tmp_path, "x", {})


def test_write_failure_is_a_metrics_error(tmp_path: Path) -> None:
    rec = Recorder.open(tmp_path / "m.db")
    try:
        conn = sqlite3.connect(tmp_path / "m.db")
        conn.execute("DROP TABLE hook_runs")
        conn.commit()
        conn.close()
        with pytest.raises(MetricsError, match="cannot record metrics"):
            rec.hook_run(tmp_path, "post-commit", True, duration_ms=1.0)
        rec.event(tmp_path, "still works", {})
    finally:
        rec.close()


def hold(path: Path) -> sqlite3.Connection:
    """Another connection holding the database, as a long `sqlite3` session can."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_a_busy_database_sends_records_to_the_journal(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    Recorder.open(db).close()
    holder = hold(db)
    try:
        with Recorder.open(db, wait=0.05) as rec:
            assert rec.event(tmp_path, "while held", {}) == 0
            assert rec.journaled == 1 and rec.journal.pending()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with Recorder.open(db) as rec:
        rec.event(tmp_path, "later", {})  # a later writer ingests what waited
        assert not rec.journal.pending()
    assert sorted(rows(db, "SELECT kind FROM events")) == [("later",), ("while held",)]


def test_ingesting_twice_adds_nothing_and_a_bad_file_is_set_aside(tmp_path: Path) -> None:
    from tmxd.metrics import records

    with Recorder.open(tmp_path / "m.db") as rec:
        good = records.event(tmp_path, "good", {})
        rec.journal.append([good])
        rec.journal.append([good])  # the same record twice (an ingester killed mid-way)
        assert rec.ingest_journal() == 1
        rec.journal.append([{**good, "kind": "from-a-newer-tmxd", "key": "k2"}])
        assert rec.ingest_journal() == 0  # refused, set aside, the writer's own work goes on
        rec.event(tmp_path, "after", {})
        assert not rec.journal.pending()
        assert [p.suffix for p in rec.journal.dir.glob(f"{rec.journal.name}.*.rejected")] == [
            ".rejected"
        ]
    assert rows(tmp_path / "m.db", "SELECT kind FROM events ORDER BY id") == [
        ("good",),
        ("after",),
    ]
