from __future__ import annotations

import contextlib
import json
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import wait_until
from tmxd import paths
from tmxd.cli import main
from tmxd.daemon import client, control
from tmxd.errors import DaemonNotRunning, InputError, TmxdError


def _handler(cmd: str, args: dict[str, Any]) -> dict[str, Any]:
    if cmd == "echo":
        return {"echo": args}
    if cmd == "fail":
        raise TmxdError("tasks.json: broken; fix it")
    if cmd == "crash":
        raise RuntimeError("boom")
    raise TmxdError(f"unknown request {cmd!r}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[control.ControlServer]:
    srv = control.ControlServer(tmp_path / "t.sock", _handler)
    srv.start()
    yield srv
    srv.stop()


def _send(path: Path, payload: bytes) -> bytes:
    """Send raw bytes as a client would; the answer line as it came."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(path))
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(payload)
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return data


def _raw(path: Path, payload: bytes) -> dict[str, Any]:
    return control.decode(_send(path, payload).strip())


def test_request_round_trip(server: control.ControlServer) -> None:
    result = control.request("echo", {"a": 1, "ü": "ß"}, path=server.path)
    assert result == {"echo": {"a": 1, "ü": "ß"}}


def test_socket_is_private(server: control.ControlServer) -> None:
    mode = stat.S_IMODE(server.path.stat().st_mode)
    assert mode == 0o600
    assert stat.S_ISSOCK(server.path.stat().st_mode)


def test_handler_error_becomes_control_error(server: control.ControlServer) -> None:
    with pytest.raises(control.ControlError, match=r"tasks\.json: broken; fix it"):
        control.request("fail", path=server.path)


def test_unexpected_exception_is_answered_not_fatal(server: control.ControlServer) -> None:
    with pytest.raises(control.ControlError, match="internal error in crash: boom"):
        control.request("crash", path=server.path)
    assert control.request("echo", path=server.path) == {"echo": {}}


def test_wrong_protocol_version_is_refused(server: control.ControlServer) -> None:
    reply = _raw(server.path, b'{"v": 99, "id": 7, "cmd": "echo"}\n')
    assert reply["ok"] is False
    assert reply["id"] == 7
    assert "protocol version 99 is not supported" in reply["error"]
    assert "tmxd stop && tmxd start" in reply["error"]


def test_bad_json_is_answered(server: control.ControlServer) -> None:
    reply = _raw(server.path, b"this is not json\n")
    assert reply["ok"] is False
    assert reply["error"].startswith("bad request:")
    reply = _raw(server.path, b'{"v": 1, "cmd": 5}\n')
    assert reply["ok"] is False
    assert "`cmd` must be a string" in reply["error"]


def test_every_reply_carries_the_version(server: control.ControlServer) -> None:
    reply = _raw(server.path, b'{"v": 1, "id": "x", "cmd": "echo", "args": {"k": 2}}\n')
    assert reply == {
        "v": control.PROTOCOL_VERSION,
        "id": "x",
        "ok": True,
        "result": {"echo": {"k": 2}},
    }


def test_no_daemon_is_exit_code_3(tmp_path: Path) -> None:
    with pytest.raises(DaemonNotRunning, match="start it with `tmxd start`") as info:
        control.request("ping", path=tmp_path / "missing.sock")
    assert info.value.exit_code == 3
    assert control.is_running(tmp_path / "missing.sock") is False


def test_stale_socket_file_counts_as_not_running(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))  # bound, never listening: what a killed daemon leaves
    with pytest.raises(DaemonNotRunning):
        control.request("ping", path=path)


def test_server_replaces_a_stale_socket_and_removes_it_on_stop(tmp_path: Path) -> None:
    path = tmp_path / "s.sock"
    path.write_text("left over")
    srv = control.ControlServer(path, _handler)
    srv.start()
    assert control.request("echo", path=path) == {"echo": {}}
    srv.stop()
    assert not path.exists()


def test_too_long_socket_path_is_an_input_error(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 120) / "tmxd.sock"
    with pytest.raises(InputError, match="set TMXD_RUNTIME_DIR"):
        control.check_path_length(deep)


def test_default_socket_is_in_the_runtime_dir(hermetic_env: Path) -> None:
    assert control.socket_path() == hermetic_env / "run" / "tmxd.sock"


# -- under load: bounded threads, busy answers, limits, a client that retries -----------


def _strict(data: bytes) -> dict[str, Any]:
    """A reply parsed as JSON proper (NaN or Infinity in it would fail)."""
    return json.loads(data, parse_constant=lambda name: pytest.fail(f"{name} in a reply"))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[" * 200_000 + b"]" * 200_000 + b"\n", "longer than"),
        (b"[" * 30_000 + b"]" * 30_000 + b"\n", "nested deeper"),
        (
            b'{"v": 1, "id": 1, "cmd": "echo", "args": {"a": ' + b"[" * 40 + b"]" * 40 + b"}}\n",
            "nested deeper",
        ),
        (b'{"v": 1, "id": NaN, "cmd": "echo"}\n', "NaN is not JSON"),
        (b'{"v": 1, "id": 1, "cmd": "echo", "args": {"x": -Infinity}}\n', "Infinity is not JSON"),
        (b'{"v": 1, "id": [1], "cmd": "echo"}\n', "`id` must be"),
    ],
    ids=["huge", "deep", "deep-args", "nan-id", "infinity", "list-id"],
)
def test_hostile_requests_get_a_json_answer(
    server: control.ControlServer, payload: bytes, reason: str
) -> None:
    reply = _strict(_send(server.path, payload))
    assert reply["ok"] is False
    assert reply["error"].startswith("bad request:") and reason in reply["error"]
    assert control.request("echo", path=server.path) == {"echo": {}}  # still serving


def test_a_result_json_cannot_hold_is_an_error_not_nan(tmp_path: Path) -> None:
    srv = control.ControlServer(tmp_path / "n.sock", lambda cmd, args: {"x": float("nan")})
    srv.start()
    try:
        reply = _strict(_send(srv.path, b'{"v": 1, "id": 3, "cmd": "x"}\n'))
    finally:
        srv.stop()
    assert reply["ok"] is False and reply["id"] == 3 and "internal error" in reply["error"]


def _control_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("tmxd-control")]


def test_idle_connections_never_add_threads(server: control.ControlServer) -> None:
    before = _control_threads()
    assert len(before) == control.WORKERS + 1
    idle = []
    try:
        for _ in range(1000):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(str(server.path))
            idle.append(sock)
        assert _control_threads() == before
    finally:
        for sock in idle:
            sock.close()
    # once the idle clients are gone the workers are free again
    assert control.request("echo", {"n": 1}, path=server.path, retry_for=30) == {"echo": {"n": 1}}
    assert _control_threads() == before


def test_a_full_queue_is_answered_busy_and_the_client_retries(tmp_path: Path) -> None:
    release = threading.Event()
    blocking = threading.Event()

    def slow(cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        if cmd == "block":
            blocking.set()
            release.wait(120)
        return {"cmd": cmd}

    srv = control.ControlServer(tmp_path / "q.sock", slow, workers=1, queue_size=1)
    srv.start()
    blockers = [
        threading.Thread(
            target=control.request, args=("block",), kwargs={"path": srv.path, "timeout": 120}
        )
        for _ in range(2)
    ]
    try:
        blockers[0].start()  # takes the one worker
        wait_until(blocking.is_set, what="the worker to be busy")
        blockers[1].start()  # waits in the queue
        wait_until(srv._queue.full, what="the queue to fill")
        reply = _strict(_send(srv.path, b'{"v": 1, "id": 1, "cmd": "echo"}\n'))
        assert reply == {"v": 1, "ok": False, "busy": True, "error": control.BUSY}
        with pytest.raises(control.DaemonBusy) as info:
            control.request("echo", path=srv.path, retry_for=0.3)
        assert info.value.exit_code == 1 and "\n" not in info.value.message
        # a client that keeps retrying gets its answer once the daemon catches up
        late: list[dict[str, Any]] = []
        waiter = threading.Thread(
            target=lambda: late.append(
                control.request("echo", path=srv.path, retry_for=60, timeout=120)
            )
        )
        waiter.start()
        release.set()
        waiter.join(120)
        assert late == [{"cmd": "echo"}]
    finally:
        release.set()
        for thread in blockers:
            thread.join(120)
        srv.stop()


@pytest.fixture
def full_backlog(tmp_path: Path) -> Iterator[Path]:
    """A socket whose listener never accepts and whose backlog is full (EAGAIN)."""
    path = tmp_path / "run" / control.SOCKET_NAME
    path.parent.mkdir()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(0)
    queued = []
    try:
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.setblocking(False)
            queued.append(sock)
            try:
                sock.connect(str(path))
            except BlockingIOError:
                break
        yield path
    finally:
        for sock in queued:
            sock.close()
        listener.close()


def _count_attempts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    attempts: list[str] = []
    once = control._request_once

    def counted(cmd: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        attempts.append(cmd)
        return once(cmd, *args, **kwargs)

    monkeypatch.setattr(control, "_request_once", counted)
    return attempts


@pytest.mark.slow
def test_a_full_backlog_is_retried_then_one_line_exit_1(
    full_backlog: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    attempts = _count_attempts(monkeypatch)
    with pytest.raises(control.DaemonBusy, match="busy"):
        control.request("ping", path=full_backlog, retry_for=0.2)
    assert len(attempts) > 1
    monkeypatch.setenv("TMXD_RUNTIME_DIR", str(full_backlog.parent))
    for command in ("status", "stop", "reload", "start"):
        attempts.clear()
        assert main([command]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: the daemon is busy") and err.count("\n") == 1
        assert len(attempts) > 3  # retried with backoff before giving up
    # a busy daemon runs: `start` started no second one
    assert not (paths.state_dir() / client.STDERR_NAME).exists()


def test_a_refused_connection_is_retried_only_while_the_daemon_lives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts = _count_attempts(monkeypatch)
    path = tmp_path / control.SOCKET_NAME
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))  # bound, not listening: ECONNREFUSED
    with pytest.raises(DaemonNotRunning):
        control.request("ping", path=path, retry_for=30)
    assert len(attempts) == 1  # no daemon process: no retry
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / control.PID_NAME).write_text(f"{sleeper.pid}\n")
        attempts.clear()
        with pytest.raises(DaemonNotRunning) as info:
            control.request("ping", path=path, retry_for=0.5)  # a live daemon: retried
        assert len(attempts) > 1
        assert info.value.exit_code == 3
    finally:
        sleeper.kill()
        sleeper.wait()
