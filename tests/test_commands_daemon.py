"""``tmxd start / stop / status / watch`` as a script sees them: exit codes and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from daemon_project import make_project
from helpers import run_tmxd, run_tmxd_process
from tmxd.cli import main
from tmxd.daemon import control, registry
from tmxd.errors import EXIT_NO_DAEMON


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_status_json_without_a_daemon_says_not_running(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = cli(capsys, "status", "--format", "json")
    assert code == EXIT_NO_DAEMON
    assert json.loads(out) == {"running": False}


def test_stop_without_a_daemon_says_so_and_not_to_start_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = cli(capsys, "stop")
    assert code == EXIT_NO_DAEMON and out == ""
    assert err.strip() == f"error: tmxd is not running (nothing listens on {control.socket_path()})"
    assert "tmxd start" not in err
    code, out, _err = cli(capsys, "stop", "--format", "json")
    assert code == EXIT_NO_DAEMON
    assert json.loads(out) == {"running": False, "stopped": False}


def test_watch_add_and_remove_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_project(tmp_path / "a", git=False)
    root = (tmp_path / "a").resolve()
    code, out, _err = cli(capsys, "watch", "add", str(root), "--format", "json")
    assert code == 0
    assert json.loads(out) == {"root": str(root), "watched": True, "daemon_reloaded": False}
    assert registry.list_projects() == [root]
    code, out, _err = cli(capsys, "watch", "remove", str(root), "--format", "json")
    assert code == 0
    assert json.loads(out) == {"root": str(root), "watched": False, "daemon_reloaded": False}
    assert registry.list_projects() == []


def test_start_status_stop_json_with_a_real_daemon(tmp_path: Path) -> None:
    make_project(tmp_path / "a", git=False)
    # `tmxd start` as a process of its own: it leaves a detached daemon behind when it exits
    started = run_tmxd_process("start", "--format", "json")
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    try:
        assert info["running"] is True and info["started"] is True and info["pid"] > 0
        again = json.loads(run_tmxd("start", "--format", "json").stdout)
        assert again == {"running": True, "started": False, "pid": info["pid"]}
        status = run_tmxd("status", "--format", "json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["running"] is True
        added = run_tmxd("watch", "add", str(tmp_path / "a"), "--format", "json")
        assert json.loads(added.stdout)["daemon_reloaded"] is True
    finally:
        stopped = run_tmxd("stop", "--format", "json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout) == {"running": False, "stopped": True, "pid": info["pid"]}


@pytest.mark.parametrize(
    ("answer", "line"),
    [
        ("absent", "  not watching {given} for you: `tmxd watch add {given}` does"),
        ("inotify", "  already watching {root}"),
        ("not watched", "  {root} is on the daemon's list but not watched: `tmxd status` says why"),
        ("busy", "  {root} is on the watch list (`tmxd watch list`)"),
        ("busy, not registered", "  not watching {given} for you: `tmxd watch add {given}` does"),
    ],
)
def test_start_p_with_a_running_daemon_says_whether_it_watches_the_project(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: str,
    line: str,
) -> None:
    """`tmxd start -p P` while a daemon runs: -p changes nothing, and the line after
    "already running" says so only when P is not the daemon's already."""
    from tmxd.errors import TmxdError

    project = tmp_path / "proj"
    (project / ".taskmaster" / "tasks").mkdir(parents=True)
    (project / ".taskmaster" / "tasks" / "tasks.json").write_text('{"master": {"tasks": []}}')
    root = str(project.resolve())
    if answer == "busy":
        registry.add_project(project)

    def request(cmd: str, args: dict[str, object] | None = None, **_: object) -> dict[str, object]:
        if cmd == "ping":
            return {"pid": 4242}
        if answer.startswith("busy"):
            raise TmxdError("the daemon stayed busy")
        projects = [] if answer == "absent" else [{"root": root, "watch": answer}]
        return {"projects": [{"root": "/elsewhere", "watch": "inotify"}, *projects]}

    monkeypatch.setattr(control, "is_running", lambda *a, **k: True)
    monkeypatch.setattr(control, "request", request)
    code, out, err = cli(capsys, "start", "-p", str(project))
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "tmxd is already running (pid 4242)",
        line.format(given=project, root=root),
    ]


def test_start_with_options_a_running_daemon_lacks_says_so_and_exits_1(tmp_path: Path) -> None:
    """`tmxd start --listen ...` while a daemon runs: --listen is not silently dropped."""
    started = run_tmxd_process("start", "--settle-ms", "150", "--format", "json")
    assert started.returncode == 0, started.stderr
    pid = json.loads(started.stdout)["pid"]
    try:
        asked = run_tmxd("start", "--listen", "127.0.0.1:0", "--settle-ms", "80")
        assert asked.returncode == 1, asked.stdout + asked.stderr
        assert asked.stdout.splitlines() == [
            f"tmxd is already running (pid {pid})",
            "  its options were set when it started; not applied:",
            "    --settle-ms 80 (it uses 150)",
            "    --listen 127.0.0.1:0 (it serves no metrics endpoint)",
            "  to apply them: `tmxd stop`, then `tmxd start --settle-ms 80 --listen 127.0.0.1:0`;"
            " for the service: `tmxd service install -- --settle-ms 80 --listen 127.0.0.1:0`",
        ]
        as_json = run_tmxd("start", "--listen", "127.0.0.1:0", "--format", "json")
        assert as_json.returncode == 1
        assert json.loads(as_json.stdout) == {
            "running": True,
            "started": False,
            "pid": pid,
            "not_applied": ["--listen"],
        }
        # control: options the daemon does run with, given again, are no failure
        same = run_tmxd("start", "--settle-ms", "150", "--max-wait-ms", "1000")
        assert (same.returncode, same.stdout) == (0, f"tmxd is already running (pid {pid})\n")
    finally:
        stopped = run_tmxd("stop")
    assert stopped.returncode == 0, stopped.stderr
