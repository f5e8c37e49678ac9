"""The control socket: how ``tmxd start/stop/status/reload`` talk to the daemon.

A Unix stream socket in :func:`tmxd.paths.runtime_dir` (mode 0600, inside a
0700 directory). Each request and each response is one JSON object on one
line (newline-delimited JSON) carrying the protocol version ``v``::

    -> {"v": 1, "id": 1, "cmd": "status", "args": {}}
    <- {"v": 1, "id": 1, "ok": true, "result": {...}}
    <- {"v": 1, "id": 1, "ok": false, "error": "one line"}

A client that speaks another version gets an error telling it to restart the
daemon. One request per connection keeps the server trivial.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tmxd import paths
from tmxd.errors import DaemonNotRunning, InputError, TmxdError

PROTOCOL_VERSION = 1
SOCKET_NAME = "tmxd.sock"
MAX_LINE = 1 << 20
# Unix socket paths are limited to 108 bytes on Linux and 104 on macOS.
MAX_SOCKET_PATH = 100

log = logging.getLogger("tmxd.control")

Handler = Callable[[str, dict[str, Any]], dict[str, Any]]


def socket_path() -> Path:
    return paths.runtime_dir() / SOCKET_NAME


class ControlError(TmxdError):
    """The daemon answered a request with an error."""


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict[str, Any]:
    """One NDJSON line as a dict; ``ValueError`` for anything else."""
    value = json.loads(line.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("a message must be a JSON object")
    return value


def _read_line(conn: socket.socket) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if b"\n" in chunk or size > MAX_LINE:
            break
    data = b"".join(chunks)
    if size > MAX_LINE:
        raise ValueError(f"message longer than {MAX_LINE} bytes")
    return data.split(b"\n", 1)[0]


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
    as an internal error, so a bad request never takes the daemon down.
    """

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        self._handler = handler
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
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
        sock.listen(16)
        sock.setblocking(False)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="tmxd-control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting, wait for the accept thread, remove the socket file."""
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
        assert self._sock is not None
        try:
            conn, _ = self._sock.accept()
        except (BlockingIOError, InterruptedError):
            return
        threading.Thread(
            target=self._answer, args=(conn,), name="tmxd-control-conn", daemon=True
        ).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.setblocking(True)
            conn.settimeout(10)
            try:
                reply = self._dispatch(_read_line(conn))
            except (OSError, ValueError) as exc:
                reply = {"v": PROTOCOL_VERSION, "ok": False, "error": f"bad request: {exc}"}
            with contextlib.suppress(OSError):
                conn.sendall(encode(reply))

    def _dispatch(self, line: bytes) -> dict[str, Any]:
        request = decode(line)
        reply: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": request.get("id")}
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
) -> dict[str, Any]:
    """Send one request and return its ``result``.

    Raises :class:`DaemonNotRunning` when nothing listens on the socket and
    :class:`ControlError` when the daemon answers with an error.
    """
    target = path or socket_path()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    with sock:
        try:
            sock.connect(str(target))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise DaemonNotRunning(
                f"no tmxd daemon is listening on {target}; start it with `tmxd start`"
            ) from exc
        message = {"v": PROTOCOL_VERSION, "id": next(_request_ids), "cmd": cmd, "args": args or {}}
        try:
            sock.sendall(encode(message))
            line = _read_line(sock)
        except TimeoutError as exc:
            raise ControlError(
                f"the daemon did not answer {cmd!r} within {timeout:g} s; "
                "see its log (`tmxd status` or journalctl --user -u tmxd)"
            ) from exc
        except OSError as exc:
            raise DaemonNotRunning(f"the daemon closed {target} unexpectedly: {exc}") from exc
    if not line:
        raise DaemonNotRunning(f"the daemon on {target} closed the connection without answering")
    try:
        reply = decode(line)
    except ValueError as exc:
        raise ControlError(f"unreadable answer from the daemon on {target}: {exc}") from exc
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error") or "the daemon reported an unknown error"))
    result = reply.get("result")
    return result if isinstance(result, dict) else {}


def is_running(path: Path | None = None, timeout: float = 5.0) -> bool:
    """True when a daemon answers ``ping`` on the socket."""
    try:
        request("ping", timeout=timeout, path=path)
    except (DaemonNotRunning, ControlError):
        return False
    return True
