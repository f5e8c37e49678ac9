"""Event commands: a command of the user's, run when something happens (``[notify]``).

::

    [notify]
    on = ["task-ready", "task-stale", "autopilot-done", "autopilot-blocked", "breaker-open"]
    command = ["notify-send", "tmxd", "{message}"]

``command`` is an argv template, never a shell string: each placeholder (``{event}``,
``{task}``, ``{title}``, ``{project}``, ``{message}``) is replaced inside the one
argument that holds it, so a title with quotes, ``$(…)``, ``;`` or newlines stays one
argument and nothing interprets it. The command runs through :func:`tmxd.proc.run`
(its own process group, stdin from /dev/null, a timeout), in the project's folder.
A failing command (not found, a non-zero exit, a timeout) is logged once until it
works again; it never stops what the daemon or the autopilot was doing.

The daemon and ``tmxd autopilot`` send their notices through a :class:`Notifier`
(one worker thread, so neither waits on a command); :func:`from_autopilot` turns the
autopilot's event rows into notices.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tmxd import clock, proc
from tmxd.config import option, section
from tmxd.errors import InputError, TmxdError

log = logging.getLogger("tmxd.notify")

EVENTS = ("task-ready", "task-stale", "autopilot-done", "autopilot-blocked", "breaker-open")
PLACEHOLDERS = ("event", "task", "title", "project", "message")
MAX_VALUE = 4096  # characters of one substituted value (argv has a per-argument limit)
QUEUE_SIZE = 100
CLOSE_GRACE_S = 5.0

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class NotifyConfig:
    on: list[str] = option(
        list(EVENTS), "Events that run the command: " + ", ".join(f'"{e}"' for e in EVENTS) + "."
    )
    command: list[str] = option(
        [],
        "The command to run, as a list of arguments (never a shell string); "
        "{event} {task} {title} {project} {message} are replaced inside their argument. "
        "Empty: nothing runs.",
    )
    timeout: float = option(10.0, "Seconds before the command is stopped.")


def _check(cfg: NotifyConfig, path: Path) -> None:
    """Known events, known placeholders, a positive timeout."""
    for event in cfg.on:
        if event not in EVENTS:
            raise InputError(
                f"{path}: notify.on: unknown event {event!r}; events: " + ", ".join(EVENTS)
            )
    for arg in cfg.command:
        for name in _PLACEHOLDER.findall(arg):
            if name not in PLACEHOLDERS:
                raise InputError(
                    f"{path}: notify.command: unknown placeholder {{{name}}}; use "
                    + " ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                )
    if cfg.timeout <= 0:
        raise InputError(f"{path}: notify.timeout must be more than 0 seconds")


NOTIFY = section(
    "notify",
    NotifyConfig,
    "Event commands: run a command of yours when a task becomes ready or stale, or when "
    "the autopilot finishes or blocks a task or its circuit breaker opens.",
    _check,
)


def load(project_root: Path) -> NotifyConfig:
    """The project's ``[notify]`` table, checked."""
    return NOTIFY.load(project_root)


@dataclass(frozen=True)
class Notice:
    """One event to tell the user about."""

    event: str
    project: Path
    task: str
    title: str
    message: str  # one line, for a desktop notification

    def fields(self) -> dict[str, str]:
        return {
            "event": self.event,
            "task": self.task,
            "title": self.title,
            "project": str(self.project),
            "message": self.message,
        }


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(text: str) -> str:
    """``text`` on one line: control characters and runs of blanks become one space."""
    return " ".join(_CONTROL.sub(" ", text).split())


def _short(text: str, limit: int = 200) -> str:
    line = _one_line(text)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _notice(event: str, project: Path, task: str, title: str, what: str) -> Notice:
    message = f"{project.name}: {what}" + (f": {_one_line(title)}" if title else "")
    return Notice(event, project, task, title, message)


def _label(task: str, tag: str) -> str:
    return task if tag == "master" else f"{task} [{tag}]"


def task_ready(project: Path, task: str, title: str, tag: str = "master") -> Notice:
    return _notice("task-ready", project, task, title, f"task {_label(task, tag)} is ready")


def task_stale(
    project: Path, task: str, title: str, hours: float, tag: str = "master"
) -> Notice:
    what = (
        f"task {_label(task, tag)} is stale: in progress for {hours:.0f} h, "
        "no commit since it started"
    )
    return _notice("task-stale", project, task, title, what)


def autopilot_done(project: Path, task: str, title: str, tag: str = "master") -> Notice:
    what = f"autopilot finished task {_label(task, tag)}"
    return _notice("autopilot-done", project, task, title, what)


def autopilot_blocked(
    project: Path, task: str, title: str, status: str, reason: str, tag: str = "master"
) -> Notice:
    """The autopilot gave a task back (``status``: blocked, pending) or left it in review."""
    why = _short(reason)
    if status == "review":
        what = f"task {_label(task, tag)} waits for review ({why})"
    else:
        what = f"autopilot could not finish task {_label(task, tag)}, now {status} ({why})"
    return _notice("autopilot-blocked", project, task, title, what)


def breaker_open(project: Path, failures: int, reason: str) -> Notice:
    what = f"autopilot stopped after {failures} failed run(s) in a row ({_short(reason)})"
    return _notice("breaker-open", project, "", "", what)


def from_autopilot(project: Path, kind: str, data: Mapping[str, Any]) -> Notice | None:
    """The notice for one of the autopilot's event rows (``autopilot.done``,
    ``autopilot.failed``, ``autopilot.review``, ``autopilot.breaker``); None when the
    event is not one to tell (the breaker closing, say)."""
    task, title = str(data.get("task_id") or ""), str(data.get("title") or "")
    tag = str(data.get("tag") or "master")
    if kind == "autopilot.done":
        return autopilot_done(project, task, title, tag)
    if kind in ("autopilot.failed", "autopilot.review"):
        status, detail = str(data.get("status") or ""), str(data.get("detail") or "")
        return autopilot_blocked(project, task, title, status, detail, tag)
    if kind == "autopilot.breaker" and data.get("to") == "open":
        failures = data.get("failures")
        count = failures if isinstance(failures, int) else 0
        return breaker_open(project, count, str(data.get("reason") or ""))
    return None


def argv_for(template: list[str], notice: Notice) -> list[str]:
    """The command line for ``notice``: each placeholder replaced inside its own argument."""
    values = {k: v.replace("\0", "")[:MAX_VALUE] for k, v in notice.fields().items()}
    return [_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), a) for a in template]


def wanted(cfg: NotifyConfig, notice: Notice) -> bool:
    return bool(cfg.command) and notice.event in cfg.on


class Failures:
    """Each project's last failure, logged once until its command works again."""

    def __init__(self) -> None:
        self._last: dict[Path, str] = {}
        self._lock = threading.Lock()

    def failed(self, project: Path, problem: str) -> None:
        with self._lock:
            if self._last.get(project) == problem:
                log.debug("%s: notify command: %s", project, problem)
                return
            self._last[project] = problem
        log.warning(
            "%s: the [notify] command failed: %s (logged once until it works again)",
            project,
            problem,
        )

    def worked(self, project: Path) -> None:
        with self._lock:
            known = self._last.pop(project, None)
        if known is not None:
            log.info("%s: the [notify] command works again", project)


def run_notice(
    cfg: NotifyConfig,
    notice: Notice,
    failures: Failures,
    cancel: threading.Event | None = None,
) -> bool:
    """Run the command for ``notice`` now, if the config asks for it; True when it ran fine."""
    if not wanted(cfg, notice):
        return False
    argv = argv_for(cfg.command, notice)
    try:
        result = proc.run(argv, cwd=notice.project, timeout_s=cfg.timeout, cancel=cancel)
    except TmxdError as exc:
        failures.failed(notice.project, exc.message)
        return False
    if result.cancelled:
        return False
    if not result.ok:
        detail = next((line for line in reversed(result.stderr_tail) if line.strip()), "")
        failures.failed(notice.project, result.describe() + (f": {detail}" if detail else ""))
        return False
    failures.worked(notice.project)
    return True


class Notifier:
    """The daemon's notices, run one at a time on a worker thread (started on first use)."""

    def __init__(self) -> None:
        self.failures = Failures()
        # None: stop
        self._queue: queue.Queue[tuple[NotifyConfig, Notice] | None] = queue.Queue(QUEUE_SIZE)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()
        self.sent = 0  # commands that ran fine

    def send(self, cfg: NotifyConfig, notice: Notice) -> bool:
        """Queue the command for ``notice`` if the config asks for it; True when queued."""
        if not wanted(cfg, notice):
            return False
        with self._lock:
            if self._closed:
                return False
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="tmxd-notify", daemon=True
                )
                self._thread.start()
        try:
            self._queue.put_nowait((cfg, notice))
        except queue.Full:
            self.failures.failed(
                notice.project, f"{QUEUE_SIZE} notices waiting; dropping {notice.event}"
            )
            return False
        return True

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._cancel.is_set():
                continue  # stopping: what is left is dropped
            cfg, notice = item
            try:
                if run_notice(cfg, notice, self.failures, self._cancel):
                    self.sent += 1
            except Exception:  # a notice must never take the worker down
                log.exception("%s: the [notify] command could not be run", notice.project)

    def close(self, grace: float = CLOSE_GRACE_S) -> None:
        """Run what is queued for at most ``grace`` seconds, then stop the rest."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        deadline = clock.monotonic() + grace
        try:
            self._queue.put(None, timeout=grace)
            queued = True
        except queue.Full:
            queued = False
        thread.join(timeout=max(0.0, deadline - clock.monotonic()))
        self._cancel.set()  # ends a command still running; the rest is dropped
        if not queued:
            self._queue.put(None)  # room soon: the worker now only drops what is left
        thread.join()
