from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run_tmxd, subprocess_env, tmxd_argv
from metrics_fixture import build
from tmxd.metrics.recorder import Recorder

WINDOW = ["--since", "2026-11-10T00:00Z", "--until", "2026-11-15T00:00Z"]


@pytest.fixture()
def fixture_db(tmp_path: Path) -> tuple[Path, Path]:
    p, q = tmp_path / "proj", tmp_path / "other"
    p.mkdir()
    q.mkdir()
    db = tmp_path / "fixture.db"
    with Recorder.open(db) as rec:
        build(rec, p, q)
    return db, p


def run_in_zone(tz: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_tmxd(*args, env={"TZ": tz})


def test_empty_database_is_friendly(hermetic_env: Path) -> None:
    proc = run_tmxd("report", "--all-projects")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("nothing recorded yet — run `tmxd hooks install`")
    assert not (hermetic_env / "state" / "metrics.db").exists()  # a reader creates nothing


def test_inside_a_project_the_report_covers_that_project(
    fixture_db: tuple[Path, Path], tmp_path: Path
) -> None:
    db, project = fixture_db
    (project / ".taskmaster" / "tasks").mkdir(parents=True)
    (project / ".taskmaster" / "tasks" / "tasks.json").write_text('{"master": {"tasks": []}}')
    inside = run_tmxd("report", "--db", str(db), *WINDOW, "--format", "json", cwd=project)
    out = json.loads(inside.stdout)
    assert out["filters"]["project"] == str(project.resolve())
    assert out["summary"]["tasks_in_project"] == 5  # not the other project's task
    every = run_tmxd(
        "report", "--db", str(db), *WINDOW, "--all-projects", "--format", "json", cwd=project
    )
    assert json.loads(every.stdout)["summary"]["tasks_in_project"] == 6
    text = run_tmxd("report", "--db", str(db), *WINDOW, "--all-projects", cwd=project).stdout
    assert "· all projects" in text.splitlines()[0]
    both = run_tmxd("report", "--db", str(db), "-p", str(project), "--all-projects")
    assert both.returncode == 2
    assert "exclude each other" in both.stderr


def test_empty_results_say_what_was_empty(fixture_db: tuple[Path, Path], tmp_path: Path) -> None:
    db, project = fixture_db
    args = ["report", "--db", str(db), "-p", str(project), *WINDOW]
    task = run_tmxd(*args, "--task", "999")
    assert task.returncode == 0, task.stderr
    assert task.stdout.startswith("nothing recorded for task 999 in project proj between ")
    assert "hooks install" not in task.stdout
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    unknown = run_tmxd("report", "--db", str(db), "-p", str(stranger), "--format", "json")
    out = json.loads(unknown.stdout)
    assert out["empty"] is True
    assert out["message"].startswith(f"nothing recorded for project stranger yet: {stranger}")


def test_json_in_a_local_zone(fixture_db: tuple[Path, Path]) -> None:
    db, project = fixture_db
    # POSIX TZ "XYZ-2" is UTC+2 without needing the tz database.
    proc = run_in_zone(
        "XYZ-2", "report", "--db", str(db), "-p", str(project), *WINDOW, "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    s = out["summary"]
    assert (s["total_tasks"], s["success_rate"], s["avg_execution_time"]) == (5, 0.4, 120.0)
    assert (s["avg_tool_calls"], s["total_time"]) == (10.0, 600.0)
    assert [d["done"] for d in out["throughput"]] == [0, 2, 2, 1, 1, 0]
    utc = run_in_zone(
        "UTC0", "report", "--db", str(db), "-p", str(project), *WINDOW, "--format", "json"
    )
    assert [d["done"] for d in json.loads(utc.stdout)["throughput"]] == [0, 2, 2, 2, 0]


def test_text_shows_local_times(fixture_db: tuple[Path, Path]) -> None:
    db, project = fixture_db
    proc = run_in_zone("XYZ-2", "report", "--db", str(db), "-p", str(project), *WINDOW)
    assert proc.returncode == 0, proc.stderr
    assert "2026-11-14 01:30" in proc.stdout  # task 5's done, stored as 23:30Z
    assert re.search(r"total tasks +5  agent executions finished", proc.stdout)


def test_output_files(fixture_db: tuple[Path, Path], tmp_path: Path) -> None:
    db, _project = fixture_db
    (tmp_path / "out").mkdir()
    for fmt, name in (("html", "r.html"), ("markdown", "r.md")):
        target = tmp_path / "out" / name
        proc = run_tmxd(
            "report", "--db", str(db), *WINDOW, "--all-projects", "--format", fmt, "-o", str(target)
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == ""
        assert f"wrote {target}" in proc.stderr
        assert target.read_text(encoding="utf-8")
    assert (tmp_path / "out" / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_output_in_a_missing_folder_is_refused_and_creates_nothing(
    fixture_db: tuple[Path, Path], tmp_path: Path
) -> None:
    db, _project = fixture_db
    target = tmp_path / "typo" / "dir" / "r.html"
    args = ["report", "--db", str(db), *WINDOW, "--all-projects", "--format", "html"]
    proc = run_tmxd(*args, "-o", str(target))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        f"error: {target.parent}: no such folder; create it first "
        f"(mkdir -p {target.parent}) or write r.html somewhere that exists\n"
    )
    assert not (tmp_path / "typo").exists()
    target.parent.mkdir(parents=True)  # positive control: once the folder is there
    again = run_tmxd(*args, "-o", str(target))
    assert again.returncode == 0, again.stderr
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_an_inverted_window_is_a_usage_error(fixture_db: tuple[Path, Path]) -> None:
    db, _project = fixture_db
    base = ["report", "--db", str(db), "--all-projects"]
    proc = run_tmxd(*base, "--since", "2026-11-15", "--until", "2026-11-10", env={"TZ": "UTC"})
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        "error: --since 2026-11-15 (2026-11-15 00:00) is after --until 2026-11-10 "
        "(2026-11-11 00:00); give a --since before --until\n"
    )
    # the day after --until's day: the same moment, still an empty window
    same = run_tmxd(*base, "--since", "2026-11-11", "--until", "2026-11-10")
    assert same.returncode == 2 and "is the same moment as --until 2026-11-10" in same.stderr
    # a span back from now after an explicit end (the user's case), and a --since in the
    # future, whose window would end now
    span = run_tmxd(*base, "--since", "7d", "--until", "2000-01-01")
    assert span.returncode == 2 and span.stderr.startswith("error: --since 7d (")
    future = run_tmxd(*base, "--since", "2999-01-01")
    assert future.returncode == 2 and ", the default --until); give a --since" in future.stderr
    for out in (same, span, future):
        assert out.stderr.count("\n") == 1 and out.stdout == ""
    # positive control: --since before --until, even by one day, reports
    ok = run_tmxd(*base, "--since", "2026-11-10", "--until", "2026-11-10", "--format", "json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["window"]["until"].startswith("2026-11-1")


def test_sparklines_fit_the_terminal_width(fixture_db: tuple[Path, Path]) -> None:
    from tmxd.taskmaster.text import width

    db, _project = fixture_db
    # 138 days: one cell a day would not fit 60 or 100 columns
    args = ["report", "--db", str(db), "--all-projects", "--since", "2026-07-01"]
    args += ["--until", "2026-11-15"]
    wide = run_tmxd(*args, env={"COLUMNS": "400", "TZ": "UTC"}).stdout.splitlines()
    assert wide[2].startswith("done per day  ") and wide[2].endswith(
        "  6 in 138 days (2026-07-01 → 2026-11-15)"
    )  # positive control: a wide terminal keeps one cell a day beside the figures
    assert width(wide[2]) == 14 + 138 + 41
    for columns, label, cells in ((100, "done per 2 days", 69), (60, "done per 3 days", 46)):
        out = run_tmxd(*args, env={"COLUMNS": str(columns), "TZ": "UTC"})
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[2] == f"{label}  6 in 138 days (2026-07-01 → 2026-11-15)"
        assert lines[4].startswith("open tasks       ")
        assert width(lines[3]) == width(lines[5]) == 2 + cells
        assert all(width(line) <= columns for line in lines[2:6]), out.stdout
    # JSON keeps one entry a day whatever the width
    js = run_tmxd(*args, "--format", "json", env={"COLUMNS": "60", "TZ": "UTC"})
    assert len(json.loads(js.stdout)["throughput"]) == 138


def test_task_and_tag_filters(fixture_db: tuple[Path, Path]) -> None:
    db, _project = fixture_db
    every = [*WINDOW, "--all-projects", "--format", "json"]
    proc = run_tmxd("report", "--db", str(db), *every, "--tag", "feat")
    assert json.loads(proc.stdout)["summary"]["tasks_changed"] == 1
    proc = run_tmxd("report", "--db", str(db), *every, "--task", "3")
    assert json.loads(proc.stdout)["summary"]["total_tasks"] == 3


def test_bad_since_is_a_usage_error() -> None:
    proc = run_tmxd("report", "--since", "yesterday")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: --since 'yesterday': expected a span like 7d")
    assert "Traceback" not in proc.stderr


def test_newer_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    Recorder.open(db).close()
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
        "VALUES ('tmxd', 'm999_future', 'x')"
    )
    conn.commit()
    conn.close()
    proc = run_tmxd("report", "--db", str(db))
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: {db}: written by a newer tmxd")
    assert "Traceback" not in proc.stderr


def test_external_sqlite3_reads_the_database(fixture_db: tuple[Path, Path]) -> None:
    db, _project = fixture_db
    script = (
        "import sqlite3, sys, json\n"
        "c = sqlite3.connect(f'file:{sys.argv[1]}?mode=ro', uri=True)\n"
        "rows = c.execute('SELECT p.name, t.task_id, count(*) FROM transitions t "
        "JOIN projects p ON p.id = t.project_id GROUP BY 1, 2 ORDER BY 1, 2').fetchall()\n"
        "ok = c.execute('SELECT sum(success), count(*) FROM executions').fetchone()\n"
        "print(json.dumps([rows, ok]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(db)], capture_output=True, text=True, check=True
    )
    rows, ok = json.loads(proc.stdout)
    assert rows == [
        ["other", "1", 1],
        ["proj", "1", 3],
        ["proj", "2", 2],
        ["proj", "3", 5],
        ["proj", "4", 4],
        ["proj", "5", 2],
    ]
    assert ok == [3, 7]


def test_stale_hours_default_comes_from_project_config(fixture_db: tuple[Path, Path]) -> None:
    db, project = fixture_db
    args = ["report", "--db", str(db), "-p", str(project), *WINDOW, "--format", "json"]
    # Task 4 has been in progress since 2026-11-13 06:00Z: stale by now under 24 h.
    assert [r["task"] for r in json.loads(run_tmxd(*args).stdout)["stale_in_progress"]] == ["4"]
    (project / ".taskmaster").mkdir()
    (project / ".taskmaster" / "tmxd.toml").write_text("[metrics]\nstale_hours = 1000000.0\n")
    assert json.loads(run_tmxd(*args).stdout)["stale_in_progress"] == []
    again = run_tmxd(*args, "--stale-hours", "1")
    assert [r["task"] for r in json.loads(again.stdout)["stale_in_progress"]] == ["4"]


def _report_env(**extra: str) -> dict[str, str]:
    env = subprocess_env(extra)
    for key in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "COLUMNS"):
        if key not in extra:
            env.pop(key, None)
    return env


@pytest.mark.parametrize(
    ("env", "coloured"),
    [
        ({}, False),  # a pipe
        ({"FORCE_COLOR": "1"}, True),
        ({"CLICOLOR_FORCE": "1"}, True),
        ({"FORCE_COLOR": "0"}, False),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, True),  # forcing wins
        ({"NO_COLOR": "1"}, False),
    ],
)
def test_colour_in_a_pipe_follows_the_environment(
    fixture_db: tuple[Path, Path], env: dict[str, str], coloured: bool
) -> None:
    db, project = fixture_db
    proc = subprocess.run(
        tmxd_argv("report", "--db", str(db), "-p", str(project), *WINDOW),
        env=_report_env(**env), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert ("\x1b[" in proc.stdout) is coloured
    assert "total tasks" in proc.stdout


def _on_a_terminal(args: list[str], env: dict[str, str], cols: int) -> str:
    """Run tmxd with its stdout on a real pseudo-terminal of ``cols`` columns."""
    import fcntl
    import os
    import pty
    import struct
    import termios

    main_fd, child_fd = pty.openpty()
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, cols, 0, 0))
    proc = subprocess.Popen(tmxd_argv(*args), env=env, stdout=child_fd, stderr=subprocess.PIPE)
    os.close(child_fd)
    chunks = []
    while True:
        try:
            data = os.read(main_fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main_fd)
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_on_a_terminal_colour_and_width_follow_it(fixture_db: tuple[Path, Path]) -> None:
    import re

    from tmxd.taskmaster.text import width

    db, project = fixture_db
    args = ["report", "--db", str(db), "-p", str(project), *WINDOW]
    out = _on_a_terminal(args, _report_env(), 64)
    assert "\x1b[" in out
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out)
    assert all(width(line) <= 64 for line in plain.splitlines()[1:]), plain  # the sparklines too
    assert "\x1b[" not in _on_a_terminal(args, _report_env(NO_COLOR="1"), 64)


def _one_run_db(tmp_path: Path, **outcome: object) -> tuple[Path, Path]:
    """A database with one finished execution of task 1 (``outcome`` as for ``finish``)."""
    from metrics_fixture import finish

    project = tmp_path / "proj"
    project.mkdir(parents=True)
    db = tmp_path / "runs.db"
    with Recorder.open(db) as rec:
        finish(rec, rec.execution_started(project, "1", 1, "medium", "claude"), **outcome)
    return db, project


def _summary_value(text: str, label: str) -> str:
    """The value column of a summary row (``  total time   0.7s  their durations…``)."""
    line = next(line for line in text.splitlines() if line.strip().startswith(label + "  "))
    return re.split(r"\s{2,}", line.strip())[1]


def test_sub_second_durations_keep_a_decimal_in_every_summary_figure(tmp_path: Path) -> None:
    db, project = _one_run_db(tmp_path, duration_ms=660.0)
    text = run_tmxd("report", "--db", str(db), "-p", str(project)).stdout
    # one execution: its total and its average are the same 0.66 s, shown the same way
    assert _summary_value(text, "total time") == "0.7s", text
    assert _summary_value(text, "avg execution time") == "0.7s", text
    db2, project2 = _one_run_db(tmp_path / "b", duration_ms=42_000.0)
    text2 = run_tmxd("report", "--db", str(db2), "-p", str(project2)).stdout
    assert _summary_value(text2, "total time") == "42s"  # control: whole seconds


def _interrupt_db(tmp_path: Path) -> tuple[Path, Path]:
    """Task 1: a success; task 2: stopped by Ctrl-C, then killed and recovered; task 3: a
    real failure (the control); and before WINDOW, task 9 stopped by the daemon."""
    from datetime import UTC, datetime, timedelta

    from metrics_fixture import finish

    project = tmp_path / "proj"
    project.mkdir()
    db = tmp_path / "i.db"
    start = datetime(2026, 11, 12, 9, tzinfo=UTC)
    outcomes = [
        ("1", {}),
        ("2", {"success": False, "exit_code": None, "error": "interrupted"}),
        ("2", {"success": False, "exit_code": None, "error": "interrupted: the run was killed; "
               "recovered by a later run"}),
        ("3", {"success": False, "exit_code": 1, "error": "tests failed: test_x"}),
    ]  # fmt: skip
    with Recorder.open(db) as rec:
        for i, (task, outcome) in enumerate(outcomes):
            began = start + timedelta(minutes=i)
            ex = rec.execution_started(project, task, 1, "medium", "claude", at=began)
            finish(rec, ex, at=began + timedelta(seconds=10), **outcome)
        began = datetime(2026, 11, 1, 9, tzinfo=UTC)
        ex = rec.execution_started(project, "9", 1, "medium", "claude", at=began)
        stopped = {"success": False, "exit_code": None, "error": "interrupted: SIGTERM"}
        finish(rec, ex, at=began + timedelta(seconds=10), **stopped)
    return db, project


# all time: the running totals; a window that leaves a run out: the executions themselves
@pytest.mark.parametrize(("window", "stopped"), [([], 3), (WINDOW, 2)], ids=["all", "window"])
def test_an_interrupted_execution_is_not_a_failure(
    tmp_path: Path, window: list[str], stopped: int
) -> None:
    db, project = _interrupt_db(tmp_path)
    args = ["report", "--db", str(db), "-p", str(project), *window]
    out = json.loads(run_tmxd(*args, "--format", "json").stdout)
    s = out["summary"]
    finished = 2 + stopped
    assert (s["total_tasks"], s["succeeded"], s["failed"], s["interrupted"]) == (
        finished,
        1,
        1,
        stopped,
    )
    assert s["success_rate"] == 0.5  # 1 of the 2 that reached a verdict
    assert s["total_time"] == 10.0 * finished  # the interrupted runs' time was spent all the same
    assert [r["reason"] for r in out["failure_reasons"]] == ["tests failed: test_x"]
    assert [(a["executions"], a["succeeded"], a["interrupted"]) for a in out["agents"]] == [
        (finished, 1, stopped)
    ]
    text = run_tmxd(*args).stdout
    assert _summary_value(text, "success rate") == "50.0% (1/2)", text
    assert _summary_value(text, "interrupted") == str(stopped)
    assert "interrupted" not in text.split("Failure reasons")[1].split("\n\n")[0]
