from __future__ import annotations

import gzip
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from metrics_fixture import build
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
        rec.hook_run(p, "post-commit", None, True, sha="c1", linked=True)
        rec.hook_run(p, "claude", 4.0, True)
        rec.hook_run(p, "claude", 6.0, True)
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
    assert results == {"success", "failure"}


def test_project_labels_are_names_made_unique() -> None:
    labels = project_labels([(3, "/b/app", "app"), (1, "/a/app", "app"), (2, "/c/web", "web")])
    assert labels == {1: "app", 2: "web", 3: "app#3"}


def test_totals_follow_inserts_updates_and_deletes(db: Path) -> None:
    """The running totals the export reads equal what the tables hold, whatever happened."""
    with Recorder.open(db) as rec:
        ex = rec.execution_started(db.parent / "proj", "7", 1, "simple", "script")
        rec.execution_finished(
            ex,
            success=True,
            exit_code=0,
            tool_calls=3,
            turns=1,
            input_tokens=None,
            output_tokens=None,
            cost_usd=None,
            peak_rss_bytes=None,
            error=None,
            duration_ms=5000,
        )
        conn = rec.db.conn
        conn.execute("UPDATE executions SET success = 0, duration_ms = 9e6 WHERE id = ?", (ex,))
        conn.execute("DELETE FROM transitions WHERE task_id = '3'")
        conn.execute("DELETE FROM tool_calls")
        conn.commit()
        pairs = [
            (
                "SELECT sum(n), sum(duration_ms), sum(tool_calls) FROM execution_totals",
                "SELECT count(*), sum(duration_ms), sum(tool_calls) FROM executions "
                "WHERE success IS NOT NULL",
            ),
            (
                "SELECT sum(n) FROM execution_totals WHERE success = 0 AND bucket = 10",
                "SELECT count(*) FROM executions WHERE success = 0 AND duration_ms > 7200000",
            ),
            ("SELECT sum(n) FROM transition_totals", "SELECT count(*) FROM transitions"),
            ("SELECT coalesce(sum(n), 0) FROM tool_call_totals", "SELECT count(*) FROM tool_calls"),
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
    server = serve_prometheus("127.0.0.1", 0, db, cache_seconds=0)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        status, headers, body = fetch(server.url)
        assert status == 200
        assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        s = samples(body.decode())
        assert get(s, "tmxd_executions_total", project="proj", agent="claude", result="success")
        assert any(name == "process_resident_memory_bytes" for (name, _l) in s)  # the daemon's

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
                assert exc.code == code
            else:
                assert code == 200
        with pytest.raises(urllib.error.HTTPError) as info:
            fetch(server.url, "POST")
        assert info.value.code == 405
    finally:
        server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url, timeout=5)


def test_unreadable_database_is_a_500_with_the_reason(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_text("not a database " * 100)
    server = serve_prometheus("127.0.0.1", 0, bad, cache_seconds=0, process=False)
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            fetch(server.url)
        assert info.value.code == 500
        assert b"not a usable SQLite database" in info.value.read()
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
