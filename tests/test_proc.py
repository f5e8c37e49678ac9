"""proc: real children in their own process group, timeouts, cancellation, peak memory."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from helpers import process_ended, wait_until
from tmxd import proc
from tmxd.errors import TmxdError

PY = sys.executable


def test_captures_lines_exit_code_and_tails(tmp_path: Path) -> None:
    seen: list[str] = []
    script = (
        "import sys\nfor i in range(300): print(i)\nprint('oops', file=sys.stderr)\nsys.exit(3)"
    )
    res = proc.run([PY, "-c", script], cwd=tmp_path, timeout_s=60, on_stdout_line=seen.append)
    assert res.exit_code == 3 and not res.ok
    assert seen == [str(i) for i in range(300)]
    assert res.stdout_tail[-1] == "299" and len(res.stdout_tail) == proc.TAIL_LINES
    assert res.stderr_tail == ("oops",)
    assert res.output_tail(2) == "298\n299\nstderr:\noops"
    assert res.describe().endswith("exited with code 3")


def test_runs_in_its_own_process_group_with_stdin(tmp_path: Path) -> None:
    script = "import os,sys; print(os.getpgid(0) == os.getpid(), sys.stdin.read())"
    res = proc.run([PY, "-c", script], cwd=tmp_path, timeout_s=60, stdin_text="hello")
    assert res.ok
    assert res.stdout_tail == ("True hello",)


def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = (
        "import subprocess, sys, time, os\n"
        f"c = subprocess.Popen([{PY!r}, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{c.pid}}')\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    res = proc.run([PY, "-c", script], cwd=tmp_path, timeout_s=1.5)
    assert res.timed_out and not res.ok
    assert "timed out" in res.describe()
    leader, child = map(int, pids.read_text().split())
    wait_until(lambda: process_ended(leader) and process_ended(child), what="the group to end")


def test_term_is_followed_by_kill_when_ignored(tmp_path: Path) -> None:
    script = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\ntime.sleep(600)\n"
    )
    res = proc.run([PY, "-c", script], cwd=tmp_path, timeout_s=1.0)
    assert res.timed_out
    assert res.exit_code == -9  # SIGTERM was ignored, so the group got SIGKILL


def test_cancel_event_stops_the_child(tmp_path: Path) -> None:
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    res = proc.run(
        [PY, "-c", "import time; time.sleep(600)"], cwd=tmp_path, timeout_s=120, cancel=cancel
    )
    timer.join()
    assert res.cancelled and not res.ok
    assert res.describe().endswith("was stopped")


def test_peak_rss_covers_the_process_tree(tmp_path: Path) -> None:
    # The child allocates ~60 MB; the parent is small. The tree's peak must include the child.
    child = "b = bytearray(60 * 1024 * 1024); import time; time.sleep(1.0)"
    script = f"import subprocess; subprocess.run([{PY!r}, '-c', {child!r}])"
    res = proc.run([PY, "-c", script], cwd=tmp_path, timeout_s=120)
    assert res.ok
    assert res.peak_rss_bytes is not None
    assert res.peak_rss_bytes > 60 * 1024 * 1024


def test_leftover_background_children_are_ended(tmp_path: Path) -> None:
    pidfile = tmp_path / "bg"
    script = (
        "import subprocess\n"
        f"c = subprocess.Popen([{PY!r}, '-c', 'import time; time.sleep(600)'],"
        " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        f"open({str(pidfile)!r}, 'w').write(str(c.pid))\n"
    )
    res = proc.run([PY, "-c", script], cwd=tmp_path, timeout_s=60)
    assert res.ok
    bg = int(pidfile.read_text())
    wait_until(lambda: process_ended(bg), what="the background child to end")


def test_terminate_all_ends_running_children(tmp_path: Path) -> None:
    results: list[proc.ProcResult] = []
    started = threading.Event()
    thread = threading.Thread(
        target=lambda: results.append(
            proc.run(
                [PY, "-c", "import time; time.sleep(600)"],
                cwd=tmp_path,
                timeout_s=300,
                on_start=lambda pgid, ticks: started.set(),
            )
        )
    )
    thread.start()
    assert started.wait(30)
    assert proc.terminate_all(grace_s=5) == 1
    thread.join(60)
    assert results and results[0].exit_code is not None and results[0].exit_code < 0


def test_kill_stale_group_checks_the_start_time(tmp_path: Path) -> None:
    import subprocess

    child = subprocess.Popen([PY, "-c", "import time; time.sleep(600)"], start_new_session=True)
    try:
        ticks = proc.start_ticks(child.pid)
        assert ticks is not None
        assert not proc.kill_stale_group(child.pid, ticks + 1), "a reused pid must be left alone"
        assert child.poll() is None
        assert proc.kill_stale_group(child.pid, ticks)
        assert child.wait(30) == -9
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TmxdError, match="no-such-agent: command not found"):
        proc.run(["no-such-agent"], cwd=tmp_path, timeout_s=5)
    with pytest.raises(TmxdError, match="empty command"):
        proc.run([], cwd=tmp_path, timeout_s=5)


def test_tree_rss_of_a_missing_group_is_zero() -> None:
    assert proc.tree_rss_bytes(2**22 + 12345) in (0, None)
    assert os.getpid() > 0


def test_pid_alive_tells_a_running_process_from_a_finished_one() -> None:
    import os
    import subprocess
    import sys

    from tmxd.proc import pid_alive

    assert pid_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
