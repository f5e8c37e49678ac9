"""A real ``tmxd run`` process for tests, and waiting on conditions (never fixed sleeps)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from helpers import WAIT_TIMEOUT, subprocess_env, tmxd_argv, wait_until

# The machine is shared and loaded: generous, but each wait ends as soon as it can.
TIMEOUT = WAIT_TIMEOUT


class DaemonProcess:
    """``python -m tmxd run`` in the hermetic test environment."""

    def __init__(self, log_file: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.log_file = log_file
        self.args = args
        self.env = subprocess_env(env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_path = log_file.with_suffix(".stderr")

    def start(self, *, wait: bool = True) -> DaemonProcess:
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                tmxd_argv("run", "--log-file", str(self.log_file), *self.args),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
            )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> dict[str, Any]:
        from tmxd.daemon import control
        from tmxd.errors import TmxdError

        def ready() -> dict[str, Any] | None:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}: {self.output()}")
            try:
                return control.request("status", timeout=10)
            except TmxdError:
                return None

        return wait_until(ready, what="the daemon to answer")

    def status(self) -> dict[str, Any]:
        from tmxd.daemon import control

        return control.request("status", timeout=20)

    def log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def output(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace") + self.log()
        except FileNotFoundError:
            return self.log()

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)

    def terminate(self, timeout: float = TIMEOUT) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
