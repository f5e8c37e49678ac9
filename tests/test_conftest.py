"""The guards in conftest.py fail a test that leaves a thread or a process running, and let a
test that cleans up pass: checked on a pytest run of their own."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from helpers import wait_until
from tmxd import proc

pytest_plugins = ["pytester"]

INNER = """
import subprocess, sys, threading, time
from pathlib import Path


def wait_for_release():
    while not Path(RELEASE).exists():
        time.sleep(0.02)


def test_leaves_a_thread():
    threading.Thread(target=wait_for_release, name="leaky-thread", daemon=True).start()


def test_leaves_a_process():
    # started in the background by a shell that exits at once: reparented, still found
    pid = subprocess.run(
        ["sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    Path(PIDS).write_text(pid)


def test_cleans_up():
    done = threading.Thread(target=lambda: None, name="joined-thread")
    done.start()
    done.join()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
"""


def test_leftover_threads_and_processes_fail_the_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    conftest = Path(__file__).with_name("conftest.py").read_text(encoding="utf-8")
    pytester.makeconftest(conftest)
    pids, release = pytester.path / "pids", pytester.path / "release"
    pytester.makepyfile(test_inner=f"PIDS = {str(pids)!r}\nRELEASE = {str(release)!r}\n" + INNER)
    monkeypatch.setenv("TMXD_TEST_LEFTOVER_GRACE", "0.5")
    try:
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    finally:
        release.touch()
        if pids.exists():
            os.kill(int(pids.read_text()), signal.SIGKILL)
    # each test itself passes; the guard fails the two that leave something at teardown
    result.assert_outcomes(passed=3, errors=2)
    out = result.stdout.str()
    assert "test left threads running: leaky-thread" in out
    assert f"test left processes running: pid {pids.read_text()}: sleep 600" in out
    assert "joined-thread" not in out
    wait_until(lambda: not proc.running(int(pids.read_text())), what="the sleep to end")
    wait_until(
        lambda: all(t.name != "leaky-thread" for t in threading.enumerate()),
        what="the leaked thread to end",
    )
