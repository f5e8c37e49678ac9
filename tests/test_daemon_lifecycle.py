"""The daemon's lifecycle, run as a real process: lock, stale files, signals, sd_notify."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemonproc import DaemonProcess
from helpers import run_tmxd, run_tmxd_process, wait_until
from tmxd.daemon import control
from tmxd.daemon import lifecycle as daemon


@pytest.fixture
def proc(tmp_path: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(tmp_path / "daemon.log")
    yield d
    d.stop()


def test_start_status_stop_via_cli(hermetic_env: Path) -> None:
    assert run_tmxd("status").returncode == 3
    # `tmxd start` as a process of its own: it leaves a detached daemon behind when it exits
    started = run_tmxd_process("start")
    assert started.returncode == 0, started.stderr
    assert started.stdout.startswith("tmxd started (pid ")
    try:
        again = run_tmxd("start")
        assert again.returncode == 0
        assert "already running" in again.stdout
        other = hermetic_env / "elsewhere"
        (other / ".taskmaster" / "tasks").mkdir(parents=True)
        (other / ".taskmaster" / "tasks" / "tasks.json").write_text('{"master": {"tasks": []}}')
        with_project = run_tmxd("start", "-p", str(other))  # -p is for the daemon it starts
        assert with_project.stdout.splitlines()[1] == (
            f"  not watching {other} for you: `tmxd watch add {other}` does"
        )
        assert run_tmxd("watch", "add", str(other)).returncode == 0
        root = str(other.resolve())

        def watched() -> bool:
            projects = json.loads(run_tmxd("status", "--format", "json").stdout)["projects"]
            return any(p["root"] == root and p["watch"] != "not watched" for p in projects)

        wait_until(watched)
        again_with_project = run_tmxd("start", "-p", str(other))  # no hint once it is watched
        assert again_with_project.returncode == 0, again_with_project.stderr
        assert again_with_project.stdout.splitlines()[1:] == [f"  already watching {root}"]
        assert run_tmxd("watch", "remove", str(other)).returncode == 0
        status = run_tmxd("status", "--format", "json")
        assert status.returncode == 0, status.stderr
        info = json.loads(status.stdout)
        assert info["protocol"] == control.PROTOCOL_VERSION
        assert info["socket"] == str(hermetic_env / "run" / "tmxd.sock")
        assert {job["name"] for job in info["jobs"]} >= {"reconcile"}
        text = run_tmxd("status")
        assert f"running (pid {info['pid']})" in text.stdout
        assert run_tmxd("reload").returncode == 0
    finally:
        stopped = run_tmxd("stop")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout == f"tmxd stopped (pid {info['pid']})\n"
    assert run_tmxd("status").returncode == 3
    not_running = run_tmxd("stop")
    assert not_running.returncode == 3
    assert not_running.stderr.startswith("error: tmxd is not running (nothing listens on ")
    log = (hermetic_env / "state" / "daemon.log").read_text()
    assert "running (pid" in log and "stopped" in log


def test_files_are_private(proc: DaemonProcess, hermetic_env: Path) -> None:
    proc.start()
    run = hermetic_env / "run"
    assert stat.S_IMODE(run.stat().st_mode) == 0o700
    assert stat.S_IMODE((run / "tmxd.sock").stat().st_mode) == 0o600
    assert stat.S_IMODE((run / "tmxd.pid").stat().st_mode) == 0o600
    assert stat.S_IMODE(proc.log_file.stat().st_mode) == 0o600


def test_second_instance_is_refused(proc: DaemonProcess, tmp_path: Path) -> None:
    proc.start()
    assert proc.proc is not None
    second = run_tmxd_process("run", "--log-file", str(tmp_path / "second.log"))
    assert second.returncode == 1
    assert f"tmxd is already running (pid {proc.proc.pid})" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert proc.status()["pid"] == proc.proc.pid  # the first one is unharmed


def test_kill_9_leaves_stale_files_that_the_next_daemon_replaces(
    proc: DaemonProcess, tmp_path: Path, hermetic_env: Path
) -> None:
    proc.start()
    proc.kill9()
    sock = hermetic_env / "run" / "tmxd.sock"
    assert sock.exists() and (hermetic_env / "run" / "tmxd.pid").exists()
    assert run_tmxd("status").returncode == 3  # a socket file nobody listens on
    second = DaemonProcess(tmp_path / "second.log").start()
    try:
        assert second.proc is not None
        assert second.status()["pid"] == second.proc.pid
        assert "stale control socket" in second.log()
        assert (hermetic_env / "run" / "tmxd.pid").read_text().strip() == str(second.proc.pid)
    finally:
        second.stop()


def test_sigterm_exits_0_and_cleans_up(proc: DaemonProcess, hermetic_env: Path) -> None:
    proc.start()
    code = proc.terminate()  # fails the test unless the daemon exits within the deadline
    assert code == 0, proc.output()
    assert not (hermetic_env / "run" / "tmxd.sock").exists()
    assert not (hermetic_env / "run" / "tmxd.pid").exists()
    assert "stopped" in proc.log()


def test_sigint_also_stops(proc: DaemonProcess) -> None:
    proc.start()
    proc.signal(signal.SIGINT)
    assert proc.proc is not None
    assert proc.proc.wait(timeout=60) == 0


def test_sighup_reloads(proc: DaemonProcess) -> None:
    proc.start()
    proc.signal(signal.SIGHUP)
    wait_until(lambda: "reloading" in proc.log(), what="the reload to be logged")
    assert proc.status()["pid"]


def test_unknown_request_is_an_error_but_harmless(proc: DaemonProcess) -> None:
    proc.start()
    with pytest.raises(control.ControlError, match="unknown request 'dance'"):
        control.request("dance")
    assert control.request("ping")["pid"]


def _notify_socket(tmp_path: Path) -> tuple[socket.socket, str]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(60)
    return sock, path


def _messages_until(sock: socket.socket, wanted: str) -> list[str]:
    seen: list[str] = []
    while not any(wanted in m for m in seen):
        seen.append(sock.recv(4096).decode())
    return seen


def test_sd_notify_ready_watchdog_reloading_stopping(tmp_path: Path) -> None:
    sock, path = _notify_socket(tmp_path)
    d = DaemonProcess(tmp_path / "d.log", env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
    with sock:
        d.start(wait=False)
        try:
            ready = _messages_until(sock, "READY=1")
            assert any(f"MAINPID={d.proc.pid}" in m for m in ready if d.proc)
            assert "WATCHDOG=1" in _messages_until(sock, "WATCHDOG=1")[-1]
            d.wait_ready()
            d.signal(signal.SIGHUP)
            reload = _messages_until(sock, "RELOADING=1")[-1]
            assert "MONOTONIC_USEC=" in reload
            assert "READY=1" in _messages_until(sock, "READY=1")[-1]
            d.signal(signal.SIGTERM)
            assert "STOPPING=1" in _messages_until(sock, "STOPPING=1")[-1]
            assert d.proc is not None and d.proc.wait(timeout=60) == 0
        finally:
            d.stop()


def test_sd_notify_without_socket_is_a_no_op() -> None:
    assert daemon.sd_notify("READY=1", env={}) is False


def test_sd_notify_abstract_socket() -> None:
    name = f"tmxd-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(10)
        assert daemon.sd_notify("READY=1", env={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(100) == b"READY=1"


def test_watchdog_interval() -> None:
    assert daemon.watchdog_interval({}) is None
    assert daemon.watchdog_interval({"WATCHDOG_USEC": "10000000"}) == 5.0
    assert daemon.watchdog_interval({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"}) is None
    mine = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert daemon.watchdog_interval(mine) == 1.0
    assert daemon.watchdog_interval({"WATCHDOG_USEC": "soon"}) is None


def test_start_reports_a_daemon_that_dies_while_starting(hermetic_env: Path) -> None:
    (hermetic_env / "state").mkdir(parents=True, exist_ok=True)
    bad = run_tmxd("start", "--settle-ms", "10", "--max-wait-ms", "5")
    assert bad.returncode == 2
    assert "--max-wait-ms" in bad.stderr
    assert run_tmxd("status").returncode == 3


def test_start_reports_a_daemon_that_exits_while_starting(hermetic_env: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = run_tmxd("start", "--listen", f"127.0.0.1:{port}")
    assert started.returncode == 1
    (line,) = started.stderr.splitlines()
    assert line.startswith("error: the daemon exited with code 1 while starting: error: ")
    assert f"127.0.0.1:{port}" in line and "daemon.log" in line
    assert run_tmxd("status").returncode == 3


_LOG_SOME = """
import logging, sys
from tmxd.daemon.lifecycle import setup_logging
setup_logging()
log = logging.getLogger("tmxd.test")
log.info("watching")
log.warning("slow")
log.error("broken")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("crashed")
"""


def _log_to(path: Path, env: dict[str, str]) -> list[str]:
    import subprocess

    from helpers import subprocess_env

    with open(path, "w") as stderr:
        stat_ = os.fstat(stderr.fileno())
        full = subprocess_env(env)
        full["JOURNAL_STREAM"] = full["JOURNAL_STREAM"].format(dev=stat_.st_dev, ino=stat_.st_ino)
        subprocess.run(
            [__import__("sys").executable, "-c", _LOG_SOME], stderr=stderr, env=full, check=True
        )
    return path.read_text().splitlines()


def test_journald_gets_priority_prefixes_when_journal_stream_is_stderr(tmp_path: Path) -> None:
    lines = _log_to(tmp_path / "journal", {"JOURNAL_STREAM": "{dev}:{ino}"})
    assert lines[:3] == ["<6>INFO tmxd.test: watching", "<4>WARNING tmxd.test: slow",
                         "<3>ERROR tmxd.test: broken"]  # fmt: skip
    assert all(line.startswith("<3>") for line in lines[3:]), lines  # the traceback too
    assert any("ZeroDivisionError" in line for line in lines[3:])


def test_no_prefixes_when_journal_stream_names_another_file(tmp_path: Path) -> None:
    lines = _log_to(tmp_path / "plain", {"JOURNAL_STREAM": "1:2"})  # inherited, not ours
    assert lines[0].endswith("INFO tmxd.test: watching") and not lines[0].startswith("<")
