"""Prometheus text exposition (format 0.0.4) of the metrics database.

Counters are totals over everything the database still holds (pruning lowers
them, which Prometheus treats as a counter reset). ``project`` labels carry
the project's root folder, so several projects on one machine never collide;
the team's Prometheus adds its own ``instance`` label per machine.

Three ways out: ``tmxd metrics --prometheus`` prints it, ``--textfile PATH``
writes it atomically for node_exporter's textfile collector, and
:func:`serve_prometheus` serves ``/metrics`` over HTTP (the daemon's
``--listen 127.0.0.1:PORT``).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tmxd import __version__
from tmxd.metrics.recorder import from_db_time
from tmxd.metrics.schema import MetricsError, connect, schema_version

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)


def _escape(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Sequence[tuple[str, Any]]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _number(value: float | int | None) -> str:
    if value is None:
        return "0"
    if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


class _Family:
    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name, self.kind, self.help = name, kind, help_text
        self.samples: list[str] = []

    def add(self, value: float | int | None, *labels: tuple[str, Any], suffix: str = "") -> None:
        self.samples.append(f"{self.name}{suffix}{_labels(labels)} {_number(value)}")

    def lines(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}", *self.samples]


def exposition(conn: sqlite3.Connection) -> str:
    """Every tmxd metric in Prometheus' text format."""
    roots = {int(r[0]): str(r[1]) for r in conn.execute("SELECT id, root FROM projects")}

    def project(pid: Any) -> tuple[str, str]:
        return ("project", roots.get(int(pid), "?") if pid is not None else "")

    families: list[_Family] = []

    def family(name: str, kind: str, help_text: str) -> _Family:
        fam = _Family(name, kind, help_text)
        families.append(fam)
        return fam

    info = family("tmxd_info", "gauge", "tmxd version and metrics schema version.")
    info.add(1, ("version", __version__), ("schema", schema_version()))

    tasks = family("tmxd_tasks", "gauge", "Tasks by their latest recorded status.")
    for pid, tag, status, count in conn.execute(
        "SELECT project_id, tag, new_status, count(*) FROM (SELECT project_id, tag, task_id, "
        "new_status, max(at) FROM transitions GROUP BY project_id, tag, task_id) "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ):
        tasks.add(count, project(pid), ("tag", tag), ("status", status))

    trans = family("tmxd_transitions_total", "counter", "Status transitions recorded.")
    for pid, tag, to, source, count in conn.execute(
        "SELECT project_id, tag, new_status, source, count(*) FROM transitions "
        "GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    ):
        trans.add(count, project(pid), ("tag", tag), ("to", to), ("source", source))

    _executions(conn, project, family)
    _commits_and_hooks(conn, project, family)

    jobs = family(
        "tmxd_job_last_success_timestamp_seconds", "gauge", "Start of each job's last good run."
    )
    for name, started in conn.execute(
        "SELECT name, max(started_at) FROM job_runs WHERE ok = 1 GROUP BY name ORDER BY name"
    ):
        jobs.add(round(from_db_time(started).timestamp(), 3), ("job", name))

    size = family("tmxd_database_size_bytes", "gauge", "Size of the metrics database.")
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    size.add(int(pages) * int(page_size))

    lines: list[str] = []
    for fam in families:
        lines.extend(fam.lines())
    return "\n".join(lines) + "\n"


def _executions(conn: sqlite3.Connection, project: Any, family: Any) -> None:
    total = family("tmxd_executions_total", "counter", "Finished agent executions.")
    running = family("tmxd_executions_running", "gauge", "Agent executions still running.")
    hist = family(
        "tmxd_execution_duration_seconds", "histogram", "Duration of finished agent executions."
    )
    tools = family("tmxd_agent_tool_calls_total", "counter", "Tool calls made by agent runs.")
    tokens = family("tmxd_agent_tokens_total", "counter", "Tokens used by agent runs.")
    cost = family("tmxd_agent_cost_usd_total", "counter", "Reported agent cost in US dollars.")
    buckets = ", ".join(f"sum(duration_ms <= {b * 1000})" for b in DURATION_BUCKETS)
    for row in conn.execute(
        "SELECT project_id, agent, sum(success = 1), sum(success = 0), sum(finished_at IS NULL), "
        "sum(duration_ms), sum(finished_at IS NOT NULL), sum(tool_calls), sum(input_tokens), "
        f"sum(output_tokens), sum(cost_usd), {buckets} FROM executions GROUP BY 1, 2 ORDER BY 1, 2"
    ):
        pid, agent, ok, failed, run, dur_ms, finished, calls, tin, tout, usd = row[:11]
        labels = (project(pid), ("agent", agent))
        total.add(ok or 0, *labels, ("result", "success"))
        total.add(failed or 0, *labels, ("result", "failure"))
        running.add(run or 0, *labels)
        for bound, count in zip(DURATION_BUCKETS, row[11:], strict=True):
            hist.add(count or 0, *labels, ("le", f"{bound}.0"), suffix="_bucket")
        hist.add(finished or 0, *labels, ("le", "+Inf"), suffix="_bucket")
        hist.add(round((dur_ms or 0.0) / 1000.0, 3), *labels, suffix="_sum")
        hist.add(finished or 0, *labels, suffix="_count")
        tools.add(calls or 0, *labels)
        tokens.add(tin or 0, *labels, ("direction", "input"))
        tokens.add(tout or 0, *labels, ("direction", "output"))
        cost.add(round(float(usd or 0.0), 6), *labels)


def _commits_and_hooks(conn: sqlite3.Connection, project: Any, family: Any) -> None:
    commits = family("tmxd_commits_total", "counter", "Commits recorded.")
    linked = family("tmxd_commits_linked_total", "counter", "Commits that name at least one task.")
    lines = family("tmxd_commit_lines_total", "counter", "Lines changed by recorded commits.")
    for pid, n, n_linked, ins, dels in conn.execute(
        "SELECT project_id, count(*), "
        "sum(EXISTS (SELECT 1 FROM commit_tasks ct WHERE ct.commit_id = c.id)), "
        "sum(insertions), sum(deletions) FROM commits c GROUP BY 1 ORDER BY 1"
    ):
        commits.add(n, project(pid))
        linked.add(n_linked or 0, project(pid))
        lines.add(ins or 0, project(pid), ("kind", "insertions"))
        lines.add(dels or 0, project(pid), ("kind", "deletions"))
    hooks = family("tmxd_hook_runs_total", "counter", "Git hook runs.")
    hook_time = family("tmxd_hook_duration_seconds", "summary", "Time spent in git hooks.")
    for pid, hook, ok, n, dur in conn.execute(
        "SELECT project_id, hook, ok, count(*), sum(duration_ms) FROM hook_runs "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ):
        result = ("result", "ok" if ok else "error")
        hooks.add(n, project(pid), ("hook", hook), result)
        hook_time.add(
            round((dur or 0.0) / 1000.0, 6), project(pid), ("hook", hook), result, suffix="_sum"
        )
        hook_time.add(n, project(pid), ("hook", hook), result, suffix="_count")
    calls = family(
        "tmxd_tool_calls_total", "counter", "Agent tool calls seen by Claude Code hooks."
    )
    for pid, tool, ok, n in conn.execute(
        "SELECT project_id, tool, success, count(*) FROM tool_calls "
        "GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ):
        calls.add(n, project(pid), ("tool", tool), ("result", "success" if ok else "failure"))


def exposition_for(db_path: Path) -> str:
    """Open ``db_path``, render the exposition, close it."""
    db = connect(db_path)
    try:
        return exposition(db.conn)
    except sqlite3.Error as exc:
        raise MetricsError(f"{db_path}: cannot read metrics: {exc}") from exc
    finally:
        db.close()


class PrometheusServer:
    """A running ``/metrics`` endpoint; :meth:`stop` shuts it down and joins its thread."""

    def __init__(self, httpd: ThreadingHTTPServer) -> None:
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
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)


def serve_prometheus(host: str, port: int, db_path: Path) -> PrometheusServer:
    """Serve ``GET /metrics`` for ``db_path`` on ``host:port`` (port 0 picks a free one).

    Each scrape opens the database, reads, and closes it again, so the
    endpoint holds no connection between scrapes.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/metrics", "/metrics/"):
                self._reply(404, "not found: scrape /metrics\n")
                return
            try:
                self._reply(200, exposition_for(db_path))
            except MetricsError as exc:
                self._reply(500, f"{exc.message}\n")

        def _reply(self, code: int, body: str) -> None:
            data = body.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every few seconds would flood the daemon's log

    try:
        httpd = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        raise MetricsError(
            f"cannot listen on {host}:{port} for Prometheus: {exc.strerror or exc}; "
            "pick another port"
        ) from exc
    httpd.daemon_threads = True
    return PrometheusServer(httpd)


def parse_samples(text: str) -> Iterable[tuple[str, dict[str, str], float]]:
    """Parse exposition lines back into (name, labels, value); for tests and checks."""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        labels: dict[str, str] = {}
        if rest:
            body = rest[:-1]
            i = 0
            while i < len(body):
                eq = body.index("=", i)
                key = body[i:eq]
                j = eq + 2
                out = []
                while body[j] != '"':
                    if body[j] == "\\":
                        j += 1
                        out.append({"n": "\n"}.get(body[j], body[j]))
                    else:
                        out.append(body[j])
                    j += 1
                labels[key] = "".join(out)
                i = j + 2 if j + 1 < len(body) and body[j + 1] == "," else j + 1
        yield name, labels, float(value)
