"""The faults a tester found (issue 13), one test each, through what users run.

Commands run in process (``tmxd.cli.main``); the daemon is a real process where the
daemon is the point. docs/reliability.md names the test behind each promise.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import click
import pytest

from daemon_project import make_project, render, tasks_doc, transitions
from daemonproc import DaemonProcess
from helpers import git, run_tmxd, wait_until
from mcp_raw import call_tool, raw_server
from tmxd import fsutil
from tmxd.cli import main
from tmxd.commands import common
from tmxd.daemon import control

TASKS = Path(".taskmaster", "tasks", "tasks.json")

# What a terminal acts on: C0 controls but \n and \t, DEL, C1 controls (ESC is C0).
UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
SGR = re.compile(r"\x1b\[[0-9;]*m")

# Clipboard write, hyperlink, window title, clear screen, DCS, APC, 8-bit CSI/OSC, bell,
# carriage return, and a colour code that hides text.
HOSTILE = (
    "clip\x1b]52;c;cHduZWQ=\x07 link\x1b]8;;https://evil.invalid\x1b\\here\x1b]8;;\x1b\\ "
    "title\x1b]0;owned\x07 clear\x1b[2J\x1b[H dcs\x1bPq#0;2\x1b\\ apc\x1b_x\x1b\\ "
    "c1\x9b31m\x9d0;t\x9c bell\x07 cr\r hide\x1b[8mX"
)


class Cli:
    """``tmxd ARGS`` in this process (``helpers.run_tmxd``): ``(exit code, stdout, stderr)``."""

    def __call__(self, *args: str) -> tuple[int, str, str]:
        result = run_tmxd(*args)
        return result.returncode, result.stdout, result.stderr


class TerminalCli(Cli):
    """As on a terminal with colours on: tmxd colours its output, click keeps the codes."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
        monkeypatch.delenv("NO_COLOR")
        monkeypatch.setattr(common, "use_color", lambda err=False: True)
        monkeypatch.setattr(click.utils, "should_strip_ansi", lambda *a, **k: False)
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(args))
        out = self.capsys.readouterr()
        return code, out.out, out.err


@pytest.fixture
def cli() -> Cli:
    return Cli()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed Task Master project in a git repository; the current directory."""
    root = tmp_path / "p"
    make_project(root)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "add tasks")
    monkeypatch.chdir(root)
    return root


def one_line_error(err: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


# The commands that read tasks.json, each with arguments that would succeed on a good file.
READERS = [
    ["list"],
    ["list", "--with-subtasks", "--format", "json"],
    ["next"],
    ["next", "--format", "json"],
    ["show", "1"],
    ["show", "1.1", "--format", "json"],
    ["validate-dependencies"],
    ["autopilot", "--dry-run"],
]
WRITERS = [
    ["set-status", "1.1", "done"],
    ["update-subtask", "--id", "1.1", "--prompt", "a note"],
]


# -- 1. temp files left by killed writers ----------------------------------------------


def _leftover(folder: Path, name: str, *, pid: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f".{name}{fsutil.TEMP_MARK}{pid}-{os.urandom(4).hex()}{fsutil.TEMP_SUFFIX}"
    path.write_bytes(b"{" * 52_000)  # half of a big tasks.json
    return path


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_sync_removes_the_temp_files_killed_writers_left(
    project: Path, cli: Cli, hermetic_env: Path
) -> None:
    dead = _dead_pid()
    left = [
        _leftover((project / TASKS).parent, "tasks.json", pid=dead),
        _leftover(project / ".git" / "tmxd", "spool.pos", pid=dead),
        _leftover(hermetic_env / "state" / "snapshots", "0123.json", pid=dead),
    ]
    live = _leftover((project / TASKS).parent, "tasks.json", pid=os.getpid())  # mid-write
    code, _out, err = cli("sync")
    assert code == 0, err
    assert [p for p in left if p.exists()] == []
    assert live.exists()
    assert json.loads((project / TASKS).read_text())  # the real file is untouched


def test_the_daemon_removes_leftovers_at_start(
    tmp_path: Path, project: Path, hermetic_env: Path
) -> None:
    """Its own folders before it serves; each project's with the first sync it runs."""
    dead = _dead_pid()
    own = [
        _leftover(hermetic_env / "state", "projects.json", pid=dead),
        _leftover(hermetic_env / "run", "tmxd.pid", pid=dead),
    ]
    beside_tasks = _leftover((project / TASKS).parent, "tasks.json", pid=dead)
    d = DaemonProcess(tmp_path / "daemon.log", "--project", str(project)).start()
    try:
        assert [p for p in own if p.exists()] == []
        assert d.log().count("left by a killed tmxd process") == 2
        wait_until(lambda: not beside_tasks.exists(), what="the leftover beside tasks.json")
        assert json.loads((project / TASKS).read_text())  # the real file is untouched
    finally:
        d.stop()


# -- 2. a symlink loop -------------------------------------------------------------------


def _loop(path: Path) -> str:
    """Make ``path`` a symlink to itself; returns what it held."""
    text = path.read_text()
    path.unlink()
    path.symlink_to(path.name)
    return text


@pytest.mark.parametrize("args", [*READERS, *WRITERS], ids=" ".join)
def test_a_symlink_loop_is_one_line_and_exit_2(project: Path, cli: Cli, args: list[str]) -> None:
    path = project / TASKS
    _loop(path)
    code, _out, err = cli(*args)
    one_line_error(err)
    assert code == 2
    assert "symlink loop" in err
    assert path.is_symlink() and os.readlink(path) == path.name


def test_sync_keeps_commits_while_tasks_json_is_a_symlink_loop(project: Path, cli: Cli) -> None:
    assert cli("hooks", "install")[0] == 0
    (project / "f.txt").write_text("x")
    git(project, "add", "f.txt")
    git(project, "commit", "-q", "-m", "Change\n\nTask: 1.1")
    path = project / TASKS
    text = _loop(path)
    code, _out, err = cli("sync")
    one_line_error(err)
    assert code == 2 and "symlink loop" in err
    path.unlink()
    path.write_text(text)
    assert cli("sync")[0] == 0
    assert "Committed changes: Change " in path.read_text()


# -- 2, 8, 10 through `tmxd mcp`: each tool answers with an error and the server serves on --


def _error_line(result: dict[str, Any]) -> str:
    """The error a tool answered with (Task Master's text: the message, then the version)."""
    assert result["isError"] is True, result
    text: str = result["content"][0]["text"]
    assert text.startswith("Error: ") and "Traceback" not in text, text
    return text.splitlines()[0]


def test_the_mcp_server_answers_each_fault_and_keeps_serving(project: Path) -> None:
    path = project / TASKS
    text = path.read_text()
    server = raw_server(project)
    assert server.stdout is not None and server.stdin is not None
    assert json.loads(server.stdout.readline())["id"] == 1  # initialized
    calls = iter(range(2, 1000))
    try:
        path.chmod(0o444)
        for name, args in (
            ("set_task_status", {"id": "1.1", "status": "done"}),
            ("update_subtask", {"id": "1.1", "prompt": "a note"}),
        ):
            assert "tasks.json is read-only" in _error_line(
                call_tool(server, next(calls), name, **args)
            )
        assert path.read_text() == text and stat.S_IMODE(path.stat().st_mode) == 0o444
        assert [p.name for p in path.parent.iterdir()] == ["tasks.json"]  # no temp, no lock
        path.chmod(0o644)

        nan = text.replace('"priority": "high"', '"priority": NaN', 1)
        path.write_text(nan)
        error = _error_line(call_tool(server, next(calls), "get_tasks"))
        assert re.search(r"line \d+ column \d+: NaN is not valid JSON", error), error
        assert path.read_text() == nan

        _loop(path)
        for name, args in (
            ("get_tasks", {}),
            ("next_task", {}),
            ("get_task", {"id": "1"}),
            ("set_task_status", {"id": "1.1", "status": "done"}),
            ("update_subtask", {"id": "1.1", "prompt": "a note"}),
            ("validate_dependencies", {}),
        ):
            assert "symlink loop" in _error_line(call_tool(server, next(calls), name, **args))
        assert os.readlink(path) == path.name

        path.unlink()
        path.write_text(text)  # fixed: the same server answers again
        result = call_tool(server, next(calls), "set_task_status", id="1.1", status="done")
        assert result["isError"] is False, result
        assert json.loads(path.read_text())["master"]["tasks"][0]["subtasks"][0]["status"] == (
            "done"
        )
    finally:
        _out, err = server.communicate(timeout=120)  # stdin closed: the end
    assert server.returncode == 0, err
    assert "Traceback" not in err, err


# -- 3. escape sequences never reach the terminal ----------------------------------------


def assert_printable(text: str) -> None:
    found = UNPRINTABLE.findall(text)
    assert found == [], f"{found!r} in {text!r}"


def test_a_commit_subject_with_escapes_is_stored_as_is_and_shown_clean(
    project: Path, cli: Cli
) -> None:
    assert cli("hooks", "install")[0] == 0
    (project / "f.txt").write_text("x")
    git(project, "add", "f.txt")
    git(project, "commit", "-q", "-m", f"Fix {HOSTILE}\n\nTask: 1.1")
    subject = f"Fix {HOSTILE}"  # git keeps every byte of it
    assert cli("sync")[0] == 0
    stored = json.loads((project / TASKS).read_text())["master"]["tasks"][0]["subtasks"][0]
    assert subject in stored["details"]  # byte-faithful in tasks.json
    code, out, err = cli("show", "1.1")
    assert code == 0, err
    assert_printable(out + err)
    assert "Committed changes: Fix clip link" in out  # the words are still there
    code, out, _ = cli("show", "1.1", "--format", "json")
    assert subject in json.loads(out)["task"]["details"]  # JSON output: the same data
    assert_printable(out)  # JSON escapes what a terminal would act on
    code, out, err = cli("report")
    assert code == 0, err
    assert_printable(out + err)


def _hostile_project(root: Path) -> Path:
    """Every kind of task text carries escape sequences: titles, details, ids, statuses,
    priorities, dependencies and the tag name."""
    doc: dict[str, Any] = tasks_doc()
    tasks = doc["master"]["tasks"]
    for task in tasks:
        task["title"] += HOSTILE
        task["description"] = HOSTILE
        task["details"] = f"line one {HOSTILE}\nline two"
        task["testStrategy"] = HOSTILE
    tasks[1]["priority"] = "high\x1b]0;p\x07"
    tasks[2]["id"] = "3\x1b]0;id\x07"
    tasks[2]["status"] = "pending\x1b[8m"
    tasks[1]["dependencies"] = [1, "9\x1b]0;dep\x07"]
    tasks[0]["subtasks"][1]["title"] = HOSTILE
    doc["feat\x1b]0;tag\x07"] = {"tasks": [tasks[0]], "metadata": {}}
    path = root / TASKS
    path.write_text(render(doc))
    return path


HOSTILE_COMMANDS = [
    ["list"],
    ["list", "--with-subtasks"],
    ["list", "all"],
    ["next"],
    ["show", "1"],
    ["show", "1.2"],
    ["show", "1,2,3\x1b]0;id\x07"],
    ["show", "7\x1b]0;missing\x07"],
    ["validate-dependencies"],
    ["list", "--tag", "feat\x1b]0;tag\x07"],
    ["set-status", "1.1", "in-progress"],
    ["set-status", "3\x1b]0;id\x07", "done"],
    ["update-subtask", "--id", "1.2", "--prompt", HOSTILE],
    ["autopilot", "--dry-run"],
    ["report"],
    ["report", "--format", "markdown"],
    ["doctor"],
]


@pytest.mark.parametrize("colour", [False, True], ids=["pipe", "terminal"])
def test_task_text_with_escapes_is_printed_clean_by_every_command(
    project: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    colour: bool,
) -> None:
    _hostile_project(project)
    # on a terminal tmxd's own colours are on, the data's never
    cli = TerminalCli(capsys, monkeypatch) if colour else Cli()
    before = (project / TASKS).read_bytes()
    coloured = False
    for args in HOSTILE_COMMANDS:
        _code, out, err = cli(*args)
        coloured = coloured or bool(SGR.search(out))
        text = SGR.sub("", out + err) if colour else out + err
        assert_printable(text)
        assert "\x1b[8m" not in out + err, args  # the data's own colour code is gone
    assert coloured is colour
    assert (project / TASKS).read_bytes() != before
    after = json.loads((project / TASKS).read_text())["master"]["tasks"]
    assert f"\n{HOSTILE}\n</info added on " in after[0]["subtasks"][1]["details"]  # as given


def test_json_output_keeps_the_data_and_escapes_c1_controls(project: Path, cli: Cli) -> None:
    _hostile_project(project)
    code, out, _ = cli("show", "1", "--format", "json")
    assert code == 0
    assert_printable(out)
    assert json.loads(out)["task"]["title"].endswith(HOSTILE)


# -- 4, 5, 7. the control socket under load ----------------------------------------------


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


def test_300_parallel_status_requests_and_3000_idle_connections(
    tmp_path: Path, project: Path, cli: Cli
) -> None:
    d = DaemonProcess(tmp_path / "daemon.log", "--project", str(project)).start()
    try:
        assert d.proc is not None
        pid = d.proc.pid
        baseline = _threads(pid)
        outcomes: list[str] = []
        lock = threading.Lock()

        def ask() -> None:
            try:
                control.request("status", timeout=60)
                what = "answer"
            except control.DaemonBusy:
                what = "busy"
            except Exception as exc:  # anything else is the bug
                what = f"{type(exc).__name__}: {exc}"
            with lock:
                outcomes.append(what)

        askers = [threading.Thread(target=ask) for _ in range(300)]
        for thread in askers:
            thread.start()
        for thread in askers:
            thread.join(120)
        assert len(outcomes) == 300
        assert set(outcomes) <= {"answer", "busy"}, sorted(set(outcomes))
        assert outcomes.count("answer") > 0
        idle = []
        try:
            for _ in range(3000):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.setblocking(False)
                try:
                    sock.connect(str(control.socket_path()))
                except BlockingIOError:
                    sock.close()
                    continue
                idle.append(sock)
            # no thread per connection (the scheduler's pool may have started a few)
            assert _threads(pid) <= baseline + 10
        finally:
            for sock in idle:
                sock.close()
        wait_until(lambda: cli("status")[0] == 0, what="the daemon to answer again")
        code, out, err = cli("status")
        assert code == 0 and "running" in out, err
    finally:
        d.stop()


# -- 8. a read-only tasks.json ----------------------------------------------------------


@pytest.mark.parametrize("args", WRITERS, ids=" ".join)
def test_a_read_only_tasks_json_is_refused(project: Path, cli: Cli, args: list[str]) -> None:
    path = project / TASKS
    path.chmod(0o444)
    before = path.read_bytes()
    code, _out, err = cli(*args)
    one_line_error(err)
    assert code == 2 and "tasks.json is read-only" in err
    assert path.read_bytes() == before
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert [p.name for p in path.parent.iterdir()] == ["tasks.json"]  # no temp, no lock
    # nothing to write is no refusal: the status it already has
    assert cli("set-status", "2", "pending")[0] == 0


def test_the_daemon_logs_a_read_only_tasks_json_once_and_resumes(
    tmp_path: Path, project: Path, cli: Cli
) -> None:
    assert cli("hooks", "install")[0] == 0
    path = project / TASKS
    d = DaemonProcess(tmp_path / "daemon.log", "--project", str(project)).start()
    try:
        wait_until(lambda: d.status()["projects"][0].get("baseline"), what="the baseline")
        path.chmod(0o444)
        before = path.read_bytes()
        for n in range(3):
            (project / f"f{n}.txt").write_text("x")
            git(project, "add", ".")
            git(project, "commit", "-q", "-m", f"Change {n}\n\nTask: 1.1")
            wait_until(
                lambda: d.status()["projects"][0].get("sync_error"), what="the write refusal"
            )
            control.request("reconcile")  # a retry as the timer would make it
        wait_until(lambda: d.status()["queue"] == 0, what="the engine to be idle")
        assert path.read_bytes() == before
        assert "is read-only" in str(d.status()["projects"][0]["sync_error"])
        assert d.log().count("is read-only") == 1, d.log()
        path.chmod(0o644)
        control.request("reconcile")
        wait_until(
            lambda: all(f"Change {n} " in path.read_text(encoding="utf-8") for n in range(3)),
            what="the three notes once tasks.json is writable",
        )
        wait_until(
            lambda: d.status()["projects"][0]["sync_error"] is None, what="the error to clear"
        )
    finally:
        d.stop()


# -- 9. every file tmxd creates is private ------------------------------------------------


def test_every_folder_tmxd_creates_is_private_each_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None
) -> None:
    from tmxd import paths
    from tmxd.metrics.recorder import Recorder

    shared = tmp_path / "shared"  # a world-readable folder: what tmxd makes below it is not
    shared.mkdir(mode=0o755)
    monkeypatch.setenv("TMXD_STATE_DIR", str(shared / "state" / "tmxd"))
    assert paths.state_dir().is_dir()
    with Recorder.open(shared / "db" / "metrics" / "m.db"):
        pass
    made = {
        p.relative_to(shared).as_posix(): stat.S_IMODE(p.stat().st_mode)
        for p in shared.rglob("*")
        if p.is_dir()
    }
    assert made == {name: 0o700 for name in ("state", "state/tmxd", "db", "db/metrics")}
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # it existed: it keeps its mode


def test_every_file_tmxd_creates_is_private_wherever_it_is(
    tmp_path: Path,
    project: Path,
    cli: Cli,
    hermetic_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    umask_022: None,
) -> None:
    shared = tmp_path / "shared"  # a world-readable folder outside the state dir
    shared.mkdir(mode=0o755)
    monkeypatch.setenv("TMXD_DB", str(shared / "metrics.db"))
    assert cli("hooks", "install")[0] == 0
    (project / "f.txt").write_text("x")
    git(project, "add", "f.txt")
    git(project, "commit", "-q", "-m", "Change\n\nCloses-Task: 1.1")
    assert cli("sync")[0] == 0
    assert cli("set-status", "2", "in-progress")[0] == 0
    assert cli("report", "-o", str(shared / "report.md"))[0] == 0
    d = DaemonProcess(shared / "daemon.log", "--project", str(project)).start()
    try:
        assert cli("watch", "add", str(project))[0] == 0
        wait_until(lambda: d.status()["projects"][0].get("baseline"), what="the baseline")
    finally:
        d.stop()
    hooks_dir = project / ".git" / "hooks"
    created = [
        p
        for folder in (hermetic_env / "state", hermetic_env / "run", shared, project / ".git")
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink()
    ]
    tmxd_files = [
        p
        for p in created
        if p.parent == shared
        or hermetic_env in p.parents
        or (project / ".git" / "tmxd") in p.parents
    ]
    names = {p.name for p in tmxd_files}
    assert {"metrics.db", "report.md", "daemon.log", "ledger.jsonl", "projects.json"} <= names
    loose = {
        str(p): oct(stat.S_IMODE(p.stat().st_mode))
        for p in tmxd_files
        if stat.S_IMODE(p.stat().st_mode) & 0o077 and p != d.stderr_path  # the test's own
    }
    assert loose == {}
    # hooks are programs git runs, not data: executable, like git's own samples
    assert all(os.access(h, os.X_OK) for h in hooks_dir.iterdir() if h.name.startswith("post-"))


def test_the_metrics_journal_is_private(tmp_path: Path, umask_022: None) -> None:
    """What waits for a busy database (the journal, its lock, a claimed file) is private."""
    from tmxd.metrics import records
    from tmxd.metrics.journal import Journal

    journal = Journal(tmp_path / "metrics.db")
    journal.append([records.event(tmp_path, "held", {})])
    (claimed,) = journal.claim()
    journal.append([records.event(tmp_path, "later", {})])
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in journal.dir.iterdir()}
    assert {journal.path.name, claimed.name} <= set(modes)
    assert set(modes.values()) == {0o600}, modes
    assert stat.S_IMODE(journal.dir.stat().st_mode) == 0o700


# -- 10. NaN and Infinity; duplicate ids --------------------------------------------------


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("args", [*READERS, *WRITERS], ids=" ".join)
def test_nan_and_infinity_are_exit_2_with_line_and_column(
    project: Path, cli: Cli, constant: str, args: list[str]
) -> None:
    path = project / TASKS
    text = path.read_text().replace('"priority": "high"', f'"priority": {constant}', 1)
    path.write_text(text)
    line = text[: text.index(constant)].count("\n") + 1
    column = text.index(constant) - text.rfind("\n", 0, text.index(constant))
    code, _out, err = cli(*args)
    one_line_error(err)
    assert code == 2
    assert f"line {line} column {column}: {constant} is not valid JSON" in err
    assert path.read_text() == text


@pytest.mark.slow
def test_the_daemon_reports_nan_like_invalid_json(tmp_path: Path, project: Path) -> None:
    path = project / TASKS
    d = DaemonProcess(tmp_path / "daemon.log", "--project", str(project)).start()
    try:
        wait_until(lambda: d.status()["projects"][0].get("baseline"), what="the baseline")
        text = path.read_text().replace('"priority": "low"', '"priority": NaN', 1)
        path.write_text(text)
        error = wait_until(lambda: d.status()["projects"][0].get("error"), what="the error")
        assert re.search(r"line \d+ column \d+: NaN is not valid JSON", str(error)), error
        assert path.read_text() == text
        # logged once a half-written save is ruled out (the daemon looks again after a grace)
        wait_until(lambda: "NaN is not valid JSON" in d.log(), what="the error in the log")
        path.write_text(render(tasks_doc(t2="in-progress")))
        wait_until(lambda: ("2", "pending", "in-progress", "external") in transitions())
        wait_until(lambda: d.status()["projects"][0]["error"] is None, what="the error to clear")
        assert d.log().count("NaN is not valid JSON") == 1
    finally:
        d.stop()


def test_validate_dependencies_reports_duplicate_ids(project: Path, cli: Cli) -> None:
    doc = tasks_doc()
    tasks = doc["master"]["tasks"]
    tasks.append(dict(tasks[2], title="Another task 3"))
    tasks[0]["subtasks"].append(dict(tasks[0]["subtasks"][0], title="Another 1.1"))
    (project / TASKS).write_text(render(doc))
    code, out, _ = cli("validate-dependencies", "--format", "json")
    assert code == 1
    found = [(i["type"], i["taskId"]) for i in json.loads(out)["issues"]]
    assert found == [("duplicate", "3"), ("duplicate", "1.1")]
    code, out, _ = cli("validate-dependencies")
    assert "DUPLICATE" in out and "Task id 3 is used by 2 tasks" in out
    code, out, _ = cli("validate-dependencies", "--like-cli", "--format", "json")
    assert code == 0 and json.loads(out)["issues"] == []  # the CLI does not check


def test_an_error_quoting_odd_input_stays_one_line(project: Path, cli: Cli) -> None:
    """Found by the fuzzer: an id with a newline in it made a two-line error."""
    code, _out, err = cli("show", "--id=1,9\n9\x1b]0;t\x07")
    one_line_error(err)
    assert code == 2 and "9\\n9" in err
    assert_printable(err)
