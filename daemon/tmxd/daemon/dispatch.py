"""Autopilot mode in the daemon: dispatch ready tasks when tasks.json changes.

A project opts in with ``[autopilot] enabled = true`` in ``.taskmaster/tmxd.toml``.
The engine thread only *pokes* the dispatcher (cheap: it reads the config); the
agent runs happen on one worker thread per project, which calls
:func:`tmxd.autopilot.runner.dispatch_ready` again as long as new pokes arrived
while a pass was running — so a task that became ready mid-pass is not left
waiting for the next reconcile. The pass's events (a task done, given back or in
review, the breaker opening) go to ``on_event`` with the project's root, for the
``[notify]`` commands. :meth:`AutopilotDispatcher.stop` sets the stop event (the
runner ends its agents' process groups and restores their tasks) and joins the
workers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tmxd import clock
from tmxd.errors import TmxdError

if TYPE_CHECKING:
    from tmxd.metrics.recorder import Recorder
    from tmxd.taskmaster.project import Project

log = logging.getLogger("tmxd.autopilot")

PASS_OVER = "end of the daemon's pass (one per change or reconcile)"


def pass_reason(reason: str) -> str:
    """Why a pass stopped, in the daemon's words. A pass runs like ``tmxd autopilot
    --once --parallel N`` (one batch, then it ends), and the runner words a batch that
    ended so as ``--once: N task(s) started…``; but nobody passed ``--once`` to the
    daemon, which runs one pass per trigger, so the log says that instead."""
    from tmxd.autopilot.runner import ONCE

    prefix = f"{ONCE}: "
    return f"{PASS_OVER}: {reason[len(prefix) :]}" if reason.startswith(prefix) else reason


class AutopilotDispatcher:
    """One dispatch worker per project in autopilot mode; every method is thread-safe."""

    def __init__(
        self,
        recorder: Callable[[], Recorder | None],
        on_event: Callable[[Path, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self._recorder = recorder
        self._on_event = on_event
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pending: dict[Path, Project] = {}
        self._threads: dict[Path, threading.Thread] = {}
        self._errors: dict[Path, str] = {}

    def enabled(self, root: Path) -> bool:
        """Whether the project's config turns autopilot mode on (a bad config is logged once)."""
        from tmxd.autopilot import config

        try:
            on = config.load(root).enabled
        except TmxdError as exc:
            self._error(root, f"{exc.message} (autopilot mode is off until it is fixed)")
            return False
        return on

    def poke(self, project: Project) -> bool:
        """Ask for a dispatch pass over ``project``; True when one is (or stays) scheduled."""
        root = project.root
        if self._stop.is_set() or not self.enabled(root):
            return False
        with self._lock:
            if self._stop.is_set():
                return False
            self._pending[root] = project
            if root not in self._threads:
                worker = threading.Thread(
                    target=self._work, args=(root,), name=f"tmxd-autopilot-{root.name}"
                )
                self._threads[root] = worker
                worker.start()
        return True

    def busy(self, root: Path) -> bool:
        with self._lock:
            return root in self._threads

    def describe(self, root: Path) -> dict[str, Any] | None:
        """Autopilot mode and its circuit breaker for ``tmxd status``; None when it is off."""
        from tmxd.autopilot import config
        from tmxd.autopilot.runner import breaker_status

        try:
            cfg = config.load(root)
        except TmxdError as exc:
            return {"enabled": False, "error": exc.message}
        if not cfg.enabled:
            return None
        info: dict[str, Any] = {"enabled": True, "running": self.busy(root)}
        try:
            info["breaker"] = breaker_status(root, cfg)
        except (OSError, ValueError) as exc:
            info["breaker"] = None
            info["error"] = f"cannot read the circuit breaker state: {exc}"
        else:
            info["error"] = self._errors.get(root)
        return info

    def stop(self, timeout: float) -> bool:
        """Stop every pass (agents ended, tasks restored) and join; False if one overran."""
        self._stop.set()
        deadline = clock.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for worker in threads:
            worker.join(max(0.0, deadline - clock.monotonic()))
        left = [w.name for w in threads if w.is_alive()]
        if left:
            log.error("autopilot did not stop within %.0f s: %s", timeout, ", ".join(left))
        return not left

    # ------------------------------------------------------------------ worker

    def _work(self, root: Path) -> None:
        while True:
            with self._lock:
                project = self._pending.pop(root, None)
                if project is None or self._stop.is_set():
                    self._threads.pop(root, None)
                    return
            self._pass(project)

    def _pass(self, project: Project) -> None:
        from tmxd.autopilot import config
        from tmxd.autopilot.runner import dispatch_ready, log_lines

        root = project.root
        try:
            cfg = config.load(root)
            if not cfg.enabled:
                return
            summary = dispatch_ready(
                project,
                cfg,
                self._recorder(),
                stop=self._stop,
                out=lambda line: log.info("%s: %s", root, line),
                on_event=self._events_of(root),
            )
        except TmxdError as exc:
            self._error(root, exc.message)
            return
        except Exception:
            log.exception("%s: the autopilot pass failed; the daemon keeps running", root)
            return
        self._errors.pop(root, None)
        if summary is not None and summary.results:
            summary.stop_reason = pass_reason(summary.stop_reason)
            for line in log_lines(summary):
                log.info("%s: %s", root, line)

    def _events_of(self, root: Path) -> Callable[[str, dict[str, Any]], None] | None:
        hook = self._on_event
        if hook is None:
            return None
        return lambda kind, data: hook(root, kind, data)

    def _error(self, root: Path, message: str) -> None:
        if self._errors.get(root) != message:
            log.error("%s: %s", root, message)
        self._errors[root] = message
