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

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tmxd.errors import TmxdError
from tmxd.fsutil import create_private, make_private_dirs

if TYPE_CHECKING:
    from sqlite_utils import Database, Migrations

BUSY_TIMEOUT_S = 15.0
MIGRATION_SET = "tmxd"


class MetricsError(TmxdError):
    """The metrics database cannot be used (newer schema, not a database, disk full)."""


_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (and their extended codes)


def is_busy(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) says another connection holds the database."""
    while exc is not None:
        code = getattr(exc, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in _BUSY_CODES:
            return True
        exc = exc.__cause__
    return False


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


def m004_keys_hook_runs_views(db: Database) -> None:
    """Unique event keys, hook runs as they are recorded, ``executions.session_id``, views.

    Every row that can arrive twice (from the journal of a busy database, from a
    snapshot ledger's outbox after a crash) carries a unique ``key``: applying it
    again inserts nothing. ``hook_runs`` gets one row per hook run tmxd processed
    (a spool line, a Claude Code hook call), the commit it was about and whether it
    named a task; nothing ever wrote the old table, so it is rebuilt. The views
    give sqlite3 and Datasette users the report's own definitions.
    """
    _run_script(
        db,
        """
        ALTER TABLE transitions ADD COLUMN key TEXT;
        CREATE UNIQUE INDEX transitions_key ON transitions(key);
        ALTER TABLE events ADD COLUMN key TEXT;
        CREATE UNIQUE INDEX events_key ON events(key);
        ALTER TABLE tool_calls ADD COLUMN key TEXT;
        CREATE UNIQUE INDEX tool_calls_key ON tool_calls(key);
        ALTER TABLE job_runs ADD COLUMN key TEXT;
        CREATE UNIQUE INDEX job_runs_key ON job_runs(key);
        ALTER TABLE executions ADD COLUMN session_id TEXT;
        CREATE INDEX executions_session ON executions(session_id) WHERE session_id IS NOT NULL;

        ALTER TABLE hook_runs RENAME TO hook_runs_old;
        DROP INDEX IF EXISTS hook_runs_project_at;
        CREATE TABLE hook_runs (
            id INTEGER PRIMARY KEY,
            project_id INTEGER NOT NULL REFERENCES projects(id),
            hook TEXT NOT NULL,
            at TEXT NOT NULL,
            sha TEXT,
            linked INTEGER,
            ok INTEGER NOT NULL,
            duration_ms REAL,
            detail TEXT NOT NULL DEFAULT '',
            key TEXT
        );
        INSERT INTO hook_runs (project_id, hook, at, ok, duration_ms, detail)
            SELECT project_id, hook, at, ok, duration_ms, detail FROM hook_runs_old;
        DROP TABLE hook_runs_old;
        CREATE INDEX hook_runs_project_at ON hook_runs(project_id, at);
        CREATE UNIQUE INDEX hook_runs_key ON hook_runs(key);
        """,
    )
    _run_script(db, VIEWS)


def _run_script(db: Database, script: str) -> None:
    """Run a script's statements one by one inside the migration's transaction.

    (``executescript`` would commit first, so a crash could leave half a migration.)
    """
    statement = ""
    for piece in script.split(";"):
        statement += piece + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                db.execute(statement)
            statement = ""


#: How an execution ended by an interrupt is told apart (the autopilot's ``INTERRUPTED``):
#: ``success = 0`` and an error starting with ``interrupted`` — Ctrl-C, SIGTERM, the daemon
#: stopping, a killed run recovered later. Not a failure of the agent: the report counts
#: it on its own, outside the success rate and the failure reasons. As a range over the
#: error (rows whose error starts with the word) so the failures index serves it.
INTERRUPTED_PREFIX = "interrupted"


def interrupted_error(row: str = "") -> str:
    """SQL true when ``{row}error`` starts with ``interrupted`` (NULL for no error), as a
    range an index on ``error`` can serve."""
    after = INTERRUPTED_PREFIX[:-1] + chr(ord(INTERRUPTED_PREFIX[-1]) + 1)
    return f"{row}error >= '{INTERRUPTED_PREFIX}' AND {row}error < '{after}'"


def interrupted_sql(row: str = "") -> str:
    """SQL 1 when the execution ``row`` (``"e."``, ``"R."`` or ``""``) ended by an
    interrupt, 0 otherwise (never NULL)."""
    return f"coalesce({row}success = 0 AND {interrupted_error(row)}, 0)"


EXECUTIONS_BY_PROJECT = (
    """CREATE VIEW executions_by_project AS
    SELECT e.project_id, p.name AS project,
           count(e.success) AS total_tasks,
           round(coalesce(sum(e.success), 0) * 1.0
               / nullif(count(e.success) - sum("""
    + interrupted_sql("e.")
    + """), 0), 4) AS success_rate,
           round(avg(CASE WHEN e.success IS NOT NULL THEN e.duration_ms END) / 1000.0, 4)
               AS avg_execution_time,
           round(avg(CASE WHEN e.success IS NOT NULL THEN e.tool_calls END), 4)
               AS avg_tool_calls,
           round(coalesce(sum(CASE WHEN e.success IS NOT NULL THEN e.duration_ms END), 0)
               / 1000.0, 4) AS total_time,
           coalesce(sum(e.success), 0) AS succeeded,
           count(e.success) - coalesce(sum(e.success), 0) - sum("""
    + interrupted_sql("e.")
    + """) AS failed,
           sum("""
    + interrupted_sql("e.")
    + """) AS interrupted,
           count(*) - count(e.success) AS running,
           sum(e.input_tokens) AS input_tokens,
           sum(e.output_tokens) AS output_tokens,
           sum(e.cost_usd) AS cost_usd
    FROM executions e JOIN projects p ON p.id = e.project_id
    GROUP BY e.project_id;

"""
)


# The views: one definition per figure, shared with docs/metrics.md. Done-like statuses
# are ``done`` and ``completed``; a ``baseline`` row is tmxd's first look at a task.
VIEWS = (
    """
CREATE VIEW task_titles AS
    SELECT t.project_id, p.name AS project, t.tag, t.task_id, t.title, max(t.at) AS titled_at
    FROM transitions t JOIN projects p ON p.id = t.project_id
    WHERE t.title IS NOT NULL AND t.title != ''
    GROUP BY t.project_id, t.tag, t.task_id;

CREATE VIEW task_status_now AS
    SELECT t.project_id, p.name AS project, t.tag, t.task_id, t.new_status AS status,
           max(t.at) AS since
    FROM transitions t JOIN projects p ON p.id = t.project_id
    GROUP BY t.project_id, t.tag, t.task_id;

"""
    + EXECUTIONS_BY_PROJECT
    + """CREATE VIEW done_per_day AS
    SELECT t.project_id, p.name AS project, substr(t.at, 1, 10) AS day,
           count(DISTINCT t.tag || char(9) || t.task_id) AS tasks_done
    FROM transitions t JOIN projects p ON p.id = t.project_id
    WHERE t.new_status IN ('done', 'completed')
      AND (t.old_status IS NULL OR t.old_status NOT IN ('done', 'completed'))
      AND t.source != 'baseline'
    GROUP BY t.project_id, day;
"""
)


#: Upper bounds (seconds) of the execution-duration histogram's buckets (then +Inf).
DURATION_BUCKETS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)


def bucket_column(bound: int) -> str:
    """The running-totals column counting finished executions of at most ``bound`` seconds."""
    return f"le_{bound}"


@dataclass(frozen=True)
class Totals:
    """A running-totals table over ``table``, one row per ``keys``, with ``n`` and ``sums``.

    ``keys`` and ``sums`` map the totals' columns to expressions over a row written with
    ``R`` for it (``R.agent``); ``when`` says which rows count. Deletes (pruning) and
    updates are followed by triggers in the writer's transaction. Inserts too, unless
    ``bulk``: the recorder then adds a whole batch with one :meth:`catch_up` statement
    (a per-row trigger would cost more than the insert itself on the tables that grow
    fastest), so a Prometheus scrape reads a few rows instead of scanning millions.
    """

    table: str
    name: str
    keys: dict[str, str]
    sums: dict[str, str] = field(default_factory=dict)
    when: str = "1"
    bulk: bool = False

    def create_sql(self) -> str:
        keys, sums, when, name = self.keys, self.sums, self.when, self.name
        key_cols = ", ".join(keys)
        cols = ", ".join([*keys, "n", *sums])
        decl = ", ".join(
            [f"{k} NOT NULL" for k in keys]
            + ["n INTEGER NOT NULL"]
            + [f"{c} NOT NULL" for c in sums]
        )
        add_values = ", ".join([*keys.values(), "1", *sums.values()])
        add_set = ", ".join(["n = n + 1", *(f"{c} = {c} + excluded.{c}" for c in sums)])
        sub_set = ", ".join(["n = n - 1", *(f"{c} = {c} - ({e})" for c, e in sums.items())])
        match = " AND ".join(f"{k} = {e}" for k, e in keys.items())
        add = (
            f"INSERT INTO {name} ({cols}) SELECT {add_values} WHERE {when} "
            f"ON CONFLICT ({key_cols}) DO UPDATE SET {add_set};"
        )
        sub = f"UPDATE {name} SET {sub_set} WHERE {match} AND {when};"
        on_insert = (
            ""
            if self.bulk
            else f"CREATE TRIGGER {name}_insert AFTER INSERT ON {self.table} "
            f"BEGIN {_row(add, 'NEW')} END;"
        )
        return f"""
            CREATE TABLE {name} ({decl}, PRIMARY KEY ({key_cols})) WITHOUT ROWID;
            {self.catch_up().replace("R.id > ?", "1")};
            {on_insert}
            CREATE TRIGGER {name}_delete AFTER DELETE ON {self.table}
                BEGIN {_row(sub, "OLD")} END;
            CREATE TRIGGER {name}_update AFTER UPDATE ON {self.table}
                BEGIN {_row(sub, "OLD")} {_row(add, "NEW")} END;
        """

    def catch_up(self) -> str:
        """Add the rows with ``id > ?`` (one parameter) to the totals."""
        keys, sums = self.keys, self.sums
        cols = ", ".join([*keys, "n", *sums])
        counted = ", ".join([*keys.values(), "count(*)", *(f"sum({e})" for e in sums.values())])
        added = ", ".join(["n = n + excluded.n", *(f"{c} = {c} + excluded.{c}" for c in sums)])
        return (
            f"INSERT INTO {self.name} ({cols}) SELECT {counted} FROM {self.table} AS R "
            f"WHERE R.id > ? AND {self.when} GROUP BY {', '.join(keys.values())} "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {added}"
        )


def _row(sql: str, row: str) -> str:
    return sql.replace("R.", f"{row}.")


TOTALS = (
    Totals(
        "executions",
        "execution_task_totals",
        {"project_id": "R.project_id", "tag": "R.tag", "task_id": "R.task_id", "agent": "R.agent"},
        {
            "finished": "R.success IS NOT NULL",
            "ok": "coalesce(R.success, 0)",
            "interrupted": interrupted_sql("R."),
            "duration_ms": "coalesce(R.duration_ms, 0)",
            "tool_calls": "coalesce(R.tool_calls, 0)",
            "input_tokens": "coalesce(R.input_tokens, 0)",
            "input_known": "R.input_tokens IS NOT NULL",
            "output_tokens": "coalesce(R.output_tokens, 0)",
            "output_known": "R.output_tokens IS NOT NULL",
            "cost_usd": "coalesce(R.cost_usd, 0)",
            "cost_known": "R.cost_usd IS NOT NULL",
            # the duration histogram's cumulative buckets (finished executions)
            **{
                bucket_column(bound): f"R.duration_ms <= {bound * 1000} AND R.success IS NOT NULL"
                for bound in DURATION_BUCKETS
            },
        },
    ),
    Totals(
        "transitions",
        "transition_totals",
        {
            "project_id": "R.project_id",
            "tag": "R.tag",
            "new_status": "R.new_status",
            "source": "R.source",
        },
        bulk=True,
    ),
    Totals(
        "tool_calls",
        "tool_call_totals",
        {"project_id": "R.project_id", "tool": "R.tool", "success": "R.success"},
        bulk=True,
    ),
    Totals(
        "hook_runs",
        "hook_run_totals",
        {"project_id": "R.project_id", "hook": "R.hook", "ok": "R.ok"},
        {"timed": "R.duration_ms IS NOT NULL", "duration_ms": "coalesce(R.duration_ms, 0)"},
        bulk=True,
    ),
)
BULK_TOTALS = {t.table: t for t in TOTALS if t.bulk}


def m005_totals(db: Database) -> None:
    """Running totals for the Prometheus export and the report (see :class:`Totals`).

    ``execution_task_totals`` per task and agent, with the duration histogram's
    cumulative buckets (an all-time report and a scrape read these instead of every
    execution); ``transition_totals``, ``tool_call_totals`` and ``hook_run_totals``
    per label set. Existing rows are counted once here.
    """
    _run_script(db, "".join(t.create_sql() for t in TOTALS))


def m006_execution_denials(db: Database) -> None:
    """The tool calls Claude Code refused during an execution (its ``permission_denials``),
    as a JSON list of ``{"tool": ..., "input": ...}``; NULL when none or not known."""
    db.execute("ALTER TABLE executions ADD COLUMN permission_denials TEXT")


def m007_commit_task_tags(db: Database) -> None:
    """The Task Master tag a commit's task id is in (``commit_tasks.tag``): the same id
    names different tasks in different tags. NULL for links recorded before, which were
    made in the project's active tag, then not known; readers take them as ``master``."""
    db.execute("ALTER TABLE commit_tasks ADD COLUMN tag TEXT")


def m008_interrupted_executions(db: Database) -> None:
    """Executions ended by an interrupt (see :func:`interrupted_sql`) counted on their own:
    ``execution_task_totals.interrupted`` (the totals are rebuilt from the executions, with
    their triggers) and ``executions_by_project.interrupted``, whose ``failed`` and
    ``success_rate`` leave them out. The rows themselves are unchanged."""
    totals = TOTALS[0]
    assert totals.name == "execution_task_totals"
    _run_script(
        db,
        "".join(
            f"DROP TRIGGER IF EXISTS {totals.name}_{event};"
            for event in ("insert", "delete", "update")
        )
        + f"DROP TABLE IF EXISTS {totals.name};"
        + totals.create_sql()
        + "DROP VIEW IF EXISTS executions_by_project;"
        + EXECUTIONS_BY_PROJECT,
    )


def m009_commit_kinds(db: Database) -> None:
    """Which commits could not name a task by design: ``commits.merge`` (1 for a merge
    commit, two parents or more: never linked) and ``commits.taskmaster_only`` (1 when it
    changes only Task Master's files: never linked by inference). The report leaves them
    out of "N of M commits name a task" unless they do, as ``tmxd hooks status`` leaves
    them out of the unlinked ones. NULL for commits recorded before (not known)."""
    _run_script(
        db,
        """
        ALTER TABLE commits ADD COLUMN merge INTEGER;
        ALTER TABLE commits ADD COLUMN taskmaster_only INTEGER;
        """,
    )


# Every migration, in order (sqlite-utils records each by its function's name).
MIGRATIONS: tuple[Callable[[Database], None], ...] = (
    m001_initial,
    m002_report_indexes,
    m003_walk_old_status,
    m004_keys_hook_runs_views,
    m005_totals,
    m006_execution_denials,
    m007_commit_task_tags,
    m008_interrupted_executions,
    m009_commit_kinds,
)


def schema_version() -> int:
    """How many migrations this tmxd knows."""
    return len(MIGRATIONS)


def known_migration_names() -> list[str]:
    return [m.__name__ for m in MIGRATIONS]


def migration_set() -> Migrations:
    """The migrations as a sqlite-utils set (loaded only when one is pending: opening an
    up-to-date database costs no sqlite-utils import, which matters to hooks)."""
    from sqlite_utils import Migrations

    found = Migrations(MIGRATION_SET)
    for fn in MIGRATIONS:
        found()(fn)
    return found


MEMORY = ":memory:"  # SQLite's name for a database that is no file


def connect(path: Path, *, busy_timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """A configured connection to ``path`` with the schema brought up to date.

    ``busy_timeout``: how long a statement waits for another connection's lock.
    Raises :class:`MetricsError` for a file that is not a database, a schema
    from a newer tmxd, a location that cannot be written, or a database that
    stayed locked for ``busy_timeout`` while its schema needed an update.
    """
    try:
        make_private_dirs(path.parent)
    except OSError as exc:
        raise MetricsError(f"{path}: cannot create its folder: {exc}") from exc
    if str(path) != MEMORY:
        with contextlib.suppress(OSError):  # SQLite names the file in its own error below
            create_private(path)  # before SQLite: its -wal and -shm files take this mode
    try:
        conn = sqlite3.connect(str(path), timeout=busy_timeout, check_same_thread=False)
    except sqlite3.Error as exc:
        raise MetricsError(f"{path}: cannot open the metrics database: {exc}") from exc
    try:
        _configure(conn, path, busy_timeout)
        _migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _configure(conn: sqlite3.Connection, path: Path, busy_timeout: float) -> None:
    try:
        conn.execute(f"PRAGMA busy_timeout = {max(1, int(busy_timeout * 1000))}")
        if not _has_tables(conn):
            # Only takes effect before the first table exists.
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() not in ("wal", "memory"):
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        if is_busy(exc):
            raise MetricsError(f"{path}: locked by another process ({exc})") from exc
        raise MetricsError(
            f"{path}: not a usable SQLite database ({exc}); move it away or set TMXD_DB/--db "
            "to another file"
        ) from exc


def _has_tables(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()
    return bool(row[0])


def _applied_names(conn: sqlite3.Connection) -> list[str]:
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlite_migrations'"
    ).fetchone():
        return []
    rows = conn.execute(
        "SELECT name FROM _sqlite_migrations WHERE migration_set = ?", (MIGRATION_SET,)
    )
    return [str(r[0]) for r in rows]


def _pending(conn: sqlite3.Connection, path: Path) -> list[str]:
    """Migrations still to apply; :class:`MetricsError` for a database from a newer tmxd."""
    applied = _applied_names(conn)
    known = known_migration_names()
    unknown = [n for n in applied if n not in set(known)]
    if unknown:
        raise MetricsError(
            f"{path}: written by a newer tmxd (schema migrations {', '.join(unknown)} are unknown "
            f"to this version, which knows {schema_version()}); upgrade tmxd or set TMXD_DB/--db "
            "to another file"
        )
    return [n for n in known if n not in set(applied)]


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    try:
        if not _pending(conn, path):
            return
        from sqlite_utils import Database

        # One process migrates at a time: take the write lock first, then
        # look again (another process may have just finished).
        conn.execute("BEGIN IMMEDIATE")
        try:
            if _pending(conn, path):
                migration_set().apply(Database(conn, execute_plugins=False))
                conn.execute(f"PRAGMA user_version = {schema_version()}")
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    except sqlite3.Error as exc:
        raise MetricsError(f"{path}: cannot bring the metrics schema up to date: {exc}") from exc


def table_counts(db: sqlite3.Connection) -> dict[str, Any]:
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
