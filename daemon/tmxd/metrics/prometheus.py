"""The Prometheus export of the metrics database, through the official ``prometheus_client``.

:class:`TmxdCollector` is a custom collector over SQLite: each collection reads a
handful of small tables (the running totals that triggers keep exact, see
``schema.m005_totals``) and caches the result for a few seconds, so a scrape of a
database with millions of rows costs milliseconds and many scrapes cost one read.

Counters are totals over what the database still holds (pruning lowers them, which
Prometheus treats as a counter reset). One label vocabulary everywhere: ``project``
is the project's folder name (made unique on the machine; ``tmxd_project_info``
maps it to its root), ``result`` is ``success`` or ``failure`` (and, for executions,
``interrupted``).

Three ways out: ``tmxd metrics --prometheus`` prints it, ``--textfile PATH`` writes
it atomically for node_exporter's textfile collector, and :func:`serve_prometheus`
serves ``/metrics`` over HTTP (the daemon's ``--listen 127.0.0.1:PORT``) with
content negotiation (text 0.0.4 or OpenMetrics), gzip, HEAD, and the daemon's own
process metrics.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    generate_latest,
    make_wsgi_app,
)
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from tmxd import __version__, clock
from tmxd.metrics.journal import Journal
from tmxd.metrics.recorder import from_db_time
from tmxd.metrics.records import REMOVED
from tmxd.metrics.schema import (
    DURATION_BUCKETS,
    MetricsError,
    bucket_column,
    connect,
    schema_version,
)

#: Seconds a collection is reused for (``tmxd run --metrics-cache``).
DEFAULT_CACHE_SECONDS = 5.0

SUCCESS, FAILURE = "success", "failure"
#: ``tmxd_executions_total`` only: an execution ended by an interrupt (Ctrl-C, a signal,
#: a killed run) is not a failure of the agent.
INTERRUPTED = "interrupted"


def result(ok: Any) -> str:
    """The ``result`` label of a row's success flag."""
    return SUCCESS if ok else FAILURE


def project_labels(rows: Iterable[tuple[int, str, str]]) -> dict[int, str]:
    """``project`` label per project id: its folder name, the older project keeping a
    shared name and later ones getting ``name#id``."""
    labels: dict[int, str] = {}
    used: set[str] = set()
    for pid, root, name in sorted(rows):
        label = name or root
        if label in used:
            label = f"{label}#{pid}"
        while label in used:
            label += "#"
        used.add(label)
        labels[pid] = label
    return labels


class TmxdCollector:
    """Every tmxd metric, read from the database at ``db_path`` (cached ``cache_seconds``)."""

    def __init__(self, db_path: Path, cache_seconds: float = DEFAULT_CACHE_SECONDS) -> None:
        self.db_path = db_path
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            now = clock.monotonic()
            if self._cached is None or now - self._cached[0] >= self.cache_seconds:
                self._cached = (now, self._read())
            families = self._cached[1]
        yield from families

    def _read(self) -> list[Metric]:
        db = connect(self.db_path)
        try:
            families = list(_families(db))
        except sqlite3.Error as exc:
            raise MetricsError(f"{self.db_path}: cannot read metrics: {exc}") from exc
        finally:
            db.close()
        journal = GaugeMetricFamily(
            "tmxd_journal_bytes",
            "Records waiting in the journal for a busy database (bytes).",
        )
        journal.add_metric([], Journal(self.db_path).size())
        return [*families, journal]


def _families(conn: sqlite3.Connection) -> Iterator[Metric]:
    rows = conn.execute("SELECT id, root, name FROM projects").fetchall()
    labels = project_labels(rows)

    def project(pid: Any) -> str:
        return labels.get(int(pid), "?")

    yield InfoMetricFamily(
        "tmxd",
        "tmxd version and metrics schema version.",
        value={"version": __version__, "schema": str(schema_version())},
    )
    info = InfoMetricFamily("tmxd_project", "Each project's root folder.", labels=["project"])
    for pid, root, _name in rows:
        info.add_metric([project(pid)], {"root": root})
    yield info

    tasks = GaugeMetricFamily(
        "tmxd_tasks",
        "Tasks and subtasks by their latest recorded status (the task_status_now view).",
        labels=["project", "tag", "status"],
    )
    for pid, tag, status, count in conn.execute(
        "SELECT project_id, tag, status, count(*) FROM task_status_now WHERE status != ? "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        (REMOVED,),
    ):
        tasks.add_metric([project(pid), tag, status], count)
    yield tasks

    trans = CounterMetricFamily(
        "tmxd_transitions",
        "Status transitions recorded (source baseline: tmxd's first look at a task).",
        labels=["project", "tag", "to", "source"],
    )
    for pid, tag, to, source, n in conn.execute(
        "SELECT project_id, tag, new_status, source, n FROM transition_totals ORDER BY 1, 2, 3, 4"
    ):
        trans.add_metric([project(pid), tag, to, source], n)
    yield trans

    yield from _executions(conn, project)
    yield from _commits(conn, project)
    yield from _hooks_and_tools(conn, project)

    jobs = GaugeMetricFamily(
        "tmxd_job_last_success_timestamp_seconds",
        "Start of each scheduled job's last good run (Unix time).",
        labels=["job"],
    )
    for name, started in conn.execute(
        "SELECT name, max(started_at) FROM job_runs WHERE ok = 1 GROUP BY name ORDER BY name"
    ):
        jobs.add_metric([name], round(from_db_time(started).timestamp(), 3))
    yield jobs

    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    yield GaugeMetricFamily(
        "tmxd_database_size_bytes", "Size of the metrics database.", value=pages * page_size
    )


@dataclass
class _AgentTotals:
    """One project's and agent's finished executions, summed over the totals' rows."""

    finished: int = 0
    ok: int = 0
    interrupted: int = 0
    le: list[int] = field(default_factory=lambda: [0] * len(DURATION_BUCKETS))  # cumulative
    ms: float = 0.0
    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    usd: float = 0.0


def _executions(conn: sqlite3.Connection, project: Callable[[Any], str]) -> Iterator[Metric]:
    by = ["project", "agent"]
    total = CounterMetricFamily(
        "tmxd_executions", "Finished agent executions.", labels=[*by, "result"]
    )
    running = GaugeMetricFamily("tmxd_executions_running", "Agent runs going on.", labels=by)
    hist = HistogramMetricFamily(
        "tmxd_execution_duration_seconds", "Duration of finished agent executions.", labels=by
    )
    tools = CounterMetricFamily("tmxd_agent_tool_calls", "Tool calls of agent runs.", labels=by)
    tokens = CounterMetricFamily(
        "tmxd_agent_tokens", "Tokens used by agent runs.", labels=[*by, "direction"]
    )
    cost = CounterMetricFamily("tmxd_agent_cost_usd", "Agent cost in US dollars.", labels=by)
    per: dict[tuple[str, str], _AgentTotals] = defaultdict(_AgentTotals)
    buckets_sql = ", ".join(f"sum({bucket_column(b)})" for b in DURATION_BUCKETS)
    for pid, agent, finished, ok, stopped, dur, calls, tin, tout, usd, *le in conn.execute(
        "SELECT project_id, agent, sum(finished), sum(ok), sum(interrupted), sum(duration_ms), "
        "sum(tool_calls), "
        f"sum(input_tokens), sum(output_tokens), sum(cost_usd), {buckets_sql} "
        "FROM execution_task_totals GROUP BY project_id, agent HAVING sum(n) > 0"
    ):
        acc = per[(project(pid), agent)]
        acc.finished, acc.ok, acc.interrupted, acc.ms, acc.calls = finished, ok, stopped, dur, calls
        acc.tokens_in, acc.tokens_out, acc.usd, acc.le = tin, tout, usd, le
    for pid, agent, n in conn.execute(
        "SELECT project_id, agent, count(*) FROM executions INDEXED BY executions_running "
        "WHERE finished_at IS NULL GROUP BY 1, 2"
    ):
        key = (project(pid), agent)
        per[key]  # an agent with runs going on has every family, zeros included
        running.add_metric(list(key), n)
    for key, acc in sorted(per.items()):
        labels = list(key)
        total.add_metric([*labels, SUCCESS], acc.ok)
        total.add_metric([*labels, FAILURE], acc.finished - acc.ok - acc.interrupted)
        total.add_metric([*labels, INTERRUPTED], acc.interrupted)
        buckets = [(f"{float(b)}", n) for b, n in zip(DURATION_BUCKETS, acc.le, strict=True)]
        buckets.append(("+Inf", acc.finished))
        hist.add_metric(labels, buckets, round(acc.ms / 1000.0, 3))
        tools.add_metric(labels, acc.calls)
        tokens.add_metric([*labels, "input"], acc.tokens_in)
        tokens.add_metric([*labels, "output"], acc.tokens_out)
        cost.add_metric(labels, round(acc.usd, 6))
    yield from (total, running, hist, tools, tokens, cost)


def _commits(conn: sqlite3.Connection, project: Callable[[Any], str]) -> Iterator[Metric]:
    commits = CounterMetricFamily("tmxd_commits", "Commits recorded.", labels=["project"])
    linked = CounterMetricFamily(
        "tmxd_commits_linked", "Commits that name at least one task.", labels=["project"]
    )
    lines = CounterMetricFamily(
        "tmxd_commit_lines", "Lines changed by recorded commits.", labels=["project", "kind"]
    )
    for pid, n, n_linked, ins, dels in conn.execute(
        "SELECT project_id, count(*), "
        "sum(EXISTS (SELECT 1 FROM commit_tasks ct WHERE ct.commit_id = c.id)), "
        "sum(insertions), sum(deletions) FROM commits c GROUP BY 1 ORDER BY 1"
    ):
        commits.add_metric([project(pid)], n)
        linked.add_metric([project(pid)], n_linked or 0)
        lines.add_metric([project(pid), "insertions"], ins or 0)
        lines.add_metric([project(pid), "deletions"], dels or 0)
    yield from (commits, linked, lines)


def _hooks_and_tools(conn: sqlite3.Connection, project: Callable[[Any], str]) -> Iterator[Metric]:
    by = ["project", "hook", "result"]
    runs = CounterMetricFamily(
        "tmxd_hook_runs",
        "Hook runs processed (git hooks' spool lines, Claude Code hooks).",
        labels=by,
    )
    timed = SummaryMetricFamily(
        "tmxd_hook_duration_seconds",
        "The hook's own time, for hooks that measure it (Claude Code hooks).",
        labels=by,
    )
    for pid, hook, ok, n, n_timed, ms in conn.execute(
        "SELECT project_id, hook, ok, n, timed, duration_ms FROM hook_run_totals ORDER BY 1, 2, 3"
    ):
        labels = [project(pid), hook, result(ok)]
        runs.add_metric(labels, n)
        if n_timed:
            timed.add_metric(labels, n_timed, round(ms / 1000.0, 6))
    calls = CounterMetricFamily(
        "tmxd_tool_calls",
        "Agent tool calls seen by Claude Code hooks.",
        labels=["project", "tool", "result"],
    )
    for pid, tool, ok, n in conn.execute(
        "SELECT project_id, tool, success, n FROM tool_call_totals ORDER BY 1, 2, 3"
    ):
        calls.add_metric([project(pid), tool, result(ok)], n)
    yield from (runs, timed, calls)


def registry_for(
    db_path: Path, *, cache_seconds: float = 0.0, process: bool = False
) -> CollectorRegistry:
    """A registry with tmxd's collector (and, for the daemon, its process metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TmxdCollector(db_path, cache_seconds))
    if process:
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
    return registry


def exposition_for(db_path: Path) -> str:
    """Every tmxd metric in Prometheus' text format (0.0.4), read now."""
    return generate_latest(registry_for(db_path)).decode("utf-8")


# -- the HTTP endpoint ----------------------------------------------------------------


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # scrapes every few seconds would flood the daemon's log


Environ = dict[str, Any]
StartResponse = Callable[..., Any]


def metrics_app(registry: CollectorRegistry) -> Callable[[Environ, StartResponse], list[bytes]]:
    """The WSGI app: ``GET``/``HEAD /metrics`` (negotiated format, gzip), 404 elsewhere."""
    inner = make_wsgi_app(registry)

    def app(request: Environ, start_response: StartResponse) -> list[bytes]:
        method = request.get("REQUEST_METHOD", "GET")
        if request.get("PATH_INFO", "") not in ("/metrics", "/metrics/"):
            return _plain(start_response, "404 Not Found", "not found: scrape /metrics\n", method)
        if method not in ("GET", "HEAD"):
            return _plain(
                start_response,
                "405 Method Not Allowed",
                "use GET or HEAD\n",
                method,
                [("Allow", "GET, HEAD")],
            )
        captured: list[Any] = []
        try:
            get = {**request, "REQUEST_METHOD": "GET"}
            body = b"".join(inner(get, lambda s, h, *_: captured.extend((s, h))))
        except MetricsError as exc:
            return _plain(start_response, "500 Internal Server Error", exc.message + "\n", method)
        status, headers = captured
        start_response(status, [*headers, ("Content-Length", str(len(body)))])
        return [] if method == "HEAD" else [body]

    return app


def _plain(
    start_response: StartResponse,
    status: str,
    text: str,
    method: str,
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    body = text.encode("utf-8")
    start_response(
        status,
        [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", str(len(body))),
            *(extra or []),
        ],
    )
    return [] if method == "HEAD" else [body]


class PrometheusServer:
    """A running ``/metrics`` endpoint; :meth:`stop` shuts it down and joins its thread."""

    def __init__(self, httpd: WSGIServer) -> None:
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, name="tmxd-prometheus", daemon=True
        )
        self._thread.start()

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


def serve_prometheus(
    host: str,
    port: int,
    db_path: Path,
    *,
    cache_seconds: float = DEFAULT_CACHE_SECONDS,
    process: bool = True,
) -> PrometheusServer:
    """Serve ``/metrics`` for ``db_path`` on ``host:port`` (port 0 picks a free one).

    A collection opens the database, reads the totals and closes it, so the
    endpoint holds no connection between scrapes; it is reused for
    ``cache_seconds``. ``process`` adds this process' own metrics.
    """
    app = metrics_app(registry_for(db_path, cache_seconds=cache_seconds, process=process))
    server_class = _IPv6Server if ":" in host else _Server
    try:
        httpd = make_server(host, port, app, server_class, _QuietHandler)
    except OSError as exc:
        raise MetricsError(
            f"cannot listen on {host}:{port} for Prometheus: {exc.strerror or exc}; "
            "pick another port"
        ) from exc
    return PrometheusServer(httpd)
