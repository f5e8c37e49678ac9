"""Every autopilot mode, driven through the real Claude Code CLI.

``tmxd autopilot`` (and the daemon) start the real ``claude -p``, pointed at the
loopback Messages stub (tests/claude_stub.py), which plays a model that writes the
file each task asks for into the directory Claude Code says it works in — or
nothing, or into ``.git/``, which Claude Code refuses. What is checked is what a
user would see: files, commits, merges, statuses, notes and the metrics rows.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from autopilot_support import (
    add_tests,
    assert_one_task_interrupted,
    details,
    executions,
    make_project,
    project_venv,
    statuses,
    task,
)
from claude_stub import Script, claude_binary, messages_stub, working_directory
from daemonproc import DaemonProcess
from helpers import git, run_tmxd, subprocess_env, tmxd_argv, wait_until
from tmxd import paths
from tmxd.autopilot import worktrees
from tmxd.commits import hooks, spool
from tmxd.metrics.recorder import Recorder

CLAUDE = claude_binary()
pytestmark = pytest.mark.skipif(
    CLAUDE is None,
    reason="Claude Code CLI not installed (npm @anthropic-ai/claude-code); "
    "run scripts/install-claude-code — npm was unreachable",
)


def writes(name: str, content: str) -> str:
    """Task details asking for one file (what the stub's model follows)."""
    return f"Create the file `{name}` containing `{content}`."


def claude_project(root: Path, tasks: list[dict[str, Any]], config: str = "") -> None:
    make_project(
        root,
        tasks,
        config=f'agent = "claude"\nclaude_bin = "{CLAUDE}"\nmax_turns = 6\n' + config,
    )
    hooks.install(root)


@contextmanager
def model(script: Script) -> Iterator[dict[str, str]]:
    with messages_stub(script) as url:
        yield {"ANTHROPIC_BASE_URL": url, "ANTHROPIC_API_KEY": "test-key-not-real"}


def tmxd(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``tmxd ARGS -p ROOT`` in this process (the agents it starts are real processes)."""
    return run_tmxd(*args, "-p", str(root), cwd=root, env=env)


def commits_by_task(root: Path) -> dict[str, tuple[str, str]]:
    """Task id → (short sha, subject) of the commits that carry a Task: trailer."""
    out = git(root, "log", "--no-merges", "--format=%h%x00%s%x00%(trailers:key=Task,valueonly)")
    found = {}
    for record in out.strip().splitlines():
        sha, subject, trailer = [*record.split("\0"), "", ""][:3]
        if trailer.strip():
            found[trailer.strip()] = (sha, subject)
    return found


@pytest.mark.slow
def test_sequential_commits_each_task_and_its_note_lands(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    claude_project(
        root,
        [
            task(1, "Write the greeting", details=writes("hello.txt", "hello")),
            task(2, "Write the farewell", [1], details=writes("bye.txt", "bye")),
        ],
    )
    script = Script()
    with model(script) as env:
        result = tmxd(root, env, "autopilot")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (root / "hello.txt").read_text() == "hello\n"
    assert (root / "bye.txt").read_text() == "bye\n"
    assert statuses(root) == {"1": "done", "2": "done"}
    assert [w[0] for w in script.writes] == [str(root), str(root)]
    commits = commits_by_task(root)
    assert {t: s for t, (_, s) in commits.items()} == {
        "1": "Write the greeting",
        "2": "Write the farewell",
    }
    for tid, (sha, subject) in commits.items():
        assert f"Committed changes: {subject} ({sha})" in details(root, tid)
    assert "autopilot: 2 done, 0 failed, 0 to review, 0 interrupted; 2 attempt(s)" in (
        result.stdout
    )
    rows = executions(paths.db_path())
    assert [(r["task_id"], r["success"], r["tool_calls"]) for r in rows] == [
        ("1", 1, 1),
        ("2", 1, 1),
    ]
    assert all(r["agent"] == "claude" and r["permission_denials"] is None for r in rows)


@pytest.mark.slow
def test_parallel_merges_each_and_a_conflict_waits_for_approve(tmp_path: Path) -> None:
    """Tasks 1-3 run at once and merge; task 4 (started while 1 ran) writes the file task
    1 wrote, so its merge conflicts and it waits in review; resolved, approve merges it."""
    root = tmp_path / "proj"
    claude_project(
        root,
        [
            task(1, "Shared one", priority="high", details=writes("shared.txt", "one")),
            task(2, "Own file", priority="high", details=writes("two.txt", "two")),
            task(3, "Third file", priority="high", details=writes("three.txt", "three")),
            task(4, "Shared four", details=writes("shared.txt", "four")),
        ],
    )
    script = Script()
    # 1 finishes only once 4 has started (from a HEAD without shared.txt); 4 only once
    # 1 is merged: so 4's merge is the one that conflicts
    script.gates = {
        "/task-1": lambda: script.started_in("/task-4"),
        "/task-4": lambda: (root / "shared.txt").exists(),
    }
    # the agent program (the real claude) is there: the dry run plans what the run does
    planned = tmxd(root, {}, "autopilot", "--dry-run", "--parallel", "3", "--format", "json")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert [u["task"] for u in json.loads(planned.stdout)["planned"]] == ["1", "2", "3", "4"]
    with model(script) as env:
        result = tmxd(root, env, "autopilot", "--parallel", "3", "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    # the hook lines of the run's own git work (worktrees cleaned into spares) are drained
    assert spool.Spool(root / ".git").pending().lines == 0
    data = json.loads(result.stdout)
    outcomes = {r["task"]: r["outcome"] for r in data["results"]}
    assert outcomes == {"1": "done", "2": "done", "3": "done", "4": "review"}
    base = worktrees.base_dir(root)
    assert {w[0] for w in script.writes} == {str(base / f"task-{i}") for i in "1234"}
    rows = {r["task_id"]: r for r in executions(paths.db_path())}
    first = [rows[t] for t in "123"]
    assert max(r["started_at"] for r in first) < min(r["finished_at"] for r in first)
    merges = git(root, "log", "--merges", "--format=%s").splitlines()
    assert sorted(merges) == ["Merge task 1: Shared one", "Merge task 2: Own file",
                              "Merge task 3: Third file"]  # fmt: skip
    assert (root / "shared.txt").read_text() == "one\n"
    assert statuses(root) == {"1": "done", "2": "done", "3": "done", "4": "review"}
    assert "merging tmxd/task-4 conflicts in shared.txt" in details(root, "4")
    loser = "4"
    branch = f"tmxd/task-{loser}"

    refused = tmxd(root, {}, "approve", loser)
    assert refused.returncode == 1
    assert f"merging {branch} conflicts in shared.txt" in refused.stderr
    assert statuses(root)[loser] == "review"

    # the user resolves the conflict in the task's own worktree (named in the note: no
    # branch switch, no stash in the project, whose tasks.json tmxd keeps modified),
    # then approves
    kept = base / f"task-{loser}"
    assert f"checked out in {kept}" in details(root, loser)
    assert worktrees.checked_out_at(root, branch) == kept
    git(kept, "merge", "-q", "main", check=False)
    (kept / "shared.txt").write_text("one and four\n")
    git(kept, "commit", "-q", "-am", "Resolve shared.txt")
    assert git(root, "status", "--porcelain").strip() == "M .taskmaster/tasks/tasks.json"
    approved = tmxd(root, {}, "approve", loser)
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.startswith(f"task {loser} approved: merged 2 commit(s) from {branch}")
    assert statuses(root) == {"1": "done", "2": "done", "3": "done", "4": "done"}
    assert (root / "shared.txt").read_text() == "one and four\n"
    assert git(root, "branch", "--list", "tmxd/*").strip() == ""
    assert not kept.exists()
    others = git(root, "worktree", "list").splitlines()[1:]
    assert others and all("/spare-" in w and "(detached HEAD)" in w for w in others)


@pytest.mark.slow
def test_daemon_runs_what_a_closing_commit_unblocked(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    claude_project(
        root,
        [
            task(1, "Design the format", status="in-progress"),
            *[
                task(i, f"Part {i}", [1], details=writes(f"part{i}.txt", f"part {i}"))
                for i in (2, 3, 4)
            ],
        ],
        config="enabled = true\nparallel = 3\n",
    )
    script = Script()
    with model(script) as env:
        daemon = DaemonProcess(tmp_path / "daemon.log", "--project", str(root), env=env).start()
        try:
            wait_until(lambda: daemon.status()["projects"][0].get("baseline"), what="baseline")
            (root / "FORMAT.md").write_text("the format\n")
            git(root, "add", "FORMAT.md")
            git(root, "commit", "-q", "-m", "Design the format\n\nCloses-Task: 1")
            try:
                wait_until(lambda: set(statuses(root).values()) == {"done"}, timeout=300)
            except AssertionError as exc:
                raise AssertionError(f"{exc}; {statuses(root)}; log:\n{daemon.log()}") from None
        finally:
            daemon.stop()
    for i in (2, 3, 4):
        assert (root / f"part{i}.txt").read_text() == f"part {i}\n"
    merges = git(root, "log", "--merges", "--format=%s").splitlines()
    assert sorted(m.split(":")[0] for m in merges) == [f"Merge task {i}" for i in (2, 3, 4)]
    rows = executions(paths.db_path())
    assert sorted(r["task_id"] for r in rows) == ["2", "3", "4"]
    assert all(r["success"] == 1 and r["agent"] == "claude" for r in rows)
    assert "Committed changes: Design the format" in details(root, "1")


def run_failing(root: Path, mode: str, config: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """A one-task project asking for NOTES.md, run sequentially with the model in ``mode``;
    returns the run and the HEAD it started from."""
    claude_project(
        root, [task(1, "Write notes", details=writes("NOTES.md", "notes"))], config=config
    )
    head = git(root, "rev-parse", "HEAD")
    with model(Script(mode=mode)) as env:
        result = tmxd(root, env, "autopilot")
    assert result.returncode == 1, result.stdout + result.stderr
    assert git(root, "rev-parse", "HEAD") == head


def test_a_refused_write_is_not_done(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    run_failing(root, "deny", "max_attempts = 1\n")
    assert statuses(root) == {"1": "blocked"}
    (row,) = executions(paths.db_path())
    assert row["success"] == 0 and row["exit_code"] == 0  # Claude Code said "success"
    denied = json.loads(row["permission_denials"])
    assert [d["tool"] for d in denied] == ["Write"]
    assert denied[0]["target"] == str(root / ".git" / "NOTES.md")
    assert not (root / ".git" / "NOTES.md").exists()
    note = details(root, "1")
    assert f"denied: Claude Code refused Write({root / '.git' / 'NOTES.md'})" in note
    assert "the agent's last words: Done." in note


def test_an_agent_that_changes_nothing_is_not_done(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    run_failing(root, "nothing", 'max_attempts = 1\non_failure = "pending"\n')
    assert statuses(root) == {"1": "pending"}
    assert "no changes: the agent changed no file and made no commit" in details(root, "1")
    (row,) = executions(paths.db_path())
    assert row["success"] == 0 and row["tool_calls"] == 0


# The project's own tests, run in its own virtualenv: answer.txt, once there, must say 42.
ANSWER_TESTS = (
    "from pathlib import Path\n\n\n"
    "def test_answer():\n"
    "    answer = Path('answer.txt')\n"
    "    assert not answer.exists() or answer.read_text() == '42\\n', 'the answer must be 42'\n"
)


@pytest.mark.slow
def test_a_failing_check_is_retried_then_blocked_and_other_tasks_still_run(
    tmp_path: Path,
) -> None:
    """Task 1's work fails the project's test (run with its own virtualenv's pytest) on
    every attempt: retried, then blocked with the output; with the default limits the
    breaker stays closed, so independent task 2 still runs."""
    root = tmp_path / "proj"
    claude_project(
        root,
        [
            task(1, "Write the answer", priority="high", details=writes("answer.txt", "41")),
            task(2, "Write the question", details=writes("question.txt", "why")),
        ],
        config="backoff_base_s = 0.01\n",
    )
    project_venv(root)
    add_tests(root, ANSWER_TESTS)
    head = git(root, "rev-parse", "HEAD")
    with model(Script()) as env:
        result = tmxd(root, env, "autopilot")
    assert result.returncode == 1, result.stdout + result.stderr
    assert statuses(root) == {"1": "blocked", "2": "done"}
    assert "checks before any change: pytest" in result.stdout
    rows = executions(paths.db_path())
    assert [(r["task_id"], r["attempt"], r["success"]) for r in rows] == [
        ("1", 1, 0),
        ("1", 2, 0),
        ("1", 3, 0),
        ("2", 1, 1),
    ]
    assert all(r["error"].startswith("validation failed: pytest") for r in rows[:3])
    note = details(root, "1")
    assert note.count("tmxd autopilot: attempt") == 3
    assert "the answer must be 42" in note
    assert "its changes were saved to" in note
    assert not (root / "answer.txt").exists() and (root / "question.txt").exists()
    assert git(root, "rev-list", "--count", f"{head.strip()}..HEAD").strip() == "1"
    assert "stopped: nothing more is ready" in result.stdout
    assert "circuit breaker" not in result.stdout


def _read_then_edit_status(body: dict[str, Any], turn: int) -> list[dict[str, Any]]:
    """A model following Task Master's workflow: it reads tasks.json, writes its answer,
    then marks its own task done — one tool call a turn."""
    cwd = working_directory(body)
    tasks_json = f"{cwd}/.taskmaster/tasks/tasks.json"
    return [
        {"name": "Read", "input": {"file_path": tasks_json}},
        {"name": "Write", "input": {"file_path": f"{cwd}/answer.txt", "content": "41\n"}},
        {
            "name": "Edit",
            "input": {
                "file_path": tasks_json,
                "old_string": '"status": "in-progress"',
                "new_string": '"status": "done"',
            },
        },
    ][turn : turn + 1]


def _answer_fails_its_test(root: Path) -> Path:
    """One task whose asked-for answer (41) fails the project's own test; one attempt."""
    claude_project(
        root,
        [task(1, "Write the answer", details=writes("answer.txt", "41"))],
        config="max_attempts = 1\n",
    )
    project_venv(root)
    add_tests(root, ANSWER_TESTS)
    return root


def test_a_model_that_marks_its_task_done_and_fails_the_checks_is_not_done(
    tmp_path: Path,
) -> None:
    """The model follows Task Master's workflow: it writes its answer, then edits
    tasks.json to mark its own task done. The answer fails the project's test: the
    status it wrote is not trusted, the task is blocked."""
    root = _answer_fails_its_test(tmp_path / "proj")
    script = Script(steps=[partial(_read_then_edit_status, turn=n) for n in range(3)])
    with model(script) as env:
        result = tmxd(root, env, "autopilot", "--format", "json")
    assert result.returncode == 1, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert [(r["task"], r["outcome"], r["status"]) for r in data["results"]] == [
        ("1", "failed", "blocked")
    ]
    assert statuses(root) == {"1": "blocked"}
    (row,) = executions(paths.db_path())
    assert row["success"] == 0 and row["tool_calls"] == 3
    assert row["error"].startswith("validation failed: pytest")
    note = details(root, "1")
    assert "the status 'done' set while the attempt ran (by the agent" in note
    assert "is not trusted; the attempt's outcome decides: blocked" in note
    with Recorder.open() as rec:
        moves = rec.db.execute(
            "SELECT old_status, new_status FROM transitions WHERE source != 'baseline' ORDER BY id"
        ).fetchall()
    assert moves[-1] == ("done", "blocked")


def test_a_model_that_commits_with_closes_task_and_fails_the_checks_is_not_done(
    tmp_path: Path,
) -> None:
    """The model commits its answer with a ``Closes-Task: 1`` trailer (the hooks close the
    task at once). The answer fails the project's test: the commit is taken off the
    branch, its note says so, the task is blocked and a later sync closes nothing."""
    root = _answer_fails_its_test(tmp_path / "proj")
    head = git(root, "rev-parse", "HEAD")
    commit = "git commit -q -m 'Write the answer' -m 'Closes-Task: 1'"
    script = Script(
        steps=[
            lambda body: [
                {
                    "name": "Write",
                    "input": {
                        "file_path": f"{working_directory(body)}/answer.txt",
                        "content": "41\n",
                    },
                }
            ],
            [{"name": "Bash", "input": {"command": "git add answer.txt"}}],
            [{"name": "Bash", "input": {"command": commit}}],
        ]
    )
    with model(script) as env:
        result = tmxd(root, env, "autopilot")
    assert result.returncode == 1, result.stdout + result.stderr
    assert statuses(root) == {"1": "blocked"}
    assert git(root, "rev-parse", "HEAD") == head and not (root / "answer.txt").exists()
    (row,) = executions(paths.db_path())
    assert row["tool_calls"] == 3 and row["permission_denials"] is None
    note = details(root, "1")
    sha = note.split("Committed changes: Write the answer (")[1][:7]
    assert git(root, "branch", "--contains", sha).strip() == ""
    assert "[reverted by tmxd autopilot: attempt 1 of task 1 failed, the commit is on no" in note
    assert "the status 'done' set while the attempt ran (by the agent" in note
    with Recorder.open() as rec:  # on no branch, so out of the metrics too
        recorded = [r[0] for r in rec.db.execute("SELECT sha FROM commits").fetchall()]
    assert not any(full.startswith(sha) for full in recorded), recorded
    assert tmxd(root, {}, "sync").returncode == 0
    assert statuses(root) == {"1": "blocked"}


def test_no_model_call_when_a_tool_is_missing_or_the_checks_fail_already(
    tmp_path: Path,
) -> None:
    root = tmp_path / "proj"
    claude_project(root, [task(1, "Write the answer", details=writes("answer.txt", "42"))])
    add_tests(root, "def test_broken():\n    assert False, 'broken before the run'\n")
    script = Script()
    with model(script) as env:
        missing = tmxd(root, {**env, "PATH": "/usr/bin:/bin"}, "autopilot")
        assert missing.returncode == 1
        assert missing.stderr.startswith("error: pytest: not found in a project virtualenv")
        project_venv(root)
        broken = tmxd(root, env, "autopilot")
    assert broken.returncode == 1
    assert (
        broken.stderr.strip()
        .splitlines()[-1]
        .startswith("error: the checks fail before any change: pytest: pytest exited with code 1")
    )
    assert "broken before the run" in broken.stdout
    assert script.requests == [] and statuses(root) == {"1": "pending"}
    assert executions(paths.db_path()) == []


@pytest.mark.slow
def test_failures_across_tasks_open_the_breaker_and_a_reset_lets_the_next_task_run(
    tmp_path: Path,
) -> None:
    """Tasks 1 and 2 each fail the project's test once (two task runs, breaker_threshold
    = 2): the breaker opens and task 3 does not start; a dry run lists it as waiting for
    the breaker; once the cause is understood, `--reset-breaker` closes it and task 3 runs."""
    root = tmp_path / "proj"
    claude_project(
        root,
        [
            task(1, "Write the answer", details=writes("answer.txt", "41")),
            task(2, "Write another answer", details=writes("answer.txt", "40")),
            task(3, "Write the question", details=writes("question.txt", "why")),
        ],
        config="max_attempts = 1\nbreaker_threshold = 2\n",
    )
    project_venv(root)
    add_tests(root, ANSWER_TESTS)
    script = Script()
    with model(script) as env:
        opened = tmxd(root, env, "autopilot")
        assert opened.returncode == 1, opened.stdout + opened.stderr
        assert statuses(root) == {"1": "blocked", "2": "blocked", "3": "pending"}
        assert "circuit breaker closed → open" in opened.stdout
        assert opened.stdout.splitlines()[-1].startswith(
            "stopped: circuit breaker open: open after 2 failing task run(s) in a row "
            "(2 failed attempt(s); tasks 1, 2)"
        )
        dry = tmxd(root, env, "autopilot", "--dry-run")
        assert dry.returncode == 1
        assert dry.stdout.splitlines()[0].startswith("nothing would start: circuit breaker open")
        assert not [line for line in dry.stdout.splitlines() if line.startswith("run ")]
        assert (
            "wait    3        Write the question: circuit breaker open "
            "(`tmxd autopilot --reset-breaker` closes it)"
        ) in dry.stdout.splitlines()
        reset = tmxd(root, env, "autopilot", "--reset-breaker")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert reset.stdout.splitlines()[0] == (
        "circuit breaker closed by hand (it was open; last failure: validation failed: "
        "pytest: pytest exited with code 1)"
    )
    assert statuses(root) == {"1": "blocked", "2": "blocked", "3": "done"}
    assert (root / "question.txt").read_text() == "why\n"
    rows = executions(paths.db_path())
    assert [(r["task_id"], r["success"], r["agent"]) for r in rows] == [
        ("1", 0, "claude"),
        ("2", 0, "claude"),
        ("3", 1, "claude"),
    ]
    with Recorder.open() as rec:
        changes = rec.db.execute(
            "SELECT data FROM events WHERE kind = 'autopilot.breaker' ORDER BY id"
        ).fetchall()
    assert [(json.loads(d)["from"], json.loads(d)["to"]) for (d,) in changes] == [
        ("closed", "open"),
        ("open", "closed"),
    ]


@pytest.mark.parametrize(
    ("sig", "code", "fmt"), [("SIGINT", 130, "json"), ("SIGTERM", 143, "text")]
)
def test_a_signal_while_claude_code_works_puts_the_task_back_and_names_it(
    tmp_path: Path, sig: str, code: int, fmt: str
) -> None:
    """The user stops the run while Claude Code waits for the model after writing its
    answer: Claude Code's process group ends, the write is saved as a patch and removed,
    the task goes back to pending, and the summary names it (JSON and text)."""
    root = tmp_path / "proj"
    claude_project(root, [task(1, "Write the answer", details=writes("answer.txt", "42"))])
    release = threading.Event()
    script = Script(gates={"proj": release.is_set})  # the answer after the write waits
    with model(script) as env:
        proc = subprocess.Popen(
            tmxd_argv("autopilot", "--format", fmt, "-p", str(root)),
            cwd=root,
            env=subprocess_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_until((root / "answer.txt").exists, timeout=120, what="Claude Code's write")
            assert statuses(root) == {"1": "in-progress"}
            proc.send_signal(getattr(signal, sig))
            out, err = proc.communicate(timeout=120)
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == code, out + err
    assert statuses(root) == {"1": "pending"} and not (root / "answer.txt").exists()
    note = details(root, "1")
    assert "attempt 1 was interrupted; status restored to pending" in note
    patch = Path(note.split("its changes were saved to ")[1].split()[0])
    assert "answer.txt" in patch.read_text()
    (row,) = executions(paths.db_path())
    assert row["agent"] == "claude" and row["success"] == 0 and row["error"] == "interrupted"
    assert_one_task_interrupted(out, fmt, "Write the answer", sig)
