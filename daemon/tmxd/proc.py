"""Every process tmxd starts, git's aside (:mod:`tmxd.git`), and every read of ``/proc``.

Every child gets an argv list (never a shell string), its own process group and a
wall-clock timeout. When it overruns, or when tmxd itself is told to stop, the whole
group is ended: SIGTERM, a grace period, then SIGKILL. While it runs, the resident
memory of every process in its group is sampled from ``/proc`` and the peak is kept.

``terminate_all()`` ends every group still running; the autopilot calls it from its
SIGINT/SIGTERM handler so no agent outlives tmxd.

Short commands whose output is shown or checked (``systemctl``, the demo's commands)
run through :func:`run_captured`; the daemon is started detached by
:func:`spawn_detached`, and :func:`running` tells whether a pid is still a live process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tmxd.errors import TmxdError

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
SAMPLE_INTERVAL_S = 0.05
KILL_GRACE_S = 3.0
TAIL_LINES = 200

_live_lock = threading.Lock()
_live: dict[int, subprocess.Popen[bytes]] = {}


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one owned by another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process: one that exited but was not reaped yet is not
    (a child of ours is reaped here)."""
    if not pid_alive(pid):
        return False
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    return state_letter(pid) not in ("Z", "X")


def state_letter(pid: int) -> str:
    """The state of ``pid`` as ``/proc/<pid>/stat`` gives it (``R``, ``S``, ``Z``...), ``?``
    when it cannot be read."""
    fields = _stat_fields(str(pid))
    return fields[0].decode() if fields else "?"


INOTIFY_DIR = Path("/proc/sys/fs/inotify")


def inotify_limits(base: Path = INOTIFY_DIR) -> tuple[int, int] | None:
    """``(max_user_watches, max_user_instances)`` from the kernel; None when unreadable."""
    try:
        watches = int((base / "max_user_watches").read_text().strip())
        instances = int((base / "max_user_instances").read_text().strip())
    except (OSError, ValueError):
        return None
    return watches, instances


def _stat_fields(pid: str) -> list[bytes] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state, ppid, pgrp, ...)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: the rest follows the last ")".
    return stat[stat.rfind(b")") + 2 :].split()


def spawn_detached(
    argv: Sequence[str], *, output: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own, stdin from /dev/null, stdout and stderr
    into ``output`` (created private); it outlives this process."""
    with open(output, "wb") as out, open(os.devnull, "rb") as devnull:
        os.chmod(output, 0o600)
        return subprocess.Popen(
            list(argv),
            stdin=devnull,
            stdout=out,
            stderr=out,
            start_new_session=True,
            close_fds=True,
            env=dict(env) if env is not None else None,
        )


def run_captured(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a short command to its end (stdin from /dev/null) and return its decoded output.

    ``FileNotFoundError`` when the program does not exist; the caller judges the exit code.
    """
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@dataclass(frozen=True)
class ProcResult:
    """How a child process ended."""

    argv: tuple[str, ...]
    exit_code: int | None
    duration_s: float
    timed_out: bool
    cancelled: bool
    peak_rss_bytes: int | None
    stdout_tail: tuple[str, ...]
    stderr_tail: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.cancelled

    def describe(self) -> str:
        """One line: how the process ended."""
        name = Path(self.argv[0]).name if self.argv else "process"
        if self.cancelled:
            return f"{name} was stopped"
        if self.timed_out:
            return f"{name} timed out after {self.duration_s:.0f}s"
        if self.exit_code is not None and self.exit_code < 0:
            return f"{name} was killed by signal {-self.exit_code}"
        return f"{name} exited with code {self.exit_code}"

    def output_tail(self, lines: int) -> str:
        """The last ``lines`` lines of stdout and stderr, for a failure note."""
        out = list(self.stdout_tail)[-lines:]
        err = list(self.stderr_tail)[-lines:]
        parts = []
        if out:
            parts.append("\n".join(out))
        if err:
            parts.append("stderr:\n" + "\n".join(err))
        return "\n".join(parts)


def _group_pids(pgid: int) -> list[int]:
    """Every process whose process group is ``pgid``."""
    pids = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        rest = _stat_fields(entry)
        if rest is not None and len(rest) > 2 and int(rest[2]) == pgid:
            pids.append(int(entry))
    return pids


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            fields = fh.read().split()
    except OSError:
        return 0
    return int(fields[1]) * PAGE_SIZE if len(fields) > 1 else 0


def tree_rss_bytes(pgid: int) -> int | None:
    """Resident memory of the process group ``pgid`` now, or None without ``/proc``."""
    if not os.path.isdir("/proc"):
        return None
    return sum(_rss_bytes(pid) for pid in _group_pids(pgid))


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), to tell it from a reused pid."""
    rest = _stat_fields(str(pid))
    return int(rest[19]) if rest is not None and len(rest) > 19 else None


def kill_stale_group(pgid: int, started: int | None) -> bool:
    """SIGKILL group ``pgid`` if its leader is still the process that started at ``started``.

    Used after a crash: an agent left running by a killed tmxd is ended before its
    task is run again. Returns True when something was killed.
    """
    if started is None or start_ticks(pgid) != started:
        return False
    _signal_group(pgid, signal.SIGKILL)
    return True


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def end_group(popen: subprocess.Popen[bytes], grace_s: float = KILL_GRACE_S) -> None:
    """SIGTERM the child's process group, then SIGKILL what is left after ``grace_s``."""
    pgid = popen.pid
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if popen.poll() is not None and not _group_pids(pgid):
            return
        time.sleep(0.02)
    _signal_group(pgid, signal.SIGKILL)


def terminate_all(grace_s: float = KILL_GRACE_S) -> int:
    """End every process group started by ``run`` that is still alive; return how many."""
    with _live_lock:
        children = list(_live.values())
    for popen in children:
        _signal_group(popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for popen in children:
        remaining = max(0.0, deadline - time.monotonic())
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=remaining)
        _signal_group(popen.pid, signal.SIGKILL)
    return len(children)


def _pump(
    stream: object,
    tail: deque[str],
    on_line: Callable[[str], None] | None,
) -> None:
    assert hasattr(stream, "readline")
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        tail.append(line)
        if on_line is not None:
            with contextlib.suppress(Exception):
                on_line(line)


def run(
    argv: Sequence[str],
    *,
    cwd: Path,
    timeout_s: float | None,
    env: Mapping[str, str] | None = None,
    stdin_text: str | None = None,
    on_stdout_line: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    tail_lines: int = TAIL_LINES,
    on_start: Callable[[int, int | None], None] | None = None,
) -> ProcResult:
    """Run ``argv`` in its own process group and wait for it, its timeout, or ``cancel``.

    stdout is read line by line (each line also goes to ``on_stdout_line``); the last
    ``tail_lines`` of stdout and stderr are kept; ``on_start`` gets the group id and
    its start time as soon as the child exists. Raises ``TmxdError`` when the program
    cannot be started at all.
    """
    args = [str(a) for a in argv]
    if not args:
        raise TmxdError("cannot run an empty command; check the command in .taskmaster/tmxd.toml")
    started = time.monotonic()
    try:
        popen = subprocess.Popen(
            args,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise TmxdError(
            f"{args[0]}: command not found; install it or fix the command in .taskmaster/tmxd.toml"
        ) from exc
    except OSError as exc:
        raise TmxdError(f"{args[0]}: cannot start: {exc}") from exc
    with _live_lock:
        _live[popen.pid] = popen
    if on_start is not None:
        try:
            on_start(popen.pid, start_ticks(popen.pid))
        except BaseException:
            end_group(popen, grace_s=0.5)
            popen.wait()
            with _live_lock:
                _live.pop(popen.pid, None)
            raise
    out_tail: deque[str] = deque(maxlen=tail_lines)
    err_tail: deque[str] = deque(maxlen=tail_lines)
    readers = [
        threading.Thread(target=_pump, args=(popen.stdout, out_tail, on_stdout_line), daemon=True),
        threading.Thread(target=_pump, args=(popen.stderr, err_tail, None), daemon=True),
    ]
    for reader in readers:
        reader.start()
    if stdin_text is not None and popen.stdin is not None:
        with contextlib.suppress(BrokenPipeError, OSError):
            popen.stdin.write(stdin_text.encode("utf-8"))
        with contextlib.suppress(BrokenPipeError, OSError):
            popen.stdin.close()
    peak: int | None = tree_rss_bytes(popen.pid)
    timed_out = cancelled = False
    deadline = None if timeout_s is None else started + timeout_s
    try:
        while True:
            try:
                popen.wait(timeout=SAMPLE_INTERVAL_S)
                break
            except subprocess.TimeoutExpired:
                pass
            rss = tree_rss_bytes(popen.pid)
            if rss is not None:
                peak = max(peak or 0, rss)
            if cancel is not None and cancel.is_set():
                cancelled = True
                end_group(popen)
                popen.wait()
                break
            if deadline is not None and time.monotonic() >= deadline:
                timed_out = True
                end_group(popen)
                popen.wait()
                break
        # Anything the leader left behind in its group goes too.
        if _group_pids(popen.pid):
            end_group(popen, grace_s=0.5)
    finally:
        with _live_lock:
            _live.pop(popen.pid, None)
    for reader in readers:
        reader.join(timeout=5)
    for stream in (popen.stdout, popen.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    return ProcResult(
        argv=tuple(args),
        exit_code=popen.returncode,
        duration_s=time.monotonic() - started,
        timed_out=timed_out,
        cancelled=cancelled,
        peak_rss_bytes=peak if peak else None,
        stdout_tail=tuple(out_tail),
        stderr_tail=tuple(err_tail),
    )
