"""The recorder: the one API through which tmxd writes metrics.

Every method is one short write transaction (``BEGIN IMMEDIATE``, so a
writer waits on the busy timeout instead of failing on a lock upgrade).
Each thread gets its own connection, opened on first use; ``close()``
closes them all. A project is named by its root folder; the recorder maps
it to a ``projects`` row (created on first sight) and every row carries it.

Timestamps given as aware datetimes are stored in UTC; naive ones are taken
as local time (Python's convention). SQLite errors (a full disk, a file that
is not a database) surface as :class:`~tmxd.metrics.schema.MetricsError`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlite_utils import Database

from tmxd import clock, paths
from tmxd.metrics.schema import MetricsError, connect

TRANSITION_SOURCES = ("tmxd", "external", "commit", "autopilot", "mcp")

# Tables pruned by age, with the column that dates their rows.
_DATED_TABLES = (
    ("events", "at"),
    ("transitions", "at"),
    ("executions", "started_at"),
    ("hook_runs", "at"),
    ("job_runs", "started_at"),
    ("tool_calls", "at"),
    ("commits", "committed_at"),
)


def to_db_time(moment: datetime) -> str:
    """``2026-11-26T12:00:00.123Z``: how every timestamp is stored."""
    return clock.iso_ms(moment)


def from_db_time(text: str) -> datetime:
    """The aware UTC datetime of a stored timestamp."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


class Recorder:
    """Writes events, transitions, commits, executions and runs to the metrics DB."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Database] = []
        self._project_ids: dict[str, int] = {}
        self._closed = False

    @classmethod
    def open(cls, path: Path | None = None) -> Recorder:
        """Open (creating and migrating as needed) the database at ``path``.

        ``path`` defaults to :func:`tmxd.paths.db_path` (``TMXD_DB`` or the
        state dir). The schema is checked at once, so a database from a newer
        tmxd fails here with a clear :class:`MetricsError`.
        """
        recorder = cls(path if path is not None else paths.db_path())
        recorder.db  # noqa: B018 — open now so errors surface at open time
        return recorder

    # -- connections -------------------------------------------------------

    @property
    def db(self) -> Database:
        """This thread's connection (opened on first use)."""
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            if self._closed:
                raise MetricsError(f"{self.path}: the recorder is closed")
            db = connect(self.path)
            with self._lock:
                self._connections.append(db)
            self._local.db = db
        return db

    def close(self) -> None:
        """Close every connection this recorder opened (any thread's)."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for db in connections:
            with suppress(sqlite3.Error):
                db.close()
        self._local = threading.local()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction on this thread's connection."""
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                self._project_ids.clear()  # a rolled-back insert may have been cached
                raise
            conn.commit()
        except sqlite3.Error as exc:
            raise MetricsError(f"{self.path}: cannot record metrics: {exc}") from exc

    def _project_id(self, conn: sqlite3.Connection, project: Path) -> int:
        root = str(Path(project).resolve())
        cached = self._project_ids.get(root)
        if cached is not None:
            return cached
        conn.execute(
            "INSERT INTO projects (root, name, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (root) DO NOTHING",
            (root, Path(root).name or root, to_db_time(clock.now())),
        )
        row = conn.execute("SELECT id FROM projects WHERE root = ?", (root,)).fetchone()
        project_id = int(row[0])
        self._project_ids[root] = project_id
        return project_id

    # -- recording ---------------------------------------------------------

    def event(
        self, project: Path, kind: str, data: dict[str, Any], at: datetime | None = None
    ) -> None:
        """Record a free-form event (``kind`` plus JSON ``data``)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO events (project_id, at, kind, data) VALUES (?, ?, ?, ?)",
                (
                    self._project_id(conn, project),
                    to_db_time(at or clock.now()),
                    kind,
                    json.dumps(data, ensure_ascii=False, sort_keys=True, default=str),
                ),
            )

    def transition(
        self,
        project: Path,
        task_id: str,
        old: str | None,
        new: str,
        source: str,
        tag: str = "master",
        at: datetime | None = None,
        title: str | None = None,
    ) -> None:
        """Record a status change of a task (``old`` is None for a new task).

        ``source`` says who made it: tmxd, external (Task Master, an editor),
        commit (a ``Closes-Task`` trailer), autopilot or mcp (``tmxd mcp``'s tools).
        """
        if source not in TRANSITION_SOURCES:
            raise ValueError(f"unknown transition source {source!r}")
        with self._write() as conn:
            conn.execute(
                "INSERT INTO transitions (project_id, tag, task_id, title, old_status, "
                "new_status, source, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self._project_id(conn, project),
                    tag,
                    str(task_id),
                    title,
                    old,
                    new,
                    source,
                    to_db_time(at or clock.now()),
                ),
            )

    def commit(
        self,
        project: Path,
        sha: str,
        subject: str,
        author: str,
        committed_at: datetime,
        files: int,
        insertions: int,
        deletions: int,
        branch: str | None,
        task_ids: Sequence[str],
    ) -> bool:
        """Record a commit and the tasks it names; False if this sha was seen before."""
        with self._write() as conn:
            project_id = self._project_id(conn, project)
            cur = conn.execute(
                "INSERT INTO commits (project_id, sha, subject, author, committed_at, "
                "recorded_at, files, insertions, deletions, branch) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, sha) DO NOTHING",
                (
                    project_id,
                    sha,
                    subject,
                    author,
                    to_db_time(committed_at),
                    to_db_time(clock.now()),
                    files,
                    insertions,
                    deletions,
                    branch,
                ),
            )
            if cur.rowcount == 0:
                return False
            commit_id = cur.lastrowid
            conn.executemany(
                "INSERT OR IGNORE INTO commit_tasks (commit_id, project_id, task_id) "
                "VALUES (?, ?, ?)",
                [(commit_id, project_id, str(t)) for t in dict.fromkeys(task_ids)],
            )
            return True

    def hook_run(
        self,
        project: Path,
        hook: str,
        duration_ms: float,
        ok: bool,
        detail: str = "",
        at: datetime | None = None,
    ) -> None:
        """Record one git hook run (how long it took, whether it worked)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO hook_runs (project_id, hook, at, duration_ms, ok, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    self._project_id(conn, project),
                    hook,
                    to_db_time(at or clock.now()),
                    float(duration_ms),
                    int(ok),
                    detail,
                ),
            )

    def execution_started(
        self,
        project: Path,
        task_id: str,
        attempt: int,
        route: str,
        agent: str,
        tag: str = "master",
        at: datetime | None = None,
    ) -> int:
        """Record the start of an agent run on a task; returns its execution id."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO executions (project_id, tag, task_id, attempt, route, agent, "
                "started_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self._project_id(conn, project),
                    tag,
                    str(task_id),
                    attempt,
                    route,
                    agent,
                    to_db_time(at or clock.now()),
                ),
            )
            return int(cur.lastrowid or 0)

    def execution_finished(
        self,
        execution_id: int,
        *,
        success: bool,
        exit_code: int | None,
        tool_calls: int,
        turns: int | None,
        input_tokens: int | None,
        output_tokens: int | None,
        cost_usd: float | None,
        peak_rss_bytes: int | None,
        error: str | None,
        at: datetime | None = None,
        duration_ms: float | None = None,
        permission_denials: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        """Record how an execution ended.

        ``duration_ms`` defaults to the wall time since ``execution_started``;
        pass the runner's own monotonic measurement when there is one.
        ``permission_denials`` (the tool calls the agent was refused) is stored as
        JSON; none or an empty list leaves the column NULL.
        """
        finished = at or clock.now()
        with self._write() as conn:
            row = conn.execute(
                "SELECT started_at FROM executions WHERE id = ?", (execution_id,)
            ).fetchone()
            if row is None:
                raise MetricsError(f"{self.path}: no execution with id {execution_id}")
            if duration_ms is None:
                elapsed = finished - from_db_time(row[0])
                duration_ms = max(0.0, elapsed.total_seconds() * 1000.0)
            conn.execute(
                "UPDATE executions SET finished_at = ?, duration_ms = ?, success = ?, "
                "exit_code = ?, tool_calls = ?, turns = ?, input_tokens = ?, output_tokens = ?, "
                "cost_usd = ?, peak_rss_bytes = ?, error = ?, permission_denials = ? WHERE id = ?",
                (
                    to_db_time(finished),
                    float(duration_ms),
                    int(success),
                    exit_code,
                    tool_calls,
                    turns,
                    input_tokens,
                    output_tokens,
                    cost_usd,
                    peak_rss_bytes,
                    error,
                    json.dumps(list(permission_denials)) if permission_denials else None,
                    execution_id,
                ),
            )

    def tool_call(
        self,
        project: Path,
        session_id: str,
        tool: str,
        success: bool,
        duration_ms: float | None,
        task_id: str | None,
        at: datetime | None = None,
    ) -> None:
        """Record one tool call of an agent session."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO tool_calls (project_id, session_id, task_id, tool, success, "
                "duration_ms, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self._project_id(conn, project),
                    session_id,
                    None if task_id is None else str(task_id),
                    tool,
                    int(success),
                    duration_ms,
                    to_db_time(at or clock.now()),
                ),
            )

    def job_run(
        self,
        name: str,
        started: datetime,
        finished: datetime,
        ok: bool,
        detail: str = "",
        project: Path | None = None,
    ) -> None:
        """Record one run of a scheduled job (daemon-wide unless ``project`` is given)."""
        with self._write() as conn:
            project_id = None if project is None else self._project_id(conn, project)
            conn.execute(
                "INSERT INTO job_runs (project_id, name, started_at, finished_at, ok, detail) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (project_id, name, to_db_time(started), to_db_time(finished), int(ok), detail),
            )

    def last_job_run(self, name: str, project: Path | None = None) -> datetime | None:
        """When the job ``name`` last ran successfully (its start), or None if never."""
        sql = "SELECT max(started_at) FROM job_runs WHERE name = ? AND ok = 1"
        params: list[Any] = [name]
        if project is not None:
            sql += " AND project_id = (SELECT id FROM projects WHERE root = ?)"
            params.append(str(Path(project).resolve()))
        try:
            row = self.db.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise MetricsError(f"{self.path}: cannot read job runs: {exc}") from exc
        return None if row[0] is None else from_db_time(row[0])

    def executions_by_id(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        """The ``executions`` rows with these ids, in id order (for a run's summary)."""
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return []
        marks = ", ".join("?" for _ in wanted)
        try:
            cur = self.db.execute(
                f"SELECT * FROM executions WHERE id IN ({marks}) ORDER BY id", wanted
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except sqlite3.Error as exc:
            raise MetricsError(f"{self.path}: cannot read executions: {exc}") from exc

    # -- maintenance -------------------------------------------------------

    def prune(self, older_than: timedelta, now: datetime | None = None) -> dict[str, int]:
        """Delete rows dated before ``now - older_than``; returns rows deleted per table.

        Executions still running are kept whatever their age. Freed pages go
        back to the file system with an incremental vacuum.
        """
        cutoff = to_db_time((now or clock.now()) - older_than)
        deleted: dict[str, int] = {}
        with self._write() as conn:
            for table, column in _DATED_TABLES:
                extra = " AND finished_at IS NOT NULL" if table == "executions" else ""
                cur = conn.execute(f"DELETE FROM {table} WHERE {column} < ?{extra}", (cutoff,))
                deleted[table] = cur.rowcount
        self.vacuum()
        return deleted

    def vacuum(self) -> int:
        """Return free pages to the file system; how many pages were free before."""
        try:
            conn = self.db.conn
            free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
            # executescript steps the pragma to completion; execute() would free one page.
            conn.executescript("PRAGMA incremental_vacuum;")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise MetricsError(f"{self.path}: cannot vacuum: {exc}") from exc
        return free
