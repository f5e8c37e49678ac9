from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from daemonproc import DaemonProcess
from helpers import wait_until
from metrics_fixture import build, finish
from tmxd.metrics import records
from tmxd.metrics.prometheus import (
    TmxdCollector,
    exposition_for,
    project_labels,
    serve_prometheus,
)
from tmxd.metrics.recorder import Recorder
from tmxd.metrics.schema import MetricsError

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample, parsed by prometheus_client's own parser (not ours)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def get(s: Samples, name: str, **labels: str) -> float:
    return s[(name, frozenset(labels.items()))]


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[Path]:
    p, q = tmp_path / "proj", tmp_path / "other"
    p.mkdir()
    q.mkdir()
    path = tmp_path / "m.db"
    with Recorder.open(path) as rec:
        build(rec, p, q)
        rec.hook_run(p, "post-commit", True, sha="c1", linked=True)
        rec.hook_run(p, "claude", True, duration_ms=4.0)
        rec.hook_run(p, "claude", True, duration_ms=6.0)
        rec.tool_call(p, "s", 'Bash "quoted"\nline', False, 1.0, "1")
    yield path


def test_exposition_values(db: Path) -> None:
    text = exposition_for(db)
    s = samples(text)
    lab = {"project": "proj", "agent": "claude"}
    assert get(s, "tmxd_executions_total", result="success", **lab) == 3
    assert get(s, "tmxd_executions_total", result="failure", **lab) == 3
    assert get(s, "tmxd_executions_running", **lab) == 1
    h = "tmxd_execution_duration_seconds"
    assert get(s, h + "_bucket", le="10.0", **lab) == 0
    assert get(s, h + "_bucket", le="30.0", **lab) == 1
    assert get(s, h + "_bucket", le="120.0", **lab) == 5
    assert get(s, h + "_bucket", le="+Inf", **lab) == 6
    assert get(s, h + "_sum", **lab) == 700
    assert get(s, h + "_count", **lab) == 6
    assert get(s, "tmxd_agent_tool_calls_total", **lab) == 51
    assert get(s, "tmxd_agent_tokens_total", direction="input", **lab) == 3000
    assert get(s, "tmxd_agent_cost_usd_total", **lab) == pytest.approx(0.3)
    assert get(s, "tmxd_tasks", project="proj", tag="master", status="done") == 4
    assert get(s, "tmxd_tasks", project="proj", tag="master", status="in-progress") == 1
    assert get(s, "tmxd_tasks", project="other", tag="feat", status="in-progress") == 1
    done_by_autopilot = {"project": "proj", "tag": "master", "to": "done", "source": "autopilot"}
    assert get(s, "tmxd_transitions_total", **done_by_autopilot) == 2
    assert get(s, "tmxd_commits_total", project="proj") == 4
    assert get(s, "tmxd_commits_linked_total", project="proj") == 3
    assert get(s, "tmxd_commit_lines_total", project="proj", kind="insertions") == 45
    assert get(s, "tmxd_hook_runs_total", project="proj", hook="post-commit", result="success")
    assert get(s, "tmxd_hook_runs_total", project="proj", hook="claude", result="success") == 2
    claude = {"project": "proj", "hook": "claude", "result": "success"}
    assert get(s, "tmxd_hook_duration_seconds_sum", **claude) == pytest.approx(0.01)
    assert get(s, "tmxd_hook_duration_seconds_count", **claude) == 2
    # git hooks do not time themselves: no duration figure without data behind it
    assert not any(
        n.startswith("tmxd_hook_duration") and ("hook", "post-commit") in lab_ for (n, lab_) in s
    )
    # Label values are escaped and parse back to the original.
    tool = {"project": "proj", "tool": 'Bash "quoted"\nline', "result": "failure"}
    assert get(s, "tmxd_tool_calls_total", **tool) == 1
    assert 'tool="Bash \\"quoted\\"\\nline"' in text
    assert get(s, "tmxd_database_size_bytes") >= 4096
    roots = {
        dict(labels)["project"]: dict(labels)["root"]
        for (name, labels) in s
        if name == "tmxd_project_info"
    }
    assert roots == {"proj": str(db.parent / "proj"), "other": str(db.parent / "other")}


def test_one_result_vocabulary(db: Path) -> None:
    results = {
        dict(labels)["result"]
        for (_name, labels) in samples(exposition_for(db))
        if "result" in dict(labels)
    }
    # executions also say which ended by an interrupt (zero here: none did)
    assert results == {"success", "failure", "interrupted"}
    s = samples(exposition_for(db))
    lab = {"project": "proj", "agent": "claude", "result": "interrupted"}
    assert get(s, "tmxd_executions_total", **lab) == 0
    assert not [k for k in s if ("result", "interrupted") in k[1] and "executions" not in k[0]]


def test_an_interrupted_execution_is_not_a_failure(tmp_path: Path) -> None:
    path, p = tmp_path / "i.db", tmp_path / "proj"
    p.mkdir()
    with Recorder.open(path) as rec:
        finish(rec, rec.execution_started(p, "1", 1, "medium", "claude"))
        for error in ("interrupted", "interrupted: the run was killed; recovered by a later run"):
            ex = rec.execution_started(p, "2", 1, "medium", "claude")
            finish(rec, ex, success=False, exit_code=None, error=error)
        ex = rec.execution_started(p, "3", 1, "medium", "claude")
        finish(rec, ex, success=False, exit_code=1, error="tests failed")  # control
        ex = rec.execution_started(p, "3", 2, "medium", "claude")
        finish(rec, ex, success=False, exit_code=1, error="Interrupted by the linter")
    s = samples(exposition_for(path))
    lab = {"project": "proj", "agent": "claude"}
    assert get(s, "tmxd_executions_total", result="success", **lab) == 1
    assert get(s, "tmxd_executions_total", result="failure", **lab) == 2  # the word's case counts
    assert get(s, "tmxd_executions_total", result="interrupted", **lab) == 2
    # every finished execution is still in the duration histogram
    assert get(s, "tmxd_execution_duration_seconds_count", **lab) == 5


def test_project_labels_are_names_made_unique() -> None:
    labels = project_labels([(3, "/b/app", "app"), (1, "/a/app", "app"), (2, "/c/web", "web")])
    assert labels == {1: "app", 2: "web", 3: "app#3"}


def test_totals_follow_inserts_updates_and_deletes(db: Path) -> None:
    """The running totals the export reads equal what the tables hold, whatever happened."""
    with Recorder.open(db) as rec:
        ex = rec.execution_started(db.parent / "proj", "7", 1, "simple", "script")
        finish(rec, ex, tool_calls=3, duration_ms=5000)
        # a batch (the recorder adds its totals once per batch), a record in it twice, and
        # one already stored: each row counts once
        calls = [records.tool_call(db.parent / "proj", "s", "Read", True, 1.0, None)]
        rec.store([*calls, *calls, records.hook_run(db.parent / "proj", "claude", False)])
        rec.store(calls)
        conn = rec.conn
        conn.execute("UPDATE executions SET success = 0, duration_ms = 9e6 WHERE id = ?", (ex,))
        conn.execute("DELETE FROM transitions WHERE task_id = '3'")
        conn.execute("DELETE FROM tool_calls WHERE tool != 'Read'")
        conn.commit()
        pairs = [
            (
                "SELECT sum(finished), sum(duration_ms), sum(tool_calls) "
                "FROM execution_task_totals",
                "SELECT count(*), sum(duration_ms), sum(tool_calls) FROM executions "
                "WHERE success IS NOT NULL",
            ),
            (
                "SELECT sum(finished) - sum(le_7200), sum(n) - sum(finished), sum(le_30) "
                "FROM execution_task_totals",
                "SELECT sum(duration_ms > 7200000), sum(success IS NULL), sum(duration_ms <= 30000 "
                "AND success IS NOT NULL) FROM executions",
            ),
            ("SELECT sum(n) FROM transition_totals", "SELECT count(*) FROM transitions"),
            ("SELECT coalesce(sum(n), 0) FROM tool_call_totals", "SELECT count(*) FROM tool_calls"),
            (
                "SELECT n FROM tool_call_totals WHERE tool = 'Read'",
                "SELECT count(*) FROM tool_calls WHERE tool = 'Read'",
            ),
            (
                "SELECT sum(n), sum(timed) FROM hook_run_totals",
                "SELECT count(*), count(duration_ms) FROM hook_runs",
            ),
        ]
        for totals, table in pairs:
            got, want = conn.execute(totals).fetchone(), conn.execute(table).fetchone()
            assert got == pytest.approx(want), totals


def test_empty_database_exports_info_only(tmp_path: Path) -> None:
    Recorder.open(tmp_path / "e.db").close()
    names = {name for (name, _labels) in samples(exposition_for(tmp_path / "e.db"))}
    assert names == {"tmxd_info", "tmxd_database_size_bytes", "tmxd_journal_bytes"}


def test_collections_are_cached(db: Path) -> None:
    collector = TmxdCollector(db, cache_seconds=3600)
    first = list(collector.collect())
    with Recorder.open(db) as rec:
        rec.transition(db.parent / "proj", "9", None, "pending", "tmxd")
    assert list(collector.collect()) == first  # the same families, not re-read
    fresh = TmxdCollector(db, cache_seconds=0)
    assert list(fresh.collect()) != first


def fetch(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, dict(resp.headers), resp.read()


def test_http_endpoint(db: Path) -> None:
    # cached, and without the process' own metrics: every answer has the same body
    server = serve_prometheus("127.0.0.1", 0, db, cache_seconds=3600, process=False)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        status, headers, body = fetch(server.url)
        assert status == 200
        assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        s = samples(body.decode())
        assert get(s, "tmxd_executions_total", project="proj", agent="claude", result="success")

        status, headers, head = fetch(server.url, "HEAD")
        assert (status, head) == (200, b"")
        assert int(headers["Content-Length"]) == len(body)

        _s, headers, packed = fetch(server.url, **{"Accept-Encoding": "gzip"})
        assert headers["Content-Encoding"] == "gzip"
        assert samples(gzip.decompress(packed).decode()).keys() == s.keys()

        _s, headers, om = fetch(server.url, Accept="application/openmetrics-text; version=1.0.0")
        assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
        families = {f.name: f for f in openmetrics_families(om.decode())}
        assert families["tmxd_transitions"].type == "counter"
        assert om.decode().endswith("# EOF\n")

        for path, code in (("/other", 404), ("/metrics?x", 200)):
            try:
                fetch(server.url.replace("/metrics", path))
            except urllib.error.HTTPError as exc:
                exc.close()
                assert exc.code == code
            else:
                assert code == 200
        with pytest.raises(urllib.error.HTTPError) as info:
            fetch(server.url, "POST")
        info.value.close()
        assert info.value.code == 405
    finally:
        server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url, timeout=5)


def test_the_daemons_endpoint_has_its_process_metrics(db: Path) -> None:
    server = serve_prometheus("127.0.0.1", 0, db)
    try:
        names = {name for (name, _labels) in samples(fetch(server.url)[2].decode())}
    finally:
        server.stop()
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total"} <= names
    assert "python_gc_collections_total" in names


def test_unreadable_database_is_a_500_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_text("not a database " * 100)
    server = serve_prometheus("127.0.0.1", 0, bad, cache_seconds=0, process=False)
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            fetch(server.url)
        assert info.value.code == 500
        assert b"not a usable SQLite database" in info.value.read()
        info.value.close()
    finally:
        server.stop()


def test_port_in_use_is_a_clear_error(db: Path) -> None:
    server = serve_prometheus("127.0.0.1", 0, db)
    try:
        with pytest.raises(MetricsError, match=f"cannot listen on 127.0.0.1:{server.port}"):
            serve_prometheus("127.0.0.1", server.port, db)
    finally:
        server.stop()


def test_scrape_reads_totals_not_rows(db: Path) -> None:
    """The export never scans the big tables: every query it runs uses an index or a
    totals table (checked with SQLite's own query plans)."""
    plans: list[str] = []
    conn = sqlite3.connect(db)
    conn.set_trace_callback(plans.append)
    from tmxd.metrics import prometheus

    list(prometheus._families(conn))
    conn.close()
    big = ("executions", "tool_calls", "hook_runs", "events")
    with sqlite3.connect(db) as check:
        for sql in plans:
            for *_ids, step in check.execute("EXPLAIN QUERY PLAN " + sql):
                scanned = step.split()[1] if step.startswith("SCAN ") else ""
                # running executions: a partial index holding only the unfinished ones
                assert scanned not in big or "executions_running" in step, (sql, step)


PROMETHEUS = shutil.which("prometheus")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _api(base: str, path: str, **params: str) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}" if params else base + path
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.mark.slow
@pytest.mark.skipif(
    PROMETHEUS is None,
    reason="the Debian package prometheus is not installed here (.ci/run installs it)",
)
def test_a_real_prometheus_scrapes_the_daemon(tmp_path: Path) -> None:
    """Prometheus 2.x scrapes `tmxd run --listen` every second; what its HTTP API answers
    equals what the database counts."""
    assert PROMETHEUS is not None
    db = Path(os.environ["TMXD_DB"])
    p, q = tmp_path / "proj", tmp_path / "other"
    p.mkdir()
    q.mkdir()
    with Recorder.open(db) as rec:
        build(rec, p, q)
        rec.hook_run(p, "post-commit", True, sha="c1", linked=True)
        rec.tool_call(p, "s", "Bash", True, 3.0, "1")
        rec.tool_call(p, "s", "Edit", False, 5.0, "1")
    daemon = DaemonProcess(tmp_path / "d.log", "--listen", "127.0.0.1:0", "--metrics-cache", "0")
    daemon.start()
    prom = None
    try:
        target = urllib.parse.urlsplit(daemon.status()["prometheus"]).netloc
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: tmxd\n"
            f"    static_configs:\n      - targets: ['{target}']\n"
        )
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with (tmp_path / "prometheus.log").open("wb") as log:  # the child keeps its own copy
            prom = subprocess.Popen(
                [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                stdout=log, stderr=log,
            )  # fmt: skip

        def up() -> bool:
            try:
                targets = _api(base, "/api/v1/targets")["data"]["activeTargets"]
            except OSError:
                return False
            return bool(targets) and targets[0]["health"] == "up" and not targets[0]["lastError"]

        wait_until(up, what="Prometheus to scrape tmxd (see prometheus.log)")

        def series(query: str) -> dict[frozenset[tuple[str, str]], float]:
            result = _api(base, "/api/v1/query", query=query)["data"]["result"]
            ours = ("__name__", "job", "instance")  # the name and the labels Prometheus adds
            return {
                frozenset((k, v) for k, v in r["metric"].items() if k not in ours):
                float(r["value"][1])
                for r in result
            }  # fmt: skip

        def counted(sql: str) -> dict[frozenset[tuple[str, str]], float]:
            with sqlite3.connect(db) as conn:
                cur = conn.execute(sql)
                names = [d[0] for d in cur.description][:-1]
                return {
                    frozenset(zip(names, [str(v) for v in row[:-1]], strict=True)): float(row[-1])
                    for row in cur
                }

        transitions = (
            'SELECT p.name AS project, t.tag, t.new_status AS "to", t.source, count(*) '
            "FROM transitions t JOIN projects p ON p.id = t.project_id GROUP BY 1, 2, 3, 4"
        )
        wait_until(lambda: series("tmxd_transitions_total") == counted(transitions))
        executions = series("tmxd_executions_total")
        assert {k: v for k, v in executions.items() if v} == counted(
            "SELECT p.name AS project, e.agent, CASE WHEN e.success = 1 THEN 'success' "
            "WHEN e.error LIKE 'interrupted%' THEN 'interrupted' "
            "ELSE 'failure' END AS result, count(*) FROM executions e JOIN projects p "
            "ON p.id = e.project_id WHERE e.success IS NOT NULL GROUP BY 1, 2, 3"
        )
        assert series("tmxd_tool_calls_total") == counted(
            "SELECT p.name AS project, c.tool, CASE c.success WHEN 1 THEN 'success' "
            "ELSE 'failure' END AS result, count(*) FROM tool_calls c JOIN projects p "
            "ON p.id = c.project_id GROUP BY 1, 2, 3"
        )
        assert series("tmxd_commits_total") == counted(
            "SELECT p.name AS project, count(*) FROM commits c JOIN projects p "
            "ON p.id = c.project_id GROUP BY 1"
        )
        assert series("tmxd_hook_runs_total") == counted(
            "SELECT p.name AS project, h.hook, CASE h.ok WHEN 1 THEN 'success' "
            "ELSE 'failure' END AS result, count(*) FROM hook_runs h JOIN projects p "
            "ON p.id = h.project_id GROUP BY 1, 2, 3"
        )
        assert series("process_resident_memory_bytes")  # the daemon's own
        # a new row reaches Prometheus with the next scrape
        with Recorder.open(db) as rec:
            rec.transition(p, "6", None, "pending", "external")
        wait_until(lambda: series("tmxd_transitions_total") == counted(transitions))
        assert sum(series("tmxd_transitions_total").values()) == 17 + 1
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(timeout=60)
        daemon.stop()
