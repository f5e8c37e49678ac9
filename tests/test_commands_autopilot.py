"""`tmxd autopilot`, `tmxd approve`, `tmxd reject`: parallel graph, kill and resume, signals,
the real Claude Code CLI. Commands run in this process; a real tmxd process where it is the
point: killed, signalled, or driving the real Claude Code CLI as a user's run does."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from autopilot_support import (
    agent_env,
    assert_one_task_interrupted,
    details,
    executions,
    hang_pids,
    make_project,
    runs,
    statuses,
    task,
)
from claude_stub import Script, claude_binary, messages_stub
from helpers import (
    git,
    run_tmxd,
    run_tmxd_process,
    subprocess_env,
    tmxd_argv,
    wait_until,
)
from tmxd import paths
from tmxd.autopilot import worktrees
from tmxd.proc import running


def _tmxd(
    root: Path, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_tmxd(*args, "-p", str(root), cwd=root, env={**agent_env(root), **(extra or {})})


GRAPH = {
    1: [],
    2: [],
    3: [],
    4: [1],
    5: [2],
    6: [3],
    7: [4, 5],
    8: [5, 6],
    9: [7],
    10: [8],
    11: [9, 10],
    12: [11],
}


def _graph_project(root: Path, sleep: float) -> None:
    make_project(
        root,
        [task(i, f"Build part {i}", deps) for i, deps in GRAPH.items()],
        plan={"default": {"action": "edit", "sleep": sleep}},
    )


def _parse(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


@pytest.mark.slow
def test_twelve_task_graph_runs_to_completion_in_parallel_worktrees(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _graph_project(root, sleep=1.0)
    result = _tmxd(root, "autopilot", "--parallel", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "autopilot: 12 done, 0 failed" in result.stdout
    assert statuses(root) == {str(i): "done" for i in GRAPH}
    # Every task's work was merged back with its trailer, in dependency order.
    merges = git(root, "log", "--merges", "--format=%s").splitlines()
    assert len(merges) == 12
    order = [int(s.split()[2].rstrip(":")) for s in reversed(merges)]
    for i, deps in GRAPH.items():
        assert all(order.index(d) < order.index(i) for d in deps)
        assert (root / f"task-{i}.txt").read_text() == f"work for task {i}\n"
    trailers = git(root, "log", "--no-merges", "--format=%(trailers:key=Task,valueonly)")
    assert sorted(int(t) for t in trailers.split()) == list(GRAPH)
    assert git(root, "branch", "--list", "tmxd/*").strip() == ""
    others = git(root, "worktree", "list").splitlines()[1:]
    assert 1 <= len(others) <= 3, "finished worktrees are kept clean as spares, at most 3"
    assert all("/spare-" in w and "(detached HEAD)" in w for w in others)
    log = (tmp_path / "proj-agent-state" / "log").read_text().splitlines()
    base = worktrees.base_dir(root)
    assert len(log) == 12 and all(line.split()[1].startswith(f"{base}/task-") for line in log)
    assert not base.is_relative_to(root), "worktrees live outside the repository"
    rows = executions(paths.db_path())
    assert sorted(int(r["task_id"]) for r in rows) == list(GRAPH)
    assert all(r["success"] == 1 and r["attempt"] == 1 and r["tool_calls"] == 1 for r in rows)
    # Never more than three at once, and some really did overlap.
    spans = [(_parse(r["started_at"]), _parse(r["finished_at"])) for r in rows]
    peak = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert 2 <= peak <= 3
    for i, deps in GRAPH.items():
        start = next(_parse(r["started_at"]) for r in rows if r["task_id"] == str(i))
        for d in deps:
            end = next(_parse(r["finished_at"]) for r in rows if r["task_id"] == str(d))
            assert end <= start


@pytest.mark.slow
def test_killed_run_resumes_without_redoing_finished_tasks(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _graph_project(root, sleep=1.0)
    env = subprocess_env(agent_env(root))
    with (tmp_path / "first.out").open("w") as out:
        first = subprocess.Popen(
            tmxd_argv("autopilot", "--parallel", "3", "-p", str(root)),
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(
            lambda: list(statuses(root).values()).count("done") >= 4,
            timeout=120,
            what="four tasks done before the kill",
        )
        first.kill()
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    done_before = {t for t, s in statuses(root).items() if s == "done"}
    in_flight = {t for t, s in statuses(root).items() if s == "in-progress"}
    assert 4 <= len(done_before) < 12
    second = _tmxd(root, "autopilot", "--parallel", "3")
    assert second.returncode == 0, second.stdout + second.stderr
    # each task in flight at the kill is put back (its work had not landed) or, when the
    # killed run's git finished its merge after all, closed as landed; a note says which
    for t in in_flight:
        assert "tmxd autopilot: an interrupted run was recovered" in details(root, t), t
    restored = {t for t in in_flight if "recovered; status restored to" in details(root, t)}
    if restored:
        assert "recovered interrupted tasks: " in second.stdout
    assert statuses(root) == {str(i): "done" for i in GRAPH}, second.stdout
    for t in done_before:
        assert runs(root, t) == 1, f"task {t} was finished before the kill and ran again"
    assert len(git(root, "log", "--merges", "--format=%s").splitlines()) == 12
    rows = executions(paths.db_path())
    assert all(r["finished_at"] for r in rows), "a killed attempt's row is closed on recovery"
    killed = [r for r in rows if r["success"] == 0]
    assert {r["task_id"] for r in killed} <= in_flight
    assert all(r["error"].startswith("interrupted: the run was killed") for r in killed)
    assert {r["task_id"] for r in rows if r["success"] == 1} == {str(i) for i in GRAPH}


@pytest.mark.parametrize(
    ("sig", "code", "fmt"), [(signal.SIGTERM, 143, "text"), (signal.SIGINT, 130, "json")]
)
def test_signal_ends_the_agent_group_and_restores_the_task(
    tmp_path: Path, sig: signal.Signals, code: int, fmt: str
) -> None:
    root = tmp_path / "proj"
    state_dir = make_project(
        root, [task(1, "Long job", status="pending")], plan={"default": {"action": "hang"}}
    )
    env = subprocess_env(agent_env(root))
    proc = subprocess.Popen(
        tmxd_argv("autopilot", "--task", "1", "--format", fmt, "-p", str(root)),
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pids_file = state_dir / "hang-1.pids"
    try:
        leader, child = wait_until(
            lambda: hang_pids(pids_file), timeout=120, what="the agent to start"
        )
        assert statuses(root) == {"1": "in-progress"}
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == code, out + err
    wait_until(lambda: not (running(leader) or running(child)), what="the agent group to end")
    assert statuses(root) == {"1": "pending"}
    assert "attempt 1 was interrupted; status restored to pending" in details(root, "1")
    rows = executions(paths.db_path())
    assert len(rows) == 1 and rows[0]["success"] == 0 and rows[0]["error"] == "interrupted"
    # the summary lists and counts the interrupted task, and says why the run stopped
    assert_one_task_interrupted(out, fmt, "Long job", sig.name)
    if fmt != "json":
        assert "task 1: interrupted; status restored to pending" in out.splitlines()


def test_approve_and_reject_commands(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Migrate production database"), task(2, "Rotate credentials")])
    result = _tmxd(root, "autopilot", "--once")
    assert result.returncode == 0, result.stderr
    assert statuses(root) == {"1": "review", "2": "review"}
    ok = _tmxd(root, "approve", "1", "--note", "go ahead")
    assert ok.returncode == 0 and ok.stdout.strip().startswith("task 1 approved: pending")
    no = _tmxd(root, "reject", "2")
    assert no.returncode == 0 and no.stdout.strip() == "task 2 rejected: deferred"
    again = _tmxd(root, "approve", "2")
    assert again.returncode == 2
    assert again.stderr.strip() == (
        "error: task 2 is deferred, not waiting in review; nothing to approve or reject"
    )
    run = _tmxd(root, "autopilot", "--format", "json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert [(r["task"], r["route"], r["outcome"]) for r in data["results"]] == [
        ("1", "critical", "done")
    ]
    assert statuses(root) == {"1": "done", "2": "deferred"}
    assert "tmxd: approved: go ahead" in details(root, "1")


def test_dry_run_and_usage_errors(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Fix typo in docs"), task(2, "Payments"), task(3, "x", [1])])
    before = (root / ".taskmaster" / "tasks" / "tasks.json").read_text()
    dry = _tmxd(root, "autopilot", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0].split()[:3] == ["run", "1", "simple"]
    assert dry.stdout.splitlines()[1].split()[:3] == ["review", "2", "approval"]
    assert dry.stdout.splitlines()[2] == "wait    3        x: waits for 1 (pending)"
    assert (root / ".taskmaster" / "tasks" / "tasks.json").read_text() == before
    data = json.loads(_tmxd(root, "autopilot", "--dry-run", "--format", "json").stdout)
    assert data["not_ready"] == [{"task": "3", "title": "x", "reason": "waits for 1 (pending)"}]
    bad = _tmxd(root, "autopilot", "--task", "3")
    assert bad.returncode == 2
    assert bad.stderr.strip() == "error: task 3 is not ready: waits for 1 (pending)"
    zero = _tmxd(root, "autopilot", "--parallel", "0")
    assert zero.returncode == 2
    nowhere = run_tmxd("autopilot", "-p", str(tmp_path / "empty"), cwd=tmp_path)
    assert nowhere.returncode == 2 and nowhere.stderr.startswith("error: ")


def test_dry_run_columns_are_as_wide_as_their_widest_value(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(
        root,
        [
            task(1, "Fix typo in docs"),
            task(4, "Rotate credentials"),
            task(5, "Refactor the storage layer"),
            task(123456789012, "Long id"),
            task(6, "x", [1]),
        ],
    )
    dry = _tmxd(root, "autopilot", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        "run     1            simple    Fix typo in docs  (simple keyword 'typo')",
        "run     123456789012 medium    Long id  (no keyword matched)",
        "review  4            approval  Rotate credentials  (critical keyword 'credentials')",
        "review  5            expansion Refactor the storage layer  (complex keyword 'Refactor')",
        "wait    6            x: waits for 1 (pending)",
    ]
    # control: narrow values keep the 8-wide columns (`expansion` is what widens them)
    narrow = tmp_path / "narrow"
    make_project(narrow, [task(1, "Fix typo in docs"), task(4, "Rotate credentials")])
    lines = _tmxd(narrow, "autopilot", "--dry-run").stdout.splitlines()
    assert lines == [
        "run     1        simple   Fix typo in docs  (simple keyword 'typo')",
        "review  4        approval Rotate credentials  (critical keyword 'credentials')",
    ]


def test_dry_run_with_an_open_breaker_says_nothing_would_start(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "A"), task(2, "B", [1])])
    from tmxd.autopilot import state
    from tmxd.autopilot.resilience import BreakerSnapshot, save_snapshot

    snap = BreakerSnapshot(state="open", failures=3, opened_at=time.time(), reason="boom")
    save_snapshot(state.breaker_path(root), snap)
    dry = _tmxd(root, "autopilot", "--dry-run")
    assert dry.returncode == 1
    lines = dry.stdout.splitlines()
    assert lines[0].startswith("nothing would start: circuit breaker open: open after 3")
    assert "`tmxd autopilot --reset-breaker` closes it now" in lines[0]
    # what would run once it closes waits for it, and says so; nothing says "run"
    assert lines[1] == (
        "wait    1        A: circuit breaker open (`tmxd autopilot --reset-breaker` closes it)"
    )
    assert lines[2] == "wait    2        B: waits for 1 (pending)"
    data = json.loads(_tmxd(root, "autopilot", "--dry-run", "--format", "json").stdout)
    assert data["planned"] == [] and data["not_ready"][0]["task"] == "1"
    refused = _tmxd(root, "autopilot", "--dry-run", "--reset-breaker")
    assert refused.returncode == 2
    reset = _tmxd(root, "autopilot", "--reset-breaker")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert reset.stdout.splitlines()[0] == (
        "circuit breaker closed by hand (it was open; last failure: boom)"
    )
    assert statuses(root) == {"1": "done", "2": "done"}


def test_failed_run_exits_one(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(
        root, [task(1, "Broken")], plan={"default": {"action": "fail"}}, config="max_attempts = 1\n"
    )
    result = _tmxd(root, "autopilot")
    assert result.returncode == 1
    assert "autopilot: 0 done, 1 failed" in result.stdout
    assert statuses(root) == {"1": "blocked"}


def test_the_notify_command_hears_what_the_autopilot_did(tmp_path: Path) -> None:
    from notify_support import append_notify, received, recorder_command

    root = tmp_path / "proj"
    command, out = recorder_command(tmp_path, "{event}", "{task}", "{title}", "{message}")
    hostile = 'Ship it "now"; $(touch pwned)\nreally'
    make_project(
        root,
        [task(1, "Greet the user"), task(2, hostile, [1])],
        plan={"default": {"action": "edit"}, "tasks": {"2": {"action": "fail"}}},
        config="max_attempts = 1\nbreaker_threshold = 1\n",
    )
    append_notify(root, command)
    result = _tmxd(root, "autopilot")
    assert result.returncode == 1, result.stdout + result.stderr
    assert statuses(root) == {"1": "done", "2": "blocked"}
    got = received(out)  # the command has run by the time `tmxd autopilot` exits
    assert [argv[:3] for argv in got] == [  # the failed run opens the breaker, then settles
        ["autopilot-done", "1", "Greet the user"],
        ["breaker-open", "", ""],
        ["autopilot-blocked", "2", hostile],
    ]
    assert got[1][3].startswith("proj: autopilot stopped after 1 failed run(s) in a row (")
    assert got[2][3].startswith("proj: autopilot could not finish task 2, now blocked (")
    assert not (root / "pwned").exists()


def test_a_bad_notify_table_stops_the_autopilot_before_it_starts(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Greet the user")], config='[notify]\non = ["task-done"]\n')
    result = _tmxd(root, "autopilot")
    assert result.returncode == 2
    assert "notify.on: unknown event 'task-done'" in result.stderr
    assert statuses(root) == {"1": "pending"}


CLAUDE = claude_binary()


@pytest.mark.skipif(
    CLAUDE is None,
    reason="Claude Code CLI not installed (npm @anthropic-ai/claude-code); "
    "run scripts/install-claude-code — npm was unreachable",
)
def test_autopilot_drives_the_real_claude_code_cli(tmp_path: Path) -> None:
    """tmxd autopilot → real `claude -p` → loopback Messages stub → a real Write, then done."""
    assert CLAUDE is not None
    root = tmp_path / "proj"
    make_project(
        root,
        [task(1, "Write the greeting file")],
        config=f'agent = "claude"\nclaude_bin = "{CLAUDE}"\nmax_turns = 5\n',
    )
    target = root / "greeting.txt"
    script = Script(
        tool_uses=[{"name": "Write", "input": {"file_path": str(target), "content": "hello\n"}}],
        final_text="Created greeting.txt.",
    )
    with messages_stub(script) as url:
        result = run_tmxd_process(
            "autopilot",
            "--once",
            "-p",
            str(root),
            cwd=root,
            env={
                **agent_env(root),
                "ANTHROPIC_BASE_URL": url,
                "ANTHROPIC_API_KEY": "test-key-not-real",
                "HOME": str(tmp_path / "home"),
            },
            timeout=300,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert target.read_text() == "hello\n"
    assert statuses(root) == {"1": "done"}
    prompt_sent = json.dumps(script.requests[0]["messages"])
    assert "Write the greeting file" in prompt_sent
    (row,) = executions(paths.db_path())
    assert row["agent"] == "claude" and row["success"] == 1 and row["exit_code"] == 0
    assert row["tool_calls"] == 1 and row["turns"] == 2
    assert row["input_tokens"] == 2400 and row["output_tokens"] == 84
    assert row["cost_usd"] > 0 and row["peak_rss_bytes"] > 10 * 1024 * 1024


def test_missing_agent_program_is_one_clear_error(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    make_project(root, [task(1, "A")], config='agent = "claude"\nclaude_bin = "no-such-claude"\n')
    result = _tmxd(root, "autopilot")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: no-such-claude: agent program not found; install Claude Code "
        "(npm install -g @anthropic-ai/claude-code) or set autopilot.claude_bin "
        "in .taskmaster/tmxd.toml"
    )
    assert statuses(root) == {"1": "pending"}


def test_a_dry_run_with_the_agent_program_missing_says_nothing_would_start(
    tmp_path: Path,
) -> None:
    root = tmp_path / "proj"
    make_project(
        root,
        [task(1, "A"), task(2, "Migrate production database"), task(3, "B", [1])],
        config='agent = "claude"\nclaude_bin = "no-such-claude"\n',
    )
    missing = (
        "no-such-claude: agent program not found; install Claude Code "
        "(npm install -g @anthropic-ai/claude-code) or set autopilot.claude_bin "
        "in .taskmaster/tmxd.toml"
    )
    real = _tmxd(root, "autopilot")
    assert real.returncode == 1 and real.stderr.strip() == f"error: {missing}"
    dry = _tmxd(root, "autopilot", "--dry-run")
    # what the real run says, and its exit code; nothing is listed to run or review
    assert dry.returncode == 1, dry.stdout
    why = "the agent program is missing"
    assert dry.stdout.splitlines() == [
        f"nothing would start: {missing}",
        f"wait    1        A: {why}",
        f"wait    2        Migrate production database: {why}",
        "wait    3        B: waits for 1 (pending)",
    ]
    data = json.loads(_tmxd(root, "autopilot", "--dry-run", "--format", "json").stdout)
    assert data["problem"] == missing and data["planned"] == [] and data["review"] == []
    # a missing tool of the checks as well: the agent is named, as a real run names it
    toml = root / ".taskmaster" / "tmxd.toml"
    toml.write_text(
        '[autopilot]\nagent = "claude"\nclaude_bin = "no-such-claude"\n'
        'validate = [["no-such-tool"]]\n'
    )
    both = _tmxd(root, "autopilot", "--dry-run")
    assert both.returncode == 1
    assert both.stdout.splitlines()[0] == f"nothing would start: {missing}"
    # control: an agent program that exists, and the same project would run
    toml.write_text(f'[autopilot]\nagent = "claude"\nclaude_bin = {json.dumps(sys.executable)}\n')
    ok = _tmxd(root, "autopilot", "--dry-run")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines()[0].split()[:2] == ["run", "1"]
    assert statuses(root) == {"1": "pending", "2": "pending", "3": "pending"}
