"""proc: real children in their own process group, timeouts, cancellation, peak memory."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from helpers import wait_until
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
    wait_until(
        lambda: not proc.running(leader) and not proc.running(child), what="the group to end"
    )


def test_term_is_followed_by_kill_when_ignored(tmp_path: Path) -> None:
    script = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\ntime.sleep(600)\n"
    )
    # stopped once it ignores SIGTERM (a timeout could come before, on a loaded machine)
    ignoring = threading.Event()
    res = proc.run(
        [PY, "-c", script],
        cwd=tmp_path,
        timeout_s=120,
        cancel=ignoring,
        on_stdout_line=lambda line: ignoring.set() if line.strip() == "ready" else None,
    )
    assert res.cancelled
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


def test_peak_rss_covers_the_process_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The child allocates ~60 MB; the parent is small. The tree's peak must include the child.
    # The child holds its memory until one of run()'s own samples has seen it (how long that
    # takes depends on the machine's load), then exits; if no sample ever sees it, the run
    # times out and the test fails.
    big = 60 * 1024 * 1024
    release = tmp_path / "release"
    sample = proc.tree_rss_bytes

    def watched_sample(pgid: int) -> int | None:
        rss = sample(pgid)
        if rss is not None and rss > big:
            release.touch()
        return rss

    monkeypatch.setattr(proc, "tree_rss_bytes", watched_sample)
    child = (
        f"import pathlib, time\nb = bytearray({big})\n"
        f"while not pathlib.Path({str(release)!r}).exists():\n    time.sleep(0.02)\n"
    )
    script = f"import subprocess; subprocess.run([{PY!r}, '-c', {child!r}])"
    res = proc.run([PY, "-c", script], cwd=tmp_path, timeout_s=120)
    assert res.ok, res.describe()
    assert res.peak_rss_bytes is not None
    assert res.peak_rss_bytes > big


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
    wait_until(lambda: not proc.running(bg), what="the background child to end")


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


def test_running_tells_a_live_process_from_one_that_exited(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    child = proc.spawn_detached(
        [PY, "-c", "import time; print('up', flush=True); time.sleep(60)"], output=out
    )
    try:
        wait_until(lambda: out.read_text().strip() == "up", what="the child to start")
        assert proc.running(child.pid)
        assert proc.state_letter(child.pid) in ("R", "S")
        assert os.getsid(child.pid) == child.pid  # a session of its own: it outlives us
        assert oct(out.stat().st_mode & 0o777) == oct(0o600)
    finally:
        child.kill()
    # reaped here, not left a zombie
    wait_until(lambda: not proc.running(child.pid), what="the child to end")
    assert proc.state_letter(child.pid) == "?"
    child.wait()  # running() reaped it: let the Popen object know too


def test_run_captured_returns_the_output_and_reads_no_terminal(tmp_path: Path) -> None:
    done = proc.run_captured(
        [PY, "-c", "import sys; print(sys.stdin.read() == ''); sys.exit(3)"], cwd=tmp_path
    )
    assert (done.returncode, done.stdout) == (3, "True\n")


def test_inotify_limits_read_the_kernel_or_say_none(tmp_path: Path) -> None:
    (tmp_path / "max_user_watches").write_text("8192\n")
    (tmp_path / "max_user_instances").write_text("128\n")
    assert proc.inotify_limits(tmp_path) == (8192, 128)
    assert proc.inotify_limits(tmp_path / "missing") is None
