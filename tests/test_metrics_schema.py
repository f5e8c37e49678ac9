from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlite_utils import Database

from tmxd.metrics import schema, stale
from tmxd.metrics.schema import MetricsError


def connect(path: Path) -> Database:
    """tmxd's connection, seen through sqlite-utils for its table helpers."""
    return Database(schema.connect(path), execute_plugins=False)


TABLES = {
    "projects",
    "events",
    "commits",
    "commit_tasks",
    "transitions",
    "executions",
    "hook_runs",
    "job_runs",
    "tool_calls",
}


def test_new_database_has_every_table_wal_and_settings(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "m.db"
    db = connect(path)
    try:
        assert set(db.table_names()) >= TABLES
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 10_000
        assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2  # INCREMENTAL
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema.schema_version()
        for table in TABLES - {"projects", "job_runs"}:
            assert "project_id" in db[table].columns_dict, table
    finally:
        db.close()


def test_indexes_cover_report_queries(tmp_path: Path) -> None:
    db = connect(tmp_path / "m.db")

    def plan(sql: str) -> str:
        return " ".join(str(row) for row in db.execute("EXPLAIN QUERY PLAN " + sql).fetchall())

    try:
        assert "executions_started" in plan(
            "SELECT min(started_at) FROM executions WHERE started_at >= '2026'"
        )
        walk = plan(
            "SELECT project_id, tag, task_id, new_status, at, title FROM transitions "
            "INDEXED BY transitions_walk ORDER BY project_id, tag, task_id, at"
        )
        assert "COVERING INDEX transitions_walk" in walk and "TEMP B-TREE" not in walk
        per_task = plan(
            "SELECT project_id, tag, task_id, agent, count(*), sum(duration_ms), sum(cost_usd) "
            "FROM executions INDEXED BY executions_task_cov WHERE started_at >= '' "
            "GROUP BY project_id, tag, task_id, agent"
        )
        assert "COVERING INDEX executions_task_cov" in per_task and "TEMP B-TREE" not in per_task
        failures = plan(
            "SELECT error, exit_code, count(*) FROM executions INDEXED BY executions_failures "
            "WHERE success = 0 GROUP BY error, exit_code"
        )
        assert "COVERING INDEX executions_failures" in failures
    finally:
        db.close()


def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    connect(path).close()
    db = connect(path)
    try:
        rows = db.execute("SELECT name FROM _sqlite_migrations").fetchall()
        assert [r[0] for r in rows] == schema.known_migration_names()
    finally:
        db.close()


def test_older_database_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    # An "older tmxd": the same file with only the migration history table.
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE keep_me (x INTEGER)")
    raw.execute("INSERT INTO keep_me VALUES (42)")
    raw.commit()
    raw.close()
    db = connect(path)
    try:
        assert set(db.table_names()) >= TABLES
        assert db.execute("SELECT x FROM keep_me").fetchone()[0] == 42
    finally:
        db.close()


def test_database_from_the_first_release_gains_the_report_indexes(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    old = Database(path)
    schema.migration_set().apply(old, stop_before="m002_report_indexes")
    old["projects"].insert({"root": "/p", "name": "p", "created_at": "2026-11-01T00:00:00.000Z"})
    assert "executions_task_cov" not in {i.name for i in old["executions"].indexes}
    old.close()
    db = connect(path)
    try:
        names = {i.name for i in db["executions"].indexes}
        assert {"executions_task_cov", "executions_failures", "executions_running"} <= names
        assert "executions_project_task" not in names
        assert db.execute("SELECT root FROM projects").fetchall() == [("/p",)]
        assert db.execute("PRAGMA user_version").fetchone()[0] == schema.schema_version()
    finally:
        db.close()


def test_commit_links_of_an_older_database_keep_no_tag_and_count_as_master(
    tmp_path: Path,
) -> None:
    path = tmp_path / "m.db"
    old = Database(path)
    schema.migration_set().apply(old, stop_before="m007_commit_task_tags")
    pid = old["projects"].insert({"root": "/p", "name": "p", "created_at": "2026-11-01"}).last_pk
    cid = old["commits"].insert(
        {"project_id": pid, "sha": "a" * 40, "subject": "s", "author": "a",
         "committed_at": "2026-11-02T00:00:00.000Z", "recorded_at": "2026-11-02T00:00:00.000Z",
         "files": 1, "insertions": 1, "deletions": 0},
    ).last_pk  # fmt: skip
    old["commit_tasks"].insert({"commit_id": cid, "project_id": pid, "task_id": "3"})
    old.close()
    db = connect(path)
    try:
        assert db.execute("SELECT task_id, tag FROM commit_tasks").fetchall() == [("3", None)]
        found = stale.last_commit_per_task(db.conn, "1", [], "2026-12-01T00:00:00.000Z")
        assert list(found) == [(pid, "master", "3")]
    finally:
        db.close()


def test_newer_database_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    connect(path).close()
    raw = sqlite3.connect(path)
    raw.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('tmxd', 'm999_from_the_future', '2030-01-01')"
    )
    raw.commit()
    raw.close()
    with pytest.raises(MetricsError) as info:
        schema.connect(path)
    message = info.value.message
    assert str(path) in message
    assert "newer tmxd" in message
    assert "m999_from_the_future" in message
    assert "TMXD_DB" in message


def test_not_a_database_is_a_clear_error_and_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    path.write_bytes(b"this is not sqlite, it is a text file long enough to matter" * 20)
    before = path.read_bytes()
    with pytest.raises(MetricsError) as info:
        schema.connect(path)
    assert str(path) in info.value.message
    assert path.read_bytes() == before


def test_table_counts(tmp_path: Path) -> None:
    db = connect(tmp_path / "m.db")
    try:
        counts = schema.table_counts(db.conn)
        assert set(counts) == TABLES
        assert all(v == 0 for v in counts.values())
    finally:
        db.close()


def test_an_up_to_date_database_opens_without_sqlite_utils(tmp_path: Path) -> None:
    """Hooks open the database on every call: only migrating loads sqlite-utils."""
    import subprocess
    import sys

    path = tmp_path / "m.db"
    schema.connect(path).close()
    probe = (
        "import sys; from pathlib import Path; from tmxd.metrics.schema import connect; "
        "connect(Path(sys.argv[1])).close(); print('sqlite_utils' in sys.modules)"
    )
    from helpers import subprocess_env

    out = subprocess.run(
        [sys.executable, "-c", probe, str(path)],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_the_views_answer_with_the_reports_definitions(tmp_path: Path) -> None:
    from metrics_fixture import finish
    from tmxd.metrics.recorder import Recorder

    root = tmp_path / "p"
    root.mkdir()
    with Recorder.open(tmp_path / "v.db") as rec:
        t = rec.transition
        t(root, "1", "pending", "pending", "baseline", title="Old title", at=_at(1))
        t(root, "1", "pending", "completed", "external", at=_at(2))
        t(root, "1", "completed", "done", "external", at=_at(3))  # a rewrite: not work done
        t(root, "2", None, "pending", "external", title="Two", at=_at(2))
        t(root, "2", "pending", "done", "tmxd", title="Two, renamed", at=_at(3))
        t(root, "3", "done", "done", "baseline", title="Done before", at=_at(1))
        ex = rec.execution_started(root, "2", 1, "simple", "script", session_id="sess")
        finish(rec, ex, tool_calls=4, duration_ms=2000)
        rec.execution_started(root, "2", 2, "simple", "script")  # still running
        q = rec.conn.execute
        assert sorted(q("SELECT task_id, title FROM task_titles")) == [
            ("1", "Old title"),
            ("2", "Two, renamed"),
            ("3", "Done before"),
        ]
        assert sorted(q("SELECT task_id, status FROM task_status_now")) == [
            ("1", "done"),
            ("2", "done"),
            ("3", "done"),
        ]
        assert q("SELECT day, tasks_done FROM done_per_day").fetchall() == [
            ("2026-11-02", 1),  # task 1 became completed
            ("2026-11-03", 1),  # task 2; task 1's rewrite to done does not count again
        ]
        row = q(
            "SELECT project, total_tasks, success_rate, avg_execution_time, avg_tool_calls, "
            "total_time, running FROM executions_by_project"
        ).fetchone()
        assert row == ("p", 1, 1.0, 2.0, 4.0, 2.0, 1)
        stopped = rec.execution_started(root, "2", 3, "simple", "script")
        finish(rec, stopped, success=False, error="interrupted", duration_ms=4000)
        row = q(
            "SELECT total_tasks, succeeded, failed, interrupted, success_rate, total_time "
            "FROM executions_by_project"
        ).fetchone()
        assert row == (2, 1, 0, 1, 1.0, 6.0)  # an interrupt is no failure; its time counts
        assert q("SELECT session_id FROM executions WHERE id = ?", (ex,)).fetchone() == ("sess",)


def _at(day: int) -> datetime:
    return datetime(2026, 11, day, 12, tzinfo=UTC)


def test_the_datasette_canned_queries_run(tmp_path: Path) -> None:
    """docs/datasette.json's queries answer on a real database (the fixture's history)."""
    import json

    from helpers import REPO_ROOT
    from metrics_fixture import build
    from tmxd.metrics.recorder import Recorder

    meta = json.loads((REPO_ROOT / "docs" / "datasette.json").read_text())
    queries = meta["databases"]["metrics"]["queries"]
    p, q = tmp_path / "proj", tmp_path / "other"
    p.mkdir()
    q.mkdir()
    with Recorder.open(tmp_path / "metrics.db") as rec:
        build(rec, p, q)
        rec.hook_run(p, "claude", True, duration_ms=12.0, detail="PostToolUse via journal")
        answers = {
            name: rec.conn.execute(query["sql"]).fetchall() for name, query in queries.items()
        }
    assert len(answers["task_status"]) == 6
    assert answers["executions_by_project"][0][:3] == ("proj", 6, 0.5)
    assert answers["hook_times"] == [("claude", 1, 12.0, 12.0, 1)]
    assert answers["commits_per_task"][0][:4] == ("proj", "master", "1", 2)


def test_an_in_memory_database_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    schema.connect(Path(":memory:")).close()
    assert list(tmp_path.iterdir()) == []  # not a file named ":memory:" made private


def test_interrupted_executions_of_an_older_database_are_counted_apart(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    old = Database(path)
    schema.migration_set().apply(old, stop_before="m008_interrupted_executions")
    # the totals as m005 made them before they counted interrupts
    was = schema.TOTALS[0]
    was = dataclasses.replace(was, sums={k: v for k, v in was.sums.items() if k != "interrupted"})
    schema._run_script(
        old,
        "".join(f"DROP TRIGGER {was.name}_{e};" for e in ("insert", "delete", "update"))
        + f"DROP TABLE {was.name};"
        + was.create_sql(),
    )
    pid = old["projects"].insert({"root": "/p", "name": "p", "created_at": "2026-11-01"}).last_pk
    for success, error in ((1, None), (0, "interrupted"), (0, "exit code 1"), (None, None)):
        old["executions"].insert(
            {"project_id": pid, "tag": "master", "task_id": "1", "attempt": 1, "route": "r",
             "agent": "claude", "started_at": "2026-11-02T00:00:00.000Z",
             "finished_at": None if success is None else "2026-11-02T00:00:01.000Z",
             "duration_ms": 1000, "success": success, "error": error},
        )  # fmt: skip
    assert "interrupted" not in {c.name for c in old["execution_task_totals"].columns}
    old.close()
    db = connect(path)
    try:
        q = db.execute
        assert q("SELECT n, finished, ok, interrupted FROM execution_task_totals").fetchall() == [
            (4, 3, 1, 1)
        ]
        assert q(
            "SELECT total_tasks, succeeded, failed, interrupted, success_rate, running "
            "FROM executions_by_project"
        ).fetchall() == [(3, 1, 1, 1, 0.5, 1)]
        # the rebuilt triggers follow later writes
        q("UPDATE executions SET success = 0, error = 'interrupted: SIGTERM' WHERE success IS NULL")
        q("DELETE FROM executions WHERE error = 'interrupted'")
        assert q("SELECT n, finished, ok, interrupted FROM execution_task_totals").fetchall() == [
            (3, 3, 1, 1)
        ]
    finally:
        db.close()
