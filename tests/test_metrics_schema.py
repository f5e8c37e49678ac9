from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

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
    try:
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM executions WHERE started_at >= ?", ["x"]
        ).fetchall()
        assert any("executions_started" in str(row) for row in plan)
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM transitions WHERE project_id = 1 AND tag = 'm' "
            "AND task_id = '1' ORDER BY at"
        ).fetchall()
        assert any("transitions_project_task" in str(row) for row in plan)
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
