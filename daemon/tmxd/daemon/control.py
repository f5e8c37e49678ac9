"""The control socket: how ``tmxd start/stop/status/reload`` talk to the daemon.

A Unix stream socket in :func:`tmxd.paths.runtime_dir` (mode 0600, inside a
0700 directory). Each request and each response is one JSON object on one
line (newline-delimited JSON) carrying the protocol version ``v``::

    -> {"v": 1, "id": 1, "cmd": "status", "args": {}}
    <- {"v": 1, "id": 1, "ok": true, "result": {...}}
    <- {"v": 1, "id": 1, "ok": false, "error": "one line"}

A client that speaks another version gets an error telling it to restart the
daemon. One request per connection keeps the server trivial.

Under load the daemon stays bounded and the client stays calm:

* the socket listens with a backlog of :data:`BACKLOG`; one thread accepts, a fixed
  pool of :data:`WORKERS` threads answers, and at most :data:`QUEUE_SIZE` accepted
  connections wait for a worker. Beyond that a connection is answered ``busy`` at once
  and closed: no thread per connection, whatever the number of clients;
* a request is one line of at most :data:`MAX_REQUEST` bytes, nested at most
  :data:`MAX_DEPTH` deep, read within :data:`READ_TIMEOUT` s, without ``NaN`` or
  ``Infinity`` (not JSON); anything else is answered ``bad request``;
* the client retries a full backlog (``EAGAIN``), a ``busy`` answer, and a refused
  connection while the daemon's process is alive (it is starting or stopping), with
  backoff for :data:`RETRY_FOR` s; then it gives up with one line: exit 1 when the
  daemon stayed busy, exit 3 when no daemon is there.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import queue
import selectors
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tmxd import paths, proc
from tmxd.errors import DaemonNotRunning, InputError, TmxdError

PROTOCOL_VERSION = 1
SOCKET_NAME = "tmxd.sock"
PID_NAME = "tmxd.pid"  # beside the socket, written by the daemon while it runs
BACKLOG = 128
WORKERS = 4
QUEUE_SIZE = 64
MAX_REQUEST = 64 * 1024  # a request line, bytes
MAX_REPLY = 64 << 20  # an answer line (status of many projects), bytes
MAX_DEPTH = 16
READ_TIMEOUT = 5.0
RETRY_FOR = 2.0  # seconds the client retries a busy or restarting daemon
BUSY = "the daemon is busy (too many requests at once)"
# Unix socket paths are limited to 108 bytes on Linux and 104 on macOS.
MAX_SOCKET_PATH = 100

log = logging.getLogger("tmxd.control")

Handler = Callable[[str, dict[str, Any]], dict[str, Any]]


def socket_path() -> Path:
    return paths.runtime_dir() / SOCKET_NAME


class ControlError(TmxdError):
    """The daemon answered a request with an error."""


class DaemonBusy(ControlError):
    """The daemon stayed too busy to take the request for :data:`RETRY_FOR` s (exit 1)."""


def encode(message: dict[str, Any]) -> bytes:
    """One NDJSON line; ``ValueError`` for a value JSON cannot hold (NaN, Infinity)."""
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text + "\n").encode()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode(line: bytes) -> dict[str, Any]:
    """One NDJSON line as a dict; ``ValueError`` for anything else (NaN and Infinity,
    nesting deeper than :data:`MAX_DEPTH`)."""
    try:
        value = json.loads(line.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(value, dict):
        raise ValueError("a message must be a JSON object")
    if _depth(value) > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    """How deep objects and arrays nest in ``value`` (iteratively: no recursion limit)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((child, level + 1) for child in item)
    return deepest


def _read_line(conn: socket.socket, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if b"\n" in chunk or size > limit:
            break
    data = b"".join(chunks)
    line = data.split(b"\n", 1)[0]
    if len(line) > limit:
        raise ValueError(f"message longer than {limit} bytes")
    return line


def check_path_length(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH:
        raise InputError(
            f"{path}: socket path is too long for a Unix socket; "
            "set TMXD_RUNTIME_DIR to a shorter directory"
        )


class ControlServer:
    """Accepts one request per connection and answers it with ``handler(cmd, args)``.

    The handler's return value is the ``result``; a :class:`TmxdError` it raises
    becomes ``ok: false`` with the message. Anything else is logged and answered
    as an internal error, so a bad request never takes the daemon down. One thread
    accepts; :data:`WORKERS` threads answer what waits in a queue of
    :data:`QUEUE_SIZE`; a connection that finds the queue full is answered ``busy``.
    """

    def __init__(
        self,
        path: Path,
        handler: Handler,
        *,
        workers: int = WORKERS,
        queue_size: int = QUEUE_SIZE,
    ) -> None:
        self.path = path
        self._handler = handler
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._workers = [
            threading.Thread(target=self._work, name=f"tmxd-control-{n}", daemon=True)
            for n in range(workers)
        ]
        self._queue: queue.Queue[socket.socket | None] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()

    def start(self) -> None:
        check_path_length(self.path)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            sock.bind(str(self.path))
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)
        sock.listen(BACKLOG)
        sock.setblocking(False)
        self._sock = sock
        for worker in self._workers:
            worker.start()
        self._thread = threading.Thread(target=self._serve, name="tmxd-control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, let the workers finish, remove the socket file."""
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        while True:  # connections nobody will answer now
            try:
                waiting = self._queue.get_nowait()
            except queue.Empty:
                break
            if waiting is not None:
                waiting.close()
        for worker in self._workers:
            if worker.is_alive():
                self._queue.put(None)
        for worker in self._workers:
            if worker.is_alive():
                worker.join(timeout=READ_TIMEOUT + 5)
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _serve(self) -> None:
        assert self._sock is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self._sock, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in sel.select():
                    if key.fileobj is self._sock:
                        self._accept()

    def _accept(self) -> None:
        """Take every connection waiting in the backlog; queue it, or answer busy."""
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of descriptors: the backlog keeps the rest
                log.warning("control socket: cannot accept a connection: %s", exc)
                return
            try:
                self._queue.put_nowait(conn)
            except queue.Full:
                self._refuse(conn)

    @staticmethod
    def _refuse(conn: socket.socket) -> None:
        """Answer ``busy`` without reading the request (it fits the socket buffer)."""
        with conn:
            conn.setblocking(False)
            with contextlib.suppress(OSError):
                conn.send(encode({"v": PROTOCOL_VERSION, "ok": False, "busy": True, "error": BUSY}))

    def _work(self) -> None:
        while True:
            conn = self._queue.get()
            if conn is None:
                return
            try:
                self._answer(conn)
            except Exception:  # never lose a worker
                log.exception("control socket: answering a request failed")

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.setblocking(True)
            conn.settimeout(READ_TIMEOUT)
            try:
                reply = self._dispatch(_read_line(conn, MAX_REQUEST))
            except (OSError, ValueError) as exc:
                reply = {"v": PROTOCOL_VERSION, "ok": False, "error": f"bad request: {exc}"}
            try:
                data = encode(reply)
            except ValueError as exc:  # a result JSON cannot hold
                data = encode(
                    {
                        "v": PROTOCOL_VERSION,
                        "id": reply.get("id"),
                        "ok": False,
                        "error": f"internal error: unanswerable result: {exc}",
                    }
                )
            with contextlib.suppress(OSError):
                conn.sendall(data)

    def _dispatch(self, line: bytes) -> dict[str, Any]:
        request = decode(line)
        request_id = request.get("id")
        if request_id is not None and (
            isinstance(request_id, bool) or not isinstance(request_id, int | str)
        ):
            raise ValueError("`id` must be a number or a string")
        reply: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": request_id}
        version = request.get("v")
        if version != PROTOCOL_VERSION:
            reply.update(
                ok=False,
                error=f"protocol version {version!r} is not supported (the daemon speaks "
                f"{PROTOCOL_VERSION}); restart the daemon: `tmxd stop && tmxd start`",
            )
            return reply
        cmd = request.get("cmd")
        args = request.get("args") or {}
        if not isinstance(cmd, str) or not isinstance(args, dict):
            reply.update(ok=False, error="bad request: `cmd` must be a string, `args` an object")
            return reply
        try:
            reply.update(ok=True, result=self._handler(cmd, args))
        except TmxdError as exc:
            reply.update(ok=False, error=exc.message)
        except Exception as exc:
            log.exception("control request %r failed", cmd)
            reply.update(ok=False, error=f"internal error in {cmd}: {exc}")
        return reply


_request_ids = iter(range(1, 1 << 62))


def request(
    cmd: str,
    args: dict[str, Any] | None = None,
    *,
    timeout: float = 10.0,
    path: Path | None = None,
    retry_for: float = RETRY_FOR,
) -> dict[str, Any]:
    """Send one request and return its ``result``.

    A full backlog, a ``busy`` answer, or a refused connection while the daemon's
    process lives is retried with backoff for ``retry_for`` s. Raises
    :class:`DaemonNotRunning` (exit 3) when nothing listens on the socket,
    :class:`DaemonBusy` (exit 1) when the daemon stayed busy, and
    :class:`ControlError` when it answers with an error.
    """
    target = path or socket_path()
    deadline = time.monotonic() + retry_for
    pause = 0.01
    while True:
        try:
            return _request_once(cmd, args, timeout=timeout, target=target)
        except _Retry as retry:
            left = deadline - time.monotonic()
            if left <= 0:
                raise retry.final from None
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.25)


class _Retry(Exception):
    """Worth another try; ``final`` is the error once the retries are used up."""

    def __init__(self, final: TmxdError) -> None:
        super().__init__(final.message)
        self.final = final


def _request_once(
    cmd: str, args: dict[str, Any] | None, *, timeout: float, target: Path
) -> dict[str, Any]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    with sock:
        try:
            sock.connect(str(target))
        except FileNotFoundError as exc:
            raise DaemonNotRunning(_not_running(target)) from exc
        except ConnectionRefusedError as exc:
            if _daemon_alive(target):  # starting or stopping: its socket comes or goes
                raise _Retry(DaemonNotRunning(_not_running(target))) from exc
            raise DaemonNotRunning(_not_running(target)) from exc
        except (BlockingIOError, InterruptedError) as exc:  # EAGAIN: the backlog is full
            raise _Retry(DaemonBusy(_busy(target))) from exc
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                raise _Retry(DaemonBusy(_busy(target))) from exc
            raise DaemonNotRunning(f"cannot reach the daemon on {target}: {exc}") from exc
        message = {"v": PROTOCOL_VERSION, "id": next(_request_ids), "cmd": cmd, "args": args or {}}
        try:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(encode(message))  # a busy daemon answers without reading it
            line = _read_line(sock, MAX_REPLY)
        except TimeoutError as exc:
            raise ControlError(
                f"the daemon did not answer {cmd!r} within {timeout:g} s; "
                "see its log (`tmxd status` or journalctl --user -u tmxd)"
            ) from exc
        except OSError as exc:
            raise DaemonNotRunning(f"the daemon closed {target} unexpectedly: {exc}") from exc
        except ValueError as exc:
            raise ControlError(f"unreadable answer from the daemon on {target}: {exc}") from exc
    if not line:
        raise DaemonNotRunning(f"the daemon on {target} closed the connection without answering")
    try:
        reply = decode(line)
    except ValueError as exc:
        raise ControlError(f"unreadable answer from the daemon on {target}: {exc}") from exc
    if reply.get("busy"):
        raise _Retry(DaemonBusy(_busy(target)))
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error") or "the daemon reported an unknown error"))
    result = reply.get("result")
    return result if isinstance(result, dict) else {}


def _not_running(target: Path) -> str:
    return f"no tmxd daemon is listening on {target}; start it with `tmxd start`"


def _busy(target: Path) -> str:
    return (
        f"{BUSY} on {target}, for {RETRY_FOR:g} s; try again in a moment "
        "(`tmxd status` shows its queue)"
    )


def _daemon_alive(target: Path) -> bool:
    """Whether the daemon that owns ``target`` (its pid file beside it) is a live process."""
    try:
        pid = int((target.parent / PID_NAME).read_text().strip())
    except (OSError, ValueError):
        return False
    return pid != os.getpid() and proc.running(pid)


def is_running(path: Path | None = None, timeout: float = 5.0) -> bool:
    """True when a daemon answers ``ping`` on the socket (if only to say it is busy)."""
    try:
        request("ping", timeout=timeout, path=path)
    except DaemonBusy:
        return True
    except (DaemonNotRunning, ControlError):
        return False
    return True
