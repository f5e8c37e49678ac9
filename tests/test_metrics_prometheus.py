from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from metrics_fixture import build
from tmxd.metrics.prometheus import (
    CONTENT_TYPE,
    exposition,
    exposition_for,
    parse_samples,
    serve_prometheus,
)
from tmxd.metrics.recorder import Recorder
from tmxd.metrics.schema import MetricsError


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[tuple[Path, str, str]]:
    p, q = tmp_path / "proj", tmp_path / "other"
    p.mkdir()
    q.mkdir()
    path = tmp_path / "m.db"
    with Recorder.open(path) as rec:
        build(rec, p, q)
        rec.hook_run(p, "post-commit", 4.0, True)
        rec.hook_run(p, "post-commit", 6.0, True)
        rec.tool_call(p, "s", 'Bash "quoted"\nline', False, 1.0, "1")
    yield path, str(p.resolve()), str(q.resolve())


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(n, frozenset(lab.items())): v for n, lab, v in parse_samples(text)}


def get(s: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return s[(name, frozenset(labels.items()))]


def test_exposition_values(db: tuple[Path, str, str]) -> None:
    path, p, q = db
    text = exposition_for(path)
    s = samples(text)
    assert get(s, "tmxd_executions_total", project=p, agent="claude", result="success") == 3
    assert get(s, "tmxd_executions_total", project=p, agent="claude", result="failure") == 3
    assert get(s, "tmxd_executions_running", project=p, agent="claude") == 1
    h = "tmxd_execution_duration_seconds"
    lab = {"project": p, "agent": "claude"}
    assert get(s, h + "_bucket", le="10.0", **lab) == 0
    assert get(s, h + "_bucket", le="30.0", **lab) == 1
    assert get(s, h + "_bucket", le="120.0", **lab) == 5
    assert get(s, h + "_bucket", le="+Inf", **lab) == 6
    assert get(s, h + "_sum", **lab) == 700
    assert get(s, h + "_count", **lab) == 6
    assert get(s, "tmxd_agent_tool_calls_total", **lab) == 51
    assert get(s, "tmxd_agent_tokens_total", direction="input", **lab) == 3000
    assert get(s, "tmxd_agent_cost_usd_total", **lab) == pytest.approx(0.3)
    assert get(s, "tmxd_tasks", project=p, tag="master", status="done") == 4
    assert get(s, "tmxd_tasks", project=p, tag="master", status="in-progress") == 1
    assert get(s, "tmxd_tasks", project=q, tag="feat", status="in-progress") == 1
    assert (
        get(s, "tmxd_transitions_total", project=p, tag="master", to="done", source="autopilot")
        == 2
    )
    assert get(s, "tmxd_commits_total", project=p) == 4
    assert get(s, "tmxd_commits_linked_total", project=p) == 3
    assert get(s, "tmxd_commit_lines_total", project=p, kind="insertions") == 45
    assert get(s, "tmxd_hook_runs_total", project=p, hook="post-commit", result="ok") == 2
    assert get(
        s, "tmxd_hook_duration_seconds_sum", project=p, hook="post-commit", result="ok"
    ) == pytest.approx(0.01)
    # Label values are escaped and parse back to the original.
    assert (
        get(s, "tmxd_tool_calls_total", project=p, tool='Bash "quoted"\nline', result="failure")
        == 1
    )
    assert 'tool="Bash \\"quoted\\"\\nline"' in text
    assert get(s, "tmxd_database_size_bytes") >= 4096


def test_exposition_format_is_well_formed(db: tuple[Path, str, str]) -> None:
    text = exposition_for(db[0])
    assert text.endswith("\n")
    seen_types: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in {"counter", "gauge", "histogram", "summary"}
            assert name not in seen_types  # one TYPE line per family
            seen_types.add(name)
        elif not line.startswith("# HELP "):
            name = line.split("{")[0].split(" ")[0]
            assert any(name == t or name.startswith(t + "_") for t in seen_types), line
    assert {"tmxd_info", "tmxd_tasks", "tmxd_execution_duration_seconds"} <= seen_types


def test_empty_database_exports_info_only(tmp_path: Path) -> None:
    with Recorder.open(tmp_path / "e.db") as rec:
        text = exposition(rec.db.conn)
    names = {n for n, _l, _v in parse_samples(text)}
    assert names == {"tmxd_info", "tmxd_database_size_bytes"}


def test_http_endpoint(db: tuple[Path, str, str]) -> None:
    server = serve_prometheus("127.0.0.1", 0, db[0])
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(server.url, timeout=30) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == CONTENT_TYPE
            body = resp.read().decode()
        assert "tmxd_executions_total" in body
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(server.url.replace("/metrics", "/other"), timeout=30)
        assert info.value.code == 404
        info.value.close()
    finally:
        server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url, timeout=5)


def test_port_in_use_is_a_clear_error(db: tuple[Path, str, str]) -> None:
    server = serve_prometheus("127.0.0.1", 0, db[0])
    try:
        with pytest.raises(MetricsError, match=f"cannot listen on 127.0.0.1:{server.port}"):
            serve_prometheus("127.0.0.1", server.port, db[0])
    finally:
        server.stop()
