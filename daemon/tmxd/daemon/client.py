"""The daemon seen from the command line: ``tmxd start`` and ``tmxd stop``.

:func:`start_background` starts ``tmxd run`` detached from the terminal and waits
until it answers on the control socket; :func:`stop_running` asks it to stop and
waits until its process is gone.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

from tmxd import clock, paths, proc
from tmxd.daemon import control
from tmxd.errors import DaemonNotRunning, TmxdError

STDERR_NAME = "daemon.stderr"


def start_background(
    log_file: Path | None = None, *, timeout: float = 30.0, extra_args: list[str] | None = None
) -> int:
    """Start ``tmxd run`` detached and wait until it answers; returns its pid.

    Already running is not an error: the running daemon's pid is returned. A daemon
    that stays busy raises :class:`~tmxd.daemon.control.DaemonBusy`: it runs, and a
    second one would only be refused.
    """
    try:
        return int(control.request("ping", timeout=5)["pid"])
    except control.DaemonBusy:
        raise
    except (DaemonNotRunning, control.ControlError):
        pass
    log_file = log_file or paths.daemon_log()
    stderr_path = paths.state_dir() / STDERR_NAME
    argv = [sys.executable, "-m", "tmxd", "run", "--log-file", str(log_file), *(extra_args or [])]
    child = proc.spawn_detached(argv, output=stderr_path, env=child_env())
    deadline = clock.monotonic() + timeout
    while clock.monotonic() < deadline:
        code = child.poll()
        if code is not None:
            raise TmxdError(
                f"the daemon exited with code {code} while starting: {_last_line(stderr_path)} "
                f"(log: {log_file})"
            )
        with contextlib.suppress(DaemonNotRunning, control.ControlError):
            return int(control.request("ping", timeout=2)["pid"])
        time.sleep(0.1)
    raise TmxdError(
        f"the daemon (pid {child.pid}) did not answer within {timeout:g} s; see {log_file}"
    )


def child_env() -> dict[str, str]:
    """This environment, with this tmxd importable by ``python -m tmxd`` (a checkout too)."""
    return paths.importable_env()


def stop_running(*, timeout: float = 30.0) -> int:
    """Ask the daemon to stop and wait until it is gone; returns its pid."""
    pid = int(control.request("stop", timeout=10)["pid"])
    deadline = clock.monotonic() + timeout
    while clock.monotonic() < deadline:
        if not proc.running(pid):
            return pid
        time.sleep(0.05)
    raise TmxdError(
        f"the daemon (pid {pid}) did not stop within {timeout:g} s; kill it with `kill {pid}`"
    )


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    return lines[-1] if lines else "no output"
