"""The metrics database: how it is opened and how its schema evolves.

One SQLite file per user. Every connection is opened the same way: WAL
journal (readers never block the writer), a busy timeout (writers queue
instead of failing with "database is locked"), ``synchronous=NORMAL``
(durable at checkpoints, fast commits) and incremental auto-vacuum so that
pruning can give space back without rewriting the file.

The schema is a list of sqlite-utils migrations, applied in order and
recorded in ``_sqlite_migrations``; ``PRAGMA user_version`` mirrors the
number applied so the sqlite3 shell can tell the version too. A database
from an older tmxd is upgraded in place; one written by a newer tmxd (it has
migrations this one does not know) is refused.

Timestamps are ISO 8601 text in UTC with milliseconds and a ``Z``
(``2026-11-26T12:00:00.123Z``): readable in Datasette and the sqlite3 shell,
and ordered correctly as plain strings. Durations are milliseconds.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlite_utils import Database, Migrations

from tmxd.errors import TmxdError

BUSY_TIMEOUT_S = 15.0
MIGRATION_SET = "tmxd"

migrations = Migrations(MIGRATION_SET)


class MetricsError(TmxdError):
    """The metrics database cannot be used (newer schema, not a database, disk full)."""


@migrations()
def m001_initial(db: Database) -> None:
    """Every table the recorder writes, each row tied to its project."""
    db.executescript(
        """
        CREATE TABLE projects (
            id INTEGER PRIMARY KEY,
            root TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_project_at ON events(project_id, at);
        CREATE INDEX events_kind_at ON events(kind, at);
        CREATE TABLE commits (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            sha TEXT NOT NULL,
            subject TEXT NOT NULL,
            author TEXT NOT NULL,
            committed_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            files INTEGER NOT NULL,
            insertions INTEGER NOT NULL,
            deletions INTEGER NOT NULL,
            branch TEXT,
            UNIQUE (project_id, sha)
        );
        CREATE INDEX commits_project_at ON commits(project_id, committed_at);
        CREATE TABLE commit_tasks (
            commit_id INTEGER NOT NULL REFERENCES commits(id) ON DELETE CASCADE,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            task_id TEXT NOT NULL,
            PRIMARY KEY (commit_id, task_id)
        );
        CREATE INDEX commit_tasks_project_task ON commit_tasks(project_id, task_id);
        CREATE TABLE transitions (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            tag TEXT NOT NULL,
            task_id TEXT NOT NULL,
            title TEXT,
            old_status TEXT,
            new_status TEXT NOT NULL,
            source TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX transitions_at ON transitions(at);
        CREATE INDEX transitions_project_task ON transitions(project_id, tag, task_id, at);
        CREATE TABLE executions (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            tag TEXT NOT NULL,
            task_id TEXT NOT NULL,
            attempt INTEGER NOT NULL,
            route TEXT NOT NULL,
            agent TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_ms REAL,
            success INTEGER,
            exit_code INTEGER,
            tool_calls INTEGER,
            turns INTEGER,
            input_tokens INTEGER,
            output_tokens INTEGER,
            cost_usd REAL,
            peak_rss_bytes INTEGER,
            error TEXT
        );
        CREATE INDEX executions_started ON executions(started_at);
        CREATE INDEX executions_project_task ON executions(project_id, tag, task_id);
        CREATE TABLE hook_runs (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            hook TEXT NOT NULL,
            at TEXT NOT NULL,
            duration_ms REAL NOT NULL,
            ok INTEGER NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX hook_runs_project_at ON hook_runs(project_id, at);
        CREATE TABLE job_runs (
            id INTEGER PRIMARY KEY,
            project_id INTEGER REFERENCES projects(id),
            name TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            ok INTEGER NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX job_runs_name_started ON job_runs(name, started_at);
        CREATE TABLE tool_calls (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            session_id TEXT NOT NULL,
            task_id TEXT,
            tool TEXT NOT NULL,
            success INTEGER NOT NULL,
            duration_ms REAL,
            at TEXT NOT NULL
        );
        CREATE INDEX tool_calls_project_at ON tool_calls(project_id, at);
        CREATE INDEX tool_calls_session ON tool_calls(session_id);
        """
    )


@migrations()
def m002_report_indexes(db: Database) -> None:
    """Covering indexes so ``tmxd report`` stays fast over millions of executions.

    Per-task and per-agent totals come from one ordered scan of
    ``executions_task_cov`` (no table lookups, no sort), task timelines from
    one of ``transitions_walk``; failures and running executions have
    partial indexes of their own.
    """
    db.executescript(
        """
        DROP INDEX IF EXISTS executions_project_task;
        CREATE INDEX executions_task_cov ON executions(
            project_id, tag, task_id, agent, started_at, success, duration_ms, tool_calls,
            input_tokens, output_tokens, cost_usd
        );
        CREATE INDEX executions_failures ON executions(
            error, exit_code, project_id, tag, task_id, started_at, success
        ) WHERE success = 0;
        DROP INDEX IF EXISTS transitions_project_task;
        CREATE INDEX transitions_walk ON transitions(
            project_id, tag, task_id, at, new_status, title
        );
        CREATE INDEX executions_running ON executions(started_at) WHERE finished_at IS NULL;
        """
    )


@migrations()
def m003_walk_old_status(db: Database) -> None:
    """The timeline index also carries ``old_status``: a first transition from nothing
    tells a task's creation apart from the first time tmxd happened to see it."""
    db.executescript(
        """
        DROP INDEX IF EXISTS transitions_walk;
        CREATE INDEX transitions_walk ON transitions(
            project_id, tag, task_id, at, new_status, old_status, title
        );
        """
    )


@migrations()
def m004_execution_denials(db: Database) -> None:
    """The tool calls Claude Code refused during an execution (its ``permission_denials``),
    as a JSON list of ``{"tool": ..., "input": ...}``; NULL when none or not known."""
    db.execute("ALTER TABLE executions ADD COLUMN permission_denials TEXT")


def schema_version() -> int:
    """How many migrations this tmxd knows."""
    return len(migrations._migrations)


def known_migration_names() -> list[str]:
    return [m.name for m in migrations._migrations]


def connect(path: Path) -> Database:
    """A configured connection to ``path`` with the schema brought up to date.

    Raises :class:`MetricsError` for a file that is not a database, a schema
    from a newer tmxd, or a location that cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MetricsError(f"{path}: cannot create its folder: {exc}") from exc
    try:
        conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, check_same_thread=False)
    except sqlite3.Error as exc:
        raise MetricsError(f"{path}: cannot open the metrics database: {exc}") from exc
    try:
        db = Database(conn, execute_plugins=False)
        _configure(db, path)
        _migrate(db, path)
    except BaseException:
        conn.close()
        raise
    return db


def _configure(db: Database, path: Path) -> None:
    try:
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        if not _has_tables(db):
            # Only takes effect before the first table exists.
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise MetricsError(
            f"{path}: not a usable SQLite database ({exc}); move it away or set TMXD_DB/--db "
            "to another file"
        ) from exc


def _has_tables(db: Database) -> bool:
    row = db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
    return bool(row[0])


def _applied_names(db: Database) -> list[str]:
    return [m.name for m in migrations.applied(db)]


def _check_not_newer(db: Database, path: Path) -> None:
    unknown = [n for n in _applied_names(db) if n not in set(known_migration_names())]
    if unknown:
        raise MetricsError(
            f"{path}: written by a newer tmxd (schema migrations {', '.join(unknown)} are unknown "
            f"to this version, which knows {schema_version()}); upgrade tmxd or set TMXD_DB/--db "
            "to another file"
        )


def _migrate(db: Database, path: Path) -> None:
    try:
        _check_not_newer(db, path)
        if not migrations.pending(db):
            return
        # One process migrates at a time: take the write lock first, then
        # look again (another process may have just finished).
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            _check_not_newer(db, path)
            migrations.apply(db)
            db.execute(f"PRAGMA user_version = {schema_version()}")
        except BaseException:
            db.conn.rollback()
            raise
        db.conn.commit()
    except sqlite3.Error as exc:
        raise MetricsError(f"{path}: cannot bring the metrics schema up to date: {exc}") from exc


def table_counts(db: Database) -> dict[str, Any]:
    """Row counts of the tmxd tables (for ``tmxd metrics`` and tests)."""
    names = [
        "projects",
        "events",
        "commits",
        "commit_tasks",
        "transitions",
        "executions",
        "hook_runs",
        "job_runs",
        "tool_calls",
    ]
    return {n: db.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in names}
