"""Autopilot mode and the Prometheus endpoint in a real ``tmxd run`` process."""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from autopilot_support import agent_env, executions, hang_pids, make_project, statuses, task
from daemonproc import TIMEOUT, DaemonProcess
from helpers import run_tmxd, subprocess_env, tmxd_argv, wait_until
from tmxd import paths
from tmxd.daemon.dispatch import PASS_OVER, AutopilotDispatcher
from tmxd.daemon.lifecycle import parse_listen
from tmxd.errors import InputError
from tmxd.proc import running
from tmxd.taskmaster.project import find_project


def _set_status(root: Path, task_id: int, status: str) -> None:
    tasks = root / ".taskmaster" / "tasks" / "tasks.json"
    data = json.loads(tasks.read_text())
    for t in data["master"]["tasks"]:
        if t["id"] == task_id:
            t["status"] = status
    tasks.write_text(json.dumps(data, indent=2, ensure_ascii=False))


def _rows() -> list[dict[str, object]]:
    db = paths.db_path()
    if not db.exists():
        return []
    try:
        return executions(db)
    except sqlite3.OperationalError:  # the daemon creates the table; it may not exist yet
        return []


def _start(tmp_path: Path, root: Path, *extra: str) -> DaemonProcess:
    d = DaemonProcess(
        tmp_path / "daemon.log", "--project", str(root), *extra, env=agent_env(root)
    ).start()
    wait_until(lambda: d.status()["projects"][0].get("baseline"), what="the baseline snapshot")
    return d


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for d in started:
        d.stop()


def test_a_task_made_ready_is_dispatched_and_done(
    tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    root = tmp_path / "proj"
    make_project(
        root, [task(1, "Add the greeting file", status="deferred")], config="enabled = true\n"
    )
    d = _start(tmp_path, root)
    daemons.append(d)
    assert statuses(root) == {"1": "deferred"}
    _set_status(root, 1, "pending")
    wait_until(lambda: statuses(root) == {"1": "done"}, timeout=120, what="task 1 done")
    rows = wait_until(lambda: [r for r in _rows() if r["finished_at"]], what="an executions row")
    assert [(r["task_id"], r["success"]) for r in rows] == [("1", 1)]
    assert (root / "task-1.txt").exists()
    wait_until(lambda: "autopilot: 1 done" in d.log(), what="the pass summary in the log")
    # `tmxd status` counts what the daemon recorded, its autopilot's transitions too: the
    # outside edit (deferred -> pending), then in-progress and done
    assert d.status()["projects"][0]["transitions"] == 3


def test_the_notify_command_hears_what_a_dispatch_pass_did(
    tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    from notify_support import append_notify, received, recorder_command

    root = tmp_path / "proj"
    waiting = [task(1, "Add the greeting file"), task(2, "Broken")]
    for t in waiting:
        t["status"] = "deferred"
    fails = {"default": {"action": "edit"}, "tasks": {"2": {"action": "fail"}}}
    make_project(root, waiting, plan=fails, config="enabled = true\nmax_attempts = 1\n")
    command, out = recorder_command(tmp_path, "{event}", "{task}", "{title}")
    append_notify(root, command)
    daemons.append(_start(tmp_path, root))
    _set_status(root, 1, "pending")
    _set_status(root, 2, "pending")
    got = wait_until(lambda: len(received(out)) >= 2 and received(out), what="two notices")
    assert sorted(got) == [
        ["autopilot-blocked", "2", "Broken"],
        ["autopilot-done", "1", "Add the greeting file"],
    ]
    assert statuses(root) == {"1": "done", "2": "blocked"}


def test_sigterm_during_a_run_ends_the_agent_and_restores_the_task(
    tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    root = tmp_path / "proj"
    state_dir = make_project(
        root,
        [task(1, "Long job", status="pending")],
        config="enabled = true\n",
        plan={"default": {"action": "hang"}},
    )
    d = _start(tmp_path, root)
    daemons.append(d)
    pids_file = state_dir / "hang-1.pids"
    leader, child = wait_until(lambda: hang_pids(pids_file), timeout=120, what="the agent to start")
    assert statuses(root) == {"1": "in-progress"}
    assert d.status()["projects"][0]["autopilot"]["running"] is True
    assert d.terminate(timeout=30) == 0, d.output()
    wait_until(
        lambda: not (running(leader) or running(child)),
        timeout=30,
        what="agents ended",
    )
    assert statuses(root) == {"1": "pending"}
    rows = _rows()
    assert len(rows) == 1 and rows[0]["success"] == 0 and rows[0]["error"] == "interrupted"


def test_status_shows_the_open_circuit_breaker(
    tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    root = tmp_path / "proj"
    make_project(
        root,
        [task(1, "Doomed job", status="pending")],
        config="enabled = true\nbreaker_threshold = 1\nmax_attempts = 1\n",
        plan={"default": {"action": "fail"}},
    )
    d = _start(tmp_path, root)
    daemons.append(d)

    def breaker() -> dict[str, object] | None:
        pilot = d.status()["projects"][0]["autopilot"]
        return pilot["breaker"] if pilot and pilot["breaker"]["state"] == "open" else None

    state = wait_until(breaker, timeout=120, what="the breaker to open")
    assert state["failures"] == 1 and state["retry_in_s"] > 0
    text = run_tmxd("status")
    assert text.returncode == 0, text.stderr
    line = next(li for li in text.stdout.splitlines() if "autopilot:" in li)
    assert "breaker open, 1 failure(s)" in line and "trial in" in line
    assert line.endswith("(`tmxd autopilot --reset-breaker` closes it)")
    as_json = run_tmxd("status", "--format", "json")
    project = json.loads(as_json.stdout)["projects"][0]
    assert project["autopilot"]["enabled"] is True
    assert project["autopilot"]["breaker"]["state"] == "open"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_listen_serves_prometheus_metrics(tmp_path: Path, daemons: list[DaemonProcess]) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Something", status="pending")])
    port = _free_port()
    d = _start(tmp_path, root, "--listen", f"127.0.0.1:{port}")
    daemons.append(d)
    url = f"http://127.0.0.1:{port}/metrics"
    assert d.status()["prometheus"] == url
    assert d.status()["projects"][0]["autopilot"] is None  # not enabled in this project
    with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
        body = resp.read().decode()
    assert resp.status == 200
    assert "# TYPE tmxd_executions_total" in body
    assert "tmxd_database_size_bytes" in body
    assert d.terminate(timeout=30) == 0
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def test_listen_on_a_port_in_use_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            tmxd_argv("run", "--listen", f"127.0.0.1:{port}"),
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"127.0.0.1:{port}" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_parse_listen_accepts_loopback_and_refuses_the_rest() -> None:
    assert parse_listen("127.0.0.1:9464") == ("127.0.0.1", 9464)
    assert parse_listen("[::1]:0") == ("::1", 0)
    assert parse_listen("localhost:80") == ("localhost", 80)
    assert parse_listen("0.0.0.0:9464", allow_public=True) == ("0.0.0.0", 9464)
    for bad in ("9464", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:70000", ":9464"):
        with pytest.raises(InputError, match="HOST:PORT"):
            parse_listen(bad)
    with pytest.raises(InputError, match="--listen-public"):
        parse_listen("0.0.0.0:9464")


def test_non_loopback_listen_is_refused_before_starting() -> None:
    proc = run_tmxd("run", "--listen", "0.0.0.0:0")
    assert proc.returncode == 2
    assert "not a loopback address" in proc.stderr


def test_a_bad_config_turns_autopilot_mode_off_until_fixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """In process: the daemon's dispatcher reads the project's config at every poke."""
    root = tmp_path / "proj"
    make_project(
        root, [task(1, "Add the greeting file")], config='enabled = true\nmax_attempts = "many"\n'
    )
    for key, value in agent_env(root).items():
        monkeypatch.setenv(key, value)
    project = find_project(root)
    dispatcher = AutopilotDispatcher(lambda: None)
    with caplog.at_level(logging.ERROR, logger="tmxd.autopilot"):
        assert dispatcher.poke(project) is False
        assert dispatcher.poke(project) is False  # the same message is not logged again
    (logged,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "max_attempts" in logged and "autopilot mode is off until it is fixed" in logged
    described = dispatcher.describe(root)
    assert described is not None and described["enabled"] is False
    assert "max_attempts" in described["error"]
    assert statuses(root) == {"1": "pending"}
    # fixed: the next poke runs a pass, which takes the ready task to done
    config = root / ".taskmaster" / "tmxd.toml"
    config.write_text(config.read_text().replace('max_attempts = "many"', "max_attempts = 1"))
    try:
        assert dispatcher.poke(project) is True
        wait_until(lambda: statuses(root) == {"1": "done"}, timeout=120, what="task 1 done")
    finally:
        assert dispatcher.stop(timeout=60)
    described = dispatcher.describe(root)
    assert described is not None
    assert described["enabled"] is True and described["running"] is False
    assert described["error"] is None and described["breaker"]["state"] == "closed"


def test_autopilot_mode_off_is_not_dispatched(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Something")])  # no `enabled = true`
    dispatcher = AutopilotDispatcher(lambda: None)
    assert dispatcher.poke(find_project(root)) is False
    assert dispatcher.describe(root) is None
    assert dispatcher.stop(timeout=5)
    assert statuses(root) == {"1": "pending"}


def test_a_pass_that_fails_is_reported_and_the_next_poke_runs_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Add the greeting file")], config="enabled = true\n")
    for key, value in agent_env(root).items():
        monkeypatch.setenv(key, value)
    project = find_project(root)
    tasks = root / ".taskmaster" / "tasks" / "tasks.json"
    good = tasks.read_text()
    tasks.write_text(good[: len(good) // 2])  # an editor's half-written save
    dispatcher = AutopilotDispatcher(lambda: None)
    try:
        assert dispatcher.poke(project) is True

        def reported() -> str | None:
            described = dispatcher.describe(root)
            return described["error"] if described and not described["running"] else None

        error = wait_until(reported, what="the failed pass in status")
        assert "tasks.json" in error and "line" in error
        assert tasks.read_text() == good[: len(good) // 2]  # left as it was
        tasks.write_text(good)
        assert dispatcher.poke(project) is True
        wait_until(lambda: statuses(root) == {"1": "done"}, timeout=120, what="task 1 done")
    finally:
        assert dispatcher.stop(timeout=60)
    described = dispatcher.describe(root)
    assert described is not None and described["error"] is None


def test_a_pass_is_summed_up_as_the_daemons_pass_not_as_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """In process: the pass's summary in the daemon's log names no option nobody passed."""
    root = tmp_path / "proj"
    make_project(root, [task(1, "Add the greeting file")], config="enabled = true\n")
    for key, value in agent_env(root).items():
        monkeypatch.setenv(key, value)
    dispatcher = AutopilotDispatcher(lambda: None)
    with caplog.at_level(logging.INFO, logger="tmxd.autopilot"):
        try:
            assert dispatcher.poke(find_project(root)) is True
            wait_until(lambda: not dispatcher.busy(root), timeout=120, what="the pass to end")
        finally:
            assert dispatcher.stop(timeout=60)
    assert statuses(root) == {"1": "done"}
    logged = [r.getMessage() for r in caplog.records if r.name == "tmxd.autopilot"]
    assert f"{root}: stopped: {PASS_OVER}: 1 task(s) started, all done" in logged
    assert not [line for line in logged if "--once" in line]
    # control: `tmxd autopilot --once` (someone passed it) still says so
    cli = tmp_path / "cli"
    make_project(cli, [task(1, "Add the greeting file")])
    once = run_tmxd("autopilot", "--once", "-p", str(cli), cwd=cli, env=agent_env(cli))
    assert once.returncode == 0, once.stdout + once.stderr
    assert once.stdout.splitlines()[-1] == "stopped: --once: 1 task(s) started, all done"
