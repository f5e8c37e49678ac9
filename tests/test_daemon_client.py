from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from daemonproc import DaemonProcess
from tmxd import paths
from tmxd.daemon import client, control
from tmxd.errors import DaemonNotRunning


def test_stop_without_a_daemon_says_so(hermetic_env: Path) -> None:
    with pytest.raises(DaemonNotRunning):
        client.stop_running(timeout=5)


def test_start_returns_the_running_daemons_pid_without_starting_another(
    hermetic_env: Path, tmp_path: Path
) -> None:
    daemon = DaemonProcess(tmp_path / "daemon.log").start()
    try:
        assert daemon.proc is not None
        assert client.start_background(timeout=30) == daemon.proc.pid
    finally:
        daemon.stop()


def test_the_child_runs_this_tmxd() -> None:
    env = client.child_env()
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(paths.source_root())


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="reads its folder in /proc")
def test_the_daemon_leaves_the_folder_it_was_started_in(hermetic_env: Path, tmp_path: Path) -> None:
    here = tmp_path / "project"
    here.mkdir()
    env = client.child_env()
    # relative locations mean the same files to the daemon as to `tmxd start`
    env["TMXD_RUNTIME_DIR"] = os.path.relpath(paths.runtime_dir(), here)
    argv = [sys.executable, "-m", "tmxd", "start", "--log-file", "daemon.log", "--format", "json"]
    started = subprocess.run(argv, cwd=here, env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    pid = json.loads(started.stdout)["pid"]
    try:
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        assert control.request("status")["log_file"] == str(here / "daemon.log")
        assert "running" in (here / "daemon.log").read_text(encoding="utf-8")
    finally:
        client.stop_running(timeout=30)
