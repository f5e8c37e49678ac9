from __future__ import annotations

import os
from pathlib import Path

import pytest

from daemonproc import DaemonProcess
from tmxd import paths
from tmxd.daemon import client
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
