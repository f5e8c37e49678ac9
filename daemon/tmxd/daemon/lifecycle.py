"""The daemon's lifecycle: one instance per user, signals, readiness, logging.

``tmxd run`` calls :func:`run_daemon` and stays in the foreground (what
systemd and launchd expect). The process

* takes an exclusive ``flock`` on ``<runtime dir>/tmxd.lock`` for its whole
  life — a second daemon exits at once naming the first one's pid; a socket or
  pid file left by a killed daemon is detected (nobody holds the lock) and
  replaced;
* answers the control socket (:mod:`tmxd.daemon.control`);
* watches every registered project (:mod:`tmxd.daemon.watch`) and puts what
  changed on one queue as typed events (:mod:`tmxd.daemon.events`), which the
  engine thread, the one writer, handles in order (:mod:`tmxd.daemon.engine`);
* runs timers (:mod:`tmxd.daemon.schedule`);
* on SIGTERM/SIGINT stops gracefully (pending changes are processed, the
  current write finishes, metrics are flushed), on SIGHUP reloads the project
  registry and the project configs;
* tells systemd ``READY=1`` / ``RELOADING=1`` / ``STOPPING=1`` and pings
  ``WATCHDOG=1`` over ``$NOTIFY_SOCKET`` when started with ``Type=notify``.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import logging.handlers
import os
import queue
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tmxd import __version__, clock, paths
from tmxd.daemon import control, events, registry
from tmxd.daemon.events import (
    ConfigChanged,
    Event,
    HeadMoved,
    HooksSpooled,
    ProjectAdded,
    ProjectEvent,
    ProjectRemoved,
    Shutdown,
    TasksFileChanged,
    Tick,
)
from tmxd.errors import InputError, TmxdError
from tmxd.fsutil import (
    acquire,
    make_private_dirs,
    open_private,
    remove_stale_temps,
    write_atomic,
)
from tmxd.sanitize import printable

log = logging.getLogger("tmxd.daemon")

LOCK_NAME = "tmxd.lock"
PID_NAME = control.PID_NAME
LOG_MAX_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 3
STOP_TIMEOUT = 15.0
AUTOPILOT_STOP_TIMEOUT = 10.0


# --------------------------------------------------------------------------- logging


class PrivateLogFile(logging.handlers.RotatingFileHandler):
    """The daemon's rotating log file, created private (0600), after each rotation too."""

    def _open(self) -> Any:
        fd = open_private(Path(self.baseFilename), append="a" in self.mode)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


class PrintableFormatter(logging.Formatter):
    """Log lines carry task titles and commit subjects: shown in a terminal (``tail -f``,
    ``journalctl``), they never carry an escape sequence or a control character."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def setup_logging(log_file: Path | None = None, *, verbose: bool = False) -> logging.Handler:
    """Log to stderr (journald adds its own timestamps) or to a rotating file."""
    handler: logging.Handler
    if log_file is not None:
        make_private_dirs(log_file.parent)
        handler = PrivateLogFile(
            log_file, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8"
        )
        handler.setFormatter(PrintableFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        if journal_stream():
            handler.setFormatter(JournalFormatter("%(levelname)s %(name)s: %(message)s"))
        else:
            handler.setFormatter(
                PrintableFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
    root = logging.getLogger("tmxd")
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("apscheduler", "watchdog"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
        logging.getLogger(noisy).addHandler(handler)
    return handler


class JournalFormatter(PrintableFormatter):
    """Lines prefixed ``<N>`` with the syslog priority, which journald strips and keeps
    as the entry's priority (``journalctl -p err`` then finds the errors); printable."""

    def format(self, record: logging.LogRecord) -> str:
        level = record.levelno
        priority = (
            2
            if level >= logging.CRITICAL
            else 3
            if level >= logging.ERROR
            else (4 if level >= logging.WARNING else 6 if level >= logging.INFO else 7)
        )
        # a traceback spans lines: each gets the prefix, or journald files it as info
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines())


def journal_stream(stream: Any = None) -> bool:
    """Whether ``stream`` (stderr) is connected to journald: ``$JOURNAL_STREAM`` names its
    device and inode (so a child whose stderr was redirected is not fooled)."""
    value = os.environ.get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep:
        return False
    try:
        st = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return f"{st.st_dev}:{st.st_ino}" == f"{dev}:{ino}"


# --------------------------------------------------------------------------- sd_notify


def sd_notify(message: str, env: dict[str, str] | None = None) -> bool:
    """Send ``message`` (e.g. ``READY=1``) to ``$NOTIFY_SOCKET``; False when there is none."""
    address = (env if env is not None else os.environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.connect(address)
        sock.sendall(message.encode())
    except OSError as exc:
        log.warning("could not notify the service manager (%s): %s", message, exc)
        return False
    finally:
        sock.close()
    return True


def watchdog_interval(env: dict[str, str] | None = None) -> float | None:
    """Half of ``WATCHDOG_USEC`` in seconds, when systemd's watchdog is on for us."""
    source = env if env is not None else os.environ
    usec = source.get("WATCHDOG_USEC")
    pid = source.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 2_000_000 if value > 0 else None


# --------------------------------------------------------------------------- single instance


class InstanceLock:
    """An exclusive ``flock`` held for the daemon's lifetime, plus its pid file."""

    def __init__(self, runtime: Path) -> None:
        self.lock_path = runtime / LOCK_NAME
        self.pid_path = runtime / PID_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = acquire(self.lock_path, wait=False)
        if fd is None:
            pid = read_pid(self.pid_path)
            owner = f" (pid {pid})" if pid else ""
            raise TmxdError(
                f"tmxd is already running{owner}: {self.lock_path} is locked; "
                "stop it with `tmxd stop` first"
            )
        self._fd = fd
        old = read_pid(self.pid_path)
        if old is not None and old != os.getpid():
            log.info("replacing the pid file of a daemon that is gone (pid %d)", old)
        write_atomic(self.pid_path, f"{os.getpid()}\n", mode=0o600)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            if read_pid(self.pid_path) == os.getpid():
                self.pid_path.unlink()
        os.close(self._fd)
        self._fd = None


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- prometheus


def parse_listen(text: str, *, allow_public: bool = False) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) for the Prometheus endpoint.

    The metrics have no authentication, so only loopback hosts are accepted
    unless ``allow_public`` (``--listen-public``) says otherwise.
    """
    import ipaddress

    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        raise InputError(f"--listen {text!r}: use HOST:PORT, e.g. 127.0.0.1:9464")
    if not allow_public and host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise InputError(
                f"--listen {text!r}: {host} is not a loopback address and the metrics have "
                "no authentication; use 127.0.0.1, or add --listen-public to expose them"
            )
    return host, int(port_text)


# --------------------------------------------------------------------------- the daemon


@dataclass(frozen=True)
class DaemonOptions:
    settle: float = 0.1
    max_wait: float = 1.0
    poll_interval: float = 2.0
    reconcile_seconds: float = 60.0
    log_file: Path | None = None
    extra_projects: tuple[Path, ...] = ()
    listen: tuple[str, int] | None = None
    metrics_cache: float = 5.0  # seconds a Prometheus collection is reused


class Daemon:
    """Owns the threads; the main thread only waits for signals and requests."""

    def __init__(self, options: DaemonOptions | None = None) -> None:
        from tmxd.daemon.dispatch import AutopilotDispatcher
        from tmxd.daemon.engine import Engine
        from tmxd.daemon.ingest import JournalIngester
        from tmxd.daemon.schedule import Scheduler
        from tmxd.daemon.watch import Watcher

        self.options = options or DaemonOptions()
        self.runtime = paths.runtime_dir()
        self.socket_path = control.socket_path()
        control.check_path_length(self.socket_path)
        self.lock = InstanceLock(self.runtime)
        self.started_at = clock.now()
        self.engine = Engine(recheck=self._recheck_later)
        self.ingester = JournalIngester(lambda: self.engine.recorder)
        self.autopilot = AutopilotDispatcher(
            lambda: self.engine.recorder, self.engine.autopilot_event
        )
        self.prometheus: Any = None
        self.watcher = Watcher(
            self._on_change,
            settle=self.options.settle,
            max_wait=self.options.max_wait,
            poll_interval=self.options.poll_interval,
        )
        self.scheduler = Scheduler(self.engine.job_log)
        self.control = control.ControlServer(self.socket_path, self._handle_request)
        self._queue: queue.Queue[Event] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._requests: list[str] = []
        self._requests_lock = threading.Lock()
        self._worker = threading.Thread(target=self._work, name="tmxd-engine", daemon=True)
        self._busy_since: float | None = None
        self._stopping = False
        self._rechecks: list[tuple[float, str]] = []  # (monotonic due, root): engine thread

    # ------------------------------------------------------------------ main thread

    def run(self) -> int:
        self.lock.acquire()
        try:
            self._start_prometheus()  # a port in use is an error before anything starts
        except BaseException:
            self.lock.release()
            raise
        try:
            if self.socket_path.exists():
                log.info(
                    "removing the stale control socket %s left by a killed daemon", self.socket_path
                )
            self._start()
            self._loop()
        finally:
            self._shutdown()
            self.lock.release()
        return 0

    def _start(self) -> None:
        previous = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        del previous
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        # open (create, migrate) the metrics database once, before any thread needs it
        self.engine.recorder  # noqa: B018
        self._remove_leftovers()
        self.watcher.start()
        from tmxd.metrics.journal import journal_dir

        self.watcher.watch_folder(journal_dir(), self.ingester.poke)
        self.ingester.start()
        self._worker.start()
        self._load_projects()
        self.control.start()
        self._add_jobs()
        self.scheduler.start()
        log.info(
            "tmxd %s running (pid %d), control socket %s, %d project(s)",
            __version__,
            os.getpid(),
            self.socket_path,
            len(self._projects()),
        )
        sd_notify(
            f"READY=1\nSTATUS=watching {len(self._projects())} project(s)\nMAINPID={os.getpid()}"
        )

    def _remove_leftovers(self) -> None:
        """Temp files killed processes left in the state and runtime dirs (each project's
        folders are cleaned by its first sync)."""
        removed = remove_stale_temps(paths.state_dir(), depth=1)
        removed += remove_stale_temps(self.runtime)
        for path in removed:
            log.info("removed %s, left by a killed tmxd process", path)

    def _loop(self) -> None:
        interval = watchdog_interval()
        while True:
            readable, _, _ = select.select([self._wake_r], [], [], interval)
            if not readable:
                self._watchdog_ping()
                continue
            try:
                data = os.read(self._wake_r, 512)
            except BlockingIOError:
                data = b""
            for code in data:
                if code in (signal.SIGTERM, signal.SIGINT):
                    self._request("stop")
                elif code == signal.SIGHUP:
                    self._request("reload")
            for req in self._take_requests():
                if req == "stop":
                    log.info("stopping")
                    return
                if req == "reload":
                    self._reload()
            if interval is not None:
                self._watchdog_ping()

    def _on_signal(self, signum: int, frame: object) -> None:
        # The C-level handler already wrote the signal number to the wake-up pipe.
        del signum, frame

    def _request(self, what: str) -> None:
        with self._requests_lock:
            if what not in self._requests:
                self._requests.append(what)
        with contextlib.suppress(BlockingIOError):
            os.write(self._wake_w, b"\0")

    def _take_requests(self) -> list[str]:
        with self._requests_lock:
            taken, self._requests = self._requests, []
        # stop wins over anything queued with it
        return ["stop"] if "stop" in taken else taken

    def _watchdog_ping(self) -> None:
        interval = watchdog_interval()
        if interval is None or not self._worker.is_alive():
            return
        busy = self._busy_since
        if busy is not None and clock.monotonic() - busy > 4 * interval:
            log.warning(
                "the engine has been busy for %.0f s; not pinging the watchdog",
                clock.monotonic() - busy,
            )
            return
        sd_notify("WATCHDOG=1")

    def _reload(self) -> None:
        sd_notify(
            f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"
        )
        log.info("reloading the project registry and configuration")
        try:
            self._load_projects()
        except TmxdError as exc:
            log.error("reload failed, keeping the current projects: %s", exc.message)
        sd_notify(f"READY=1\nSTATUS=watching {len(self._projects())} project(s)")

    def _start_prometheus(self) -> None:
        if self.options.listen is None:
            return
        from tmxd.metrics.prometheus import serve_prometheus

        host, port = self.options.listen
        self.prometheus = serve_prometheus(
            host, port, paths.db_path(), cache_seconds=self.options.metrics_cache
        )
        log.info("serving Prometheus metrics at %s", self.prometheus.url)

    def _shutdown(self) -> None:
        self._stopping = True
        sd_notify("STOPPING=1")
        self.control.stop()
        # agents first: their tasks are restored while the watcher still records it
        self.autopilot.stop(AUTOPILOT_STOP_TIMEOUT)
        if self.prometheus is not None:
            self.prometheus.stop()
        self.watcher.stop(flush=True)
        self.ingester.stop()
        self.scheduler.shutdown(wait=True)
        if self._worker.is_alive():
            self._queue.put(Shutdown())
            self._worker.join(timeout=STOP_TIMEOUT)
        self.engine.close()
        signal.set_wakeup_fd(-1)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        log.info("stopped")

    # ------------------------------------------------------------------ projects

    def _projects(self) -> list[Path]:
        roots = list(self.options.extra_projects)
        for root in registry.list_projects():
            if root not in roots:
                roots.append(root)
        return roots

    def _load_projects(self) -> None:
        wanted = self._projects()
        current = self.watcher.specs()
        for root in current:
            if root not in wanted:
                self.watcher.unwatch(root)
                self._queue.put(ProjectRemoved(root))
        for root in wanted:
            self._queue.put(ProjectAdded(root))

    def _recheck_later(self, root: Path, delay_s: float) -> None:
        """The engine asks for another look at a tasks.json that was mid-write (called on
        the engine thread, which waits on its queue no longer than the earliest is due)."""
        heapq.heappush(self._rechecks, (clock.monotonic() + delay_s, str(root)))

    def _on_change(self, root: Path, kinds: frozenset[str]) -> None:
        """The watcher's debounced batch (on its thread): queued as typed events."""
        for event in events.from_watch(root, kinds):
            self._queue.put(event)

    def _add_jobs(self) -> None:
        from tmxd.daemon import jobs

        self.scheduler.add_job(
            "reconcile",
            lambda: self._queue.put(Tick()),
            "interval",
            seconds=self.options.reconcile_seconds,
            catch_up=False,
        )
        for job in jobs.scheduled(self.engine):
            self.scheduler.add_job(job.name, job.func, job.trigger, record=job.record, **job.args)

    # ------------------------------------------------------------------ engine thread

    def _next_event(self) -> Event:
        """The next queued event, or a due recheck of a tasks.json (see the engine)."""
        while True:
            timeout = None
            if self._rechecks:
                timeout = max(0.0, self._rechecks[0][0] - clock.monotonic())
            try:
                return self._queue.get(timeout=timeout)
            except queue.Empty:
                _due, root = heapq.heappop(self._rechecks)
                return TasksFileChanged(Path(root))

    def _work(self) -> None:
        while True:
            event = self._next_event()
            if isinstance(event, Shutdown):
                self._drain()
                return
            self._busy_since = clock.monotonic()
            try:
                self._dispatch(event)
            except TmxdError as exc:
                log.error("%s (the daemon keeps running)", exc.message)
            except Exception:
                log.exception("handling %s failed; the daemon keeps running", event)
            finally:
                self._busy_since = None

    def _drain(self) -> None:
        """On shutdown: what the watcher saw is still handled; nothing new is started."""
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(event, ProjectEvent):
                try:
                    self._dispatch(event)
                except Exception:
                    log.exception("handling %s during shutdown failed", event)

    def _dispatch(self, event: Event) -> None:
        match event:
            case ProjectAdded(root=root):
                self._open(root)
            case ProjectRemoved(root=root):
                self.engine.forget(root)
                log.info("no longer watching %s", root)
            case Tick():
                for root, spec in self.watcher.specs().items():
                    # folders that appeared since (reports, spool), a tasks.json link
                    # that points elsewhere now
                    self.watcher.refresh(spec.resolved())
                    self.engine.reconcile(root)
                    self._autopilot(root)
            case TasksFileChanged():
                self._retarget(event.root)
                self.engine.handle(event)
                self._autopilot(event.root)
            case ConfigChanged():
                self.engine.handle(event)
                self._autopilot(event.root)
            case HooksSpooled() | HeadMoved():
                self.engine.handle(event)
            case Shutdown():
                pass

    def _open(self, root: Path) -> None:
        """Load a project, tell the watcher what to watch, then catch up with it."""
        from tmxd.daemon.watch import WatchSpec

        project = self.engine.open(root)
        if project is None or self._stopping:
            return
        spec = WatchSpec.for_project(root, project.tasks_path, spool_path=_spool_path(root))
        if root in self.watcher.specs():
            self.watcher.refresh(spec)
        else:
            mode = self.watcher.watch(spec)
            log.info("watching %s (%s)", root, mode)
        self.engine.catch_up(root)
        self._autopilot(root)

    def _retarget(self, root: Path) -> None:
        """A symlinked tasks.json that was replaced (``sed -i`` writes a file in its
        place, ``ln -sf`` points it elsewhere): watch where it leads now."""
        spec = self.watcher.specs().get(root)
        if spec is None:
            return
        now = spec.resolved()
        if now != spec:
            log.info(
                "%s: tasks.json %s",
                root,
                f"now links to {now.tasks_target}" if now.tasks_target else "is no longer a link",
            )
            self.watcher.refresh(now)

    def _autopilot(self, root: Path) -> None:
        """Autopilot mode: a dispatch pass on a worker thread, never on this one."""
        project = self.engine.project(root)
        if project is not None and not self._stopping and project.root.is_dir():
            self.autopilot.poke(project)

    # ------------------------------------------------------------------ control requests

    def _handle_request(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        if cmd == "ping":
            return {"pid": os.getpid(), "version": __version__}
        if cmd == "status":
            return self.status()
        if cmd == "stop":
            self._request("stop")
            return {"pid": os.getpid()}
        if cmd == "reload":
            self._request("reload")
            return {"pid": os.getpid()}
        if cmd == "reconcile":
            self._queue.put(Tick())
            return {"queued": True}
        raise TmxdError(
            f"unknown request {cmd!r}; this daemon knows ping, status, stop, reload, reconcile"
        )

    def status(self) -> dict[str, Any]:
        modes = self.watcher.modes()
        projects = []
        for root in self._projects():
            info = self.engine.describe(root)
            info["root"] = str(root)
            # a deleted folder's watches are gone with it, whatever inotify was told
            info["watch"] = "folder gone" if info.get("gone") else modes.get(root, "not watched")
            info["autopilot"] = self.autopilot.describe(root)
            projects.append(info)
        return {
            "pid": os.getpid(),
            "version": __version__,
            "protocol": control.PROTOCOL_VERSION,
            "started_at": clock.iso_ms(self.started_at),
            "uptime_s": round((clock.now() - self.started_at).total_seconds(), 1),
            "socket": str(self.socket_path),
            "log_file": str(self.options.log_file) if self.options.log_file else None,
            "path": os.environ.get("PATH", os.defpath),  # where its agents are looked up
            "queue": self._queue.qsize(),
            "busy": self._busy_since is not None,  # the engine is handling an event now
            "pending_changes": self.watcher.pending(),
            "prometheus": self.prometheus.url if self.prometheus is not None else None,
            # what it was started with (`tmxd start` says which of its own it could not apply)
            "options": {
                "settle_ms": round(self.options.settle * 1000),
                "max_wait_ms": round(self.options.max_wait * 1000),
                "metrics_cache": self.options.metrics_cache,
                "listen": list(self.options.listen) if self.options.listen else None,
            },
            "projects": projects,
            "jobs": [
                {
                    "name": job.name,
                    "trigger": job.trigger,
                    "next_run": clock.iso_ms(job.next_run) if job.next_run else None,
                    "last_run": clock.iso_ms(job.last_run) if job.last_run else None,
                    "last_ok": job.last_ok,
                }
                for job in self.scheduler.jobs()
            ],
        }


def run_daemon(options: DaemonOptions) -> int:
    """``tmxd run``: the daemon in the foreground until SIGTERM; returns the exit code.

    Like any daemon it leaves the directory it was started from for ``/``: it never holds
    a folder the user may delete or unmount, and what it logs names files by full path.
    """
    paths.pin_locations()
    if options.log_file is not None:
        options = replace(options, log_file=options.log_file.absolute())
    os.chdir("/")
    return Daemon(options).run()


def _spool_path(root: Path) -> Path | None:
    """The hook spool of the project's repository (its folder is created), None without git."""
    from tmxd.commits.sync import watch_dir

    try:
        return watch_dir(root) / "spool"
    except TmxdError:
        return None
