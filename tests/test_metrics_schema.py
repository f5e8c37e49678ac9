from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from tmxd.metrics import schema
from tmxd.metrics.schema import MetricsError, connect

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
    schema.migrations.apply(old, stop_before="m002_report_indexes")
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
        connect(path)
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
        connect(path)
    assert str(path) in info.value.message
    assert path.read_bytes() == before


def test_table_counts(tmp_path: Path) -> None:
    db = connect(tmp_path / "m.db")
    try:
        counts = schema.table_counts(db)
        assert set(counts) == TABLES
        assert all(v == 0 for v in counts.values())
    finally:
        db.close()
