from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tmxd.daemon import control
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


def _raw(path: Path, payload: bytes) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(payload)
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    return control.decode(data.strip())


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
