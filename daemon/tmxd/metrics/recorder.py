"""The recorder: the one API through which tmxd writes metrics.

Every write is one short transaction (``BEGIN IMMEDIATE``, so a writer waits on
the busy timeout instead of failing on a lock upgrade). Each thread gets its own
connection, opened on first use; ``close()`` closes them all. A project is named
by its root folder; the recorder maps it to a ``projects`` row (created on first
sight) and every row carries it.

Nothing blocks a caller for long and nothing is lost: a record (see
:mod:`tmxd.metrics.records`) that cannot get the database within the recorder's
``wait`` is appended to the journal (:mod:`tmxd.metrics.journal`) instead, and
whoever next holds the database ingests the journal. Records carry unique keys,
so nothing is inserted twice. Executions (whose ids the autopilot needs back) and
maintenance wait for the full busy timeout.

Timestamps given as aware datetimes are stored in UTC; naive ones are taken
as local time (Python's convention). SQLite errors (a full disk, a file that
is not a database) surface as :class:`~tmxd.metrics.schema.MetricsError`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

from tmxd import clock, paths
from tmxd.fsutil import acquire
from tmxd.metrics import records
from tmxd.metrics.journal import Journal
from tmxd.metrics.records import TRANSITION_SOURCES, Record
from tmxd.metrics.schema import BUSY_TIMEOUT_S, MetricsError, connect, is_busy

if TYPE_CHECKING:
    from sqlite_utils import Database

__all__ = ["TRANSITION_SOURCES", "Recorder", "from_db_time", "is_busy", "to_db_time"]

log = logging.getLogger("tmxd.metrics")

#: How long a journaled write waits for the database before it goes to the journal.
DEFAULT_WAIT_S = 2.0
#: A batch this large (a journal's ingestion) gets a page cache of BULK_CACHE_KIB meanwhile.
BULK_ROWS = 1000
BULK_CACHE_KIB = 64 * 1024

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

# What pruning keeps whatever its age.
_KEEP = {
    "executions": " AND finished_at IS NOT NULL",
    "transitions": " AND EXISTS (SELECT 1 FROM transitions later WHERE later.project_id = "
    "transitions.project_id AND later.tag = transitions.tag AND later.task_id = "
    "transitions.task_id AND later.at > transitions.at)",
}


def to_db_time(moment: datetime) -> str:
    """``2026-11-26T12:00:00.123Z``: how every timestamp is stored."""
    return clock.iso_ms(moment)


def from_db_time(text: str) -> datetime:
    """The aware UTC datetime of a stored timestamp."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


P = ParamSpec("P")


def _recording(build: Callable[P, Record]) -> Callable[Concatenate[Recorder, P], int]:
    """A recorder method that stores the record ``build`` makes; returns how many rows were
    new (0 also when the database was busy and the record went to the journal)."""

    @functools.wraps(build)
    def method(self: Recorder, /, *args: P.args, **kwargs: P.kwargs) -> int:
        return self.store([build(*args, **kwargs)])

    return method


class Recorder:
    """Writes events, transitions, commits, executions and runs to the metrics DB.

    ``wait``: how long a record waits for a busy database before it is journaled.
    ``ingest_max_bytes``: the largest journal file a write ingests on its way (None: any).
    ``journaled``: how many records this recorder had to journal.
    """

    def __init__(
        self,
        path: Path,
        *,
        wait: float = DEFAULT_WAIT_S,
        ingest_max_bytes: int | None = None,
    ) -> None:
        self.path = path
        self.wait = wait
        self.ingest_max_bytes = ingest_max_bytes
        self.journaled = 0
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._project_ids: dict[str, int] = {}
        self._closed = False
        self._journal: Journal | None = None
        # (root, thread ident) -> transitions stored or journaled (baselines aside)
        self._transitions: Counter[tuple[str, int]] = Counter()

    @classmethod
    def open(cls, path: Path | None = None, *, wait: float = DEFAULT_WAIT_S) -> Recorder:
        """Open (creating and migrating as needed) the database at ``path``.

        ``path`` defaults to :func:`tmxd.paths.db_path` (``TMXD_DB`` or the
        state dir). The schema is checked at once, so a database from a newer
        tmxd fails here with a clear :class:`MetricsError`.
        """
        recorder = cls(path if path is not None else paths.db_path(), wait=wait)
        recorder.conn  # noqa: B018 — open now so errors surface at open time
        return recorder

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            self._journal = Journal(self.path)
        return self._journal

    # -- connections -------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise MetricsError(f"{self.path}: the recorder is closed")
            conn = connect(self.path, busy_timeout=max(self.wait, 0.001))
            with self._lock:
                self._connections.append(conn)
            self._local.conn = conn
            self._local.busy = self.wait
        return conn

    @property
    def db(self) -> Database:
        """This thread's connection as a sqlite-utils database (for ad-hoc queries)."""
        from sqlite_utils import Database

        return Database(self.conn, execute_plugins=False)

    def close(self) -> None:
        """Close every connection this recorder opened (any thread's)."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for conn in connections:
            with suppress(sqlite3.Error):
                conn.close()
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
    def _write(self, wait: float = BUSY_TIMEOUT_S) -> Iterator[sqlite3.Connection]:
        """One short write transaction on this thread's connection, waiting ``wait`` s for it."""
        conn = self.conn
        try:
            if self._local.busy != wait:
                conn.execute(f"PRAGMA busy_timeout = {max(1, int(wait * 1000))}")
                self._local.busy = wait
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

    def _project_id(self, conn: sqlite3.Connection, root: str) -> int:
        cached = self._project_ids.get(root)
        if cached is not None:
            return cached
        row = conn.execute("SELECT id FROM projects WHERE root = ?", (root,)).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO projects (root, name, created_at) VALUES (?, ?, ?) "
                "ON CONFLICT (root) DO NOTHING",
                (root, Path(root).name or root, to_db_time(clock.now())),
            )
            row = conn.execute("SELECT id FROM projects WHERE root = ?", (root,)).fetchone()
        project_id = int(row[0])
        self._project_ids[root] = project_id
        return project_id

    # -- records: straight in, or journaled ---------------------------------

    def store(self, batch: Sequence[Record], *, ingest: bool = True) -> int:
        """Insert ``batch`` in one transaction; journal it when the database stays busy
        for ``wait`` seconds. Returns how many records were new to the database (0 when
        journaled). Then, the database being free, ingest what the journal holds."""
        if not batch:
            return 0
        try:
            added = self._apply(batch, self.wait)
        except MetricsError as exc:
            if not is_busy(exc):
                raise
            try:
                self.journal.append(list(batch))
            except OSError as err:
                raise MetricsError(
                    f"{self.path}: busy, and the journal {self.journal.path} cannot be "
                    f"written: {err.strerror or err}"
                ) from err
            self.journaled += len(batch)
            self._count(batch)
            return 0
        self._count(batch)
        if ingest:
            try:
                self.ingest_journal(max_bytes=self.ingest_max_bytes)
            except MetricsError as exc:  # this batch is in; the journal waits for the next
                log.warning("the metrics journal is not ingested: %s", exc.message)
        return added

    def _count(self, batch: Sequence[Record]) -> None:
        thread = threading.get_ident()
        with self._lock:
            for record in batch:
                if record.get("kind") == "transition" and record.get("source") != "baseline":
                    self._transitions[(str(record["root"]), thread)] += 1

    def transitions_stored(self, project: Path, *, except_thread: int | None = None) -> int:
        """How many transitions this recorder stored (or journaled) for ``project`` since
        it was opened, by any thread but ``except_thread``: what this process recorded."""
        root = records.root_of(project)
        with self._lock:
            return sum(
                n for (r, thread), n in self._transitions.items()
                if r == root and thread != except_thread
            )  # fmt: skip

    def _apply(self, batch: Sequence[Record], wait: float) -> int:
        big = len(batch) >= BULK_ROWS
        with self._write(wait) as conn:
            if big:  # index pages stay in memory for the whole batch, not re-read per row
                conn.execute(f"PRAGMA cache_size = -{BULK_CACHE_KIB}")
            try:
                return records.apply(conn, batch, self._project_id)
            finally:
                if big:
                    conn.execute("PRAGMA cache_size = -2000")  # SQLite's default, memory freed

    def ingest_journal(self, *, max_bytes: int | None = None) -> int:
        """Move what the journal holds into the database; how many records were new.

        One ingester at a time (others return 0 at once); each claimed file goes in
        one transaction and is removed after it. A busy database leaves the rest for
        the next attempt. ``max_bytes`` skips claimed files larger than that.
        """
        journal = self.journal
        if not journal.pending():
            return 0
        fd = acquire(journal.dir / f"{journal.name}.ingest", wait=False)
        if fd is None:
            return 0
        added = 0
        try:
            for claimed in journal.claim():
                if max_bytes is not None and claimed.stat().st_size > max_bytes:
                    continue
                batch = list(journal.read(claimed))
                try:
                    added += self._apply(batch, self.wait)
                except MetricsError as exc:
                    if is_busy(exc):
                        break
                    raise
                except (ValueError, KeyError, TypeError) as exc:
                    # not a record this tmxd can apply (a damaged line, a newer tmxd's kind):
                    # set aside, never retried in a loop, never lost
                    kept = journal.reject(claimed)
                    log.warning("%s: not ingested (%s); kept as %s", claimed, exc, kept)
                    continue
                journal.done(claimed)
        except OSError as exc:
            log.warning("%s: cannot ingest the journal: %s", journal.dir, exc)
        finally:
            os.close(fd)
        return added

    # -- recording: one record each (see tmxd.metrics.records for the arguments) ----------

    event = _recording(records.event)
    transition = _recording(records.transition)
    commit = _recording(records.commit)
    commit_rewritten = _recording(records.commit_rewritten)
    commit_gone = _recording(records.commit_gone)
    hook_run = _recording(records.hook_run)
    tool_call = _recording(records.tool_call)
    job_run = _recording(records.job_run)

    def execution_started(
        self,
        project: Path,
        task_id: str,
        attempt: int,
        route: str,
        agent: str,
        tag: str = "master",
        at: datetime | None = None,
        session_id: str | None = None,
    ) -> int:
        """Record the start of an agent run on a task; returns its execution id."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO executions (project_id, tag, task_id, attempt, route, agent, "
                "started_at, session_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self._project_id(conn, records.root_of(project)),
                    tag,
                    str(task_id),
                    attempt,
                    route,
                    agent,
                    to_db_time(at or clock.now()),
                    session_id,
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
        session_id: str | None = None,
    ) -> None:
        """Record how an execution ended.

        ``duration_ms`` defaults to the wall time since ``execution_started``;
        pass the runner's own monotonic measurement when there is one.
        ``permission_denials`` (the tool calls the agent was refused) is stored as
        JSON; none or an empty list leaves the column NULL.
        ``session_id``: the agent's session (Claude Code's), so its tool calls join the run.
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
                "cost_usd = ?, peak_rss_bytes = ?, error = ?, permission_denials = ?, "
                "session_id = coalesce(?, session_id) WHERE id = ?",
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
                    session_id,
                    execution_id,
                ),
            )

    def last_job_run(self, name: str, project: Path | None = None) -> datetime | None:
        """When the job ``name`` last ran successfully (its start), or None if never."""
        sql = "SELECT max(started_at) FROM job_runs WHERE name = ? AND ok = 1"
        params: list[Any] = [name]
        if project is not None:
            sql += " AND project_id = (SELECT id FROM projects WHERE root = ?)"
            params.append(str(Path(project).resolve()))
        try:
            row = self.conn.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise MetricsError(f"{self.path}: cannot read job runs: {exc}") from exc
        return None if row[0] is None else from_db_time(row[0])

    def statuses_then(self, project: Path, tag: str, moment: datetime) -> dict[str, str | None]:
        """For each task with a change recorded after ``moment``, its status at ``moment``
        (the old status of its first change since; None: it did not exist yet)."""
        try:
            rows = self.conn.execute(
                "SELECT task_id, old_status FROM transitions WHERE project_id = "
                "(SELECT id FROM projects WHERE root = ?) AND tag = ? AND at > ? "
                "ORDER BY at DESC, id DESC",
                [str(Path(project).resolve()), tag, to_db_time(moment)],
            ).fetchall()
        except sqlite3.Error as exc:
            raise MetricsError(f"{self.path}: cannot read transitions: {exc}") from exc
        return {str(task_id): old for task_id, old in rows}  # the earliest row wins

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

    def prune(
        self, older_than: timedelta, now: datetime | None = None, *, dry_run: bool = False
    ) -> dict[str, int]:
        """Delete rows dated before ``now - older_than``; returns rows deleted per table
        (with ``dry_run``: rows that would be, and nothing is deleted).

        Executions still running are kept whatever their age, and so is each task's
        latest transition (its current status). Freed pages go back to the file
        system with an incremental vacuum.
        """
        cutoff = to_db_time((now or clock.now()) - older_than)
        deleted: dict[str, int] = {}
        with self._write() as conn:
            for table, column in _DATED_TABLES:
                where = f"{column} < ?{_KEEP.get(table, '')}"
                if dry_run:
                    row = conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", (cutoff,))
                    deleted[table] = int(row.fetchone()[0])
                else:
                    deleted[table] = conn.execute(
                        f"DELETE FROM {table} WHERE {where}", (cutoff,)
                    ).rowcount
        if not dry_run:
            self.vacuum()
        return deleted

    def prune_leaves_nothing(self, would: dict[str, int]) -> bool:
        """Whether deleting ``would`` (from a dry-run :meth:`prune`) leaves nothing but each
        task's current status."""
        counts = self.row_counts()
        try:
            tasks = int(
                self.conn.execute(
                    "SELECT count(*) FROM (SELECT DISTINCT project_id, tag, task_id "
                    "FROM transitions)"
                ).fetchone()[0]
            )
        except sqlite3.Error as exc:
            raise MetricsError(f"{self.path}: cannot read metrics: {exc}") from exc
        kept = {"transitions": tasks}
        return all(would.get(t, 0) >= n - kept.get(t, 0) for t, n in counts.items())

    def row_counts(self) -> dict[str, int]:
        """Rows per table that :meth:`prune` dates (what "everything" means to it)."""
        try:
            return {
                table: int(self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
                for table, _column in _DATED_TABLES
            }
        except sqlite3.Error as exc:
            raise MetricsError(f"{self.path}: cannot read metrics: {exc}") from exc

    def vacuum(self) -> int:
        """Return free pages to the file system; how many pages were free before."""
        try:
            conn = self.conn
            free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
            # executescript steps the pragma to completion; execute() would free one page.
            conn.executescript("PRAGMA incremental_vacuum;")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise MetricsError(f"{self.path}: cannot vacuum: {exc}") from exc
        return free
