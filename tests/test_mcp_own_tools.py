"""tmxd's own MCP tools against the commands that show the same things."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from helpers import copy_corpus, git, init_repo, scripted_agent
from metrics_fixture import build
from tmxd import clock
from tmxd.autopilot import state
from tmxd.cli import main
from tmxd.mcp.own_tools import TMXD_TOOLS
from tmxd.mcp.tools import TASK_MASTER_TOOLS, call
from tmxd.mcp.workspace import Workspace
from tmxd.metrics.recorder import Recorder

TOOLS = {tool.name: tool for tool in (*TASK_MASTER_TOOLS, *TMXD_TOOLS)}


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder.open() as rec:
        yield rec


def answer(ws: Workspace, name: str, **args: Any) -> Any:
    outcome = call(ws, TOOLS[name], args)
    assert not outcome.is_error, outcome.text
    return json.loads(outcome.text)["data"]


def cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    main([*args, "--format", "json"])
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("stem", ["001", "022", "081", "112", "133"])
def test_ready_tasks_is_the_autopilots_plan(
    tmp_path: Path, stem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_corpus(stem, tmp_path)
    scripted_agent(tmp_path)  # an agent that is there: the dry run plans
    ws = Workspace(tmp_path)
    got = answer(ws, "ready_tasks")
    plan = cli_json(capsys, "autopilot", "--dry-run", "-p", str(tmp_path))
    assert [(t["id"], t["route"], t["reason"]) for t in got["tasks"]] == [
        (u["task"], u["route"], u["reason"]) for u in plan["planned"]
    ]
    assert [(g["id"], g["reason"]) for g in got["waiting"]] == [
        (g["task"], g["reason"]) for g in plan["review"]
    ]
    assert [(w["id"], w["reason"]) for w in got["notReady"]] == [
        (w["task"], w["reason"]) for w in plan["not_ready"]
    ]
    assert got["count"] == len(got["tasks"])
    doc_ids = {t["id"] for t in answer(ws, "get_tasks", withSubtasks=True)["tasks"]}
    assert all(t["id"].split(".")[0] in doc_ids for t in got["tasks"])


TASKS = {
    "master": {
        "tasks": [
            {"id": 1, "title": "Scaffold", "status": "pending", "dependencies": [], "subtasks": []},
            {
                "id": 2,
                "title": "Rotate production credentials",
                "status": "pending",
                "dependencies": [],
                "subtasks": [],
            },
        ]
    }
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    path = root / ".taskmaster" / "tasks" / "tasks.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(TASKS, indent=2), encoding="utf-8")
    init_repo(root)
    return root.resolve()


def test_ready_tasks_names_the_approval_gate(project: Path) -> None:
    got = answer(Workspace(project), "ready_tasks")
    assert [(t["id"], t["route"]) for t in got["tasks"]] == [("1", "medium")]
    assert got["waiting"] == [
        {
            "id": "2",
            "title": "Rotate production credentials",
            "status": "pending",
            "waitingFor": "approval",
            "reason": got["waiting"][0]["reason"],
        }
    ]
    assert "critical" in got["waiting"][0]["reason"]


def test_task_history_shows_what_mcp_and_commits_did(project: Path, recorder: Recorder) -> None:
    ws = Workspace(project, recorder=lambda: recorder)
    answer(ws, "set_task_status", id="1", status="in-progress")
    assert main(["hooks", "install", "-p", str(project)]) == 0
    (project / "a.txt").write_text("a\n")
    git(project, "add", "a.txt")
    git(project, "commit", "-qm", "Scaffold it", "-m", "Task: 1")
    main(["sync", "-p", str(project)])
    answer(ws, "set_task_status", id="1", status="done")
    got = answer(ws, "task_history", id="1")
    assert got["task"] == {"id": "1", "title": "Scaffold", "status": "done"}
    assert [(t["from"], t["to"], t["source"]) for t in got["transitions"]] == [
        ("pending", "pending", "baseline"),  # where tmxd first saw it
        ("pending", "in-progress", "mcp"),
        ("in-progress", "done", "mcp"),
    ]
    assert [c["subject"] for c in got["commits"]] == ["Scaffold it"]
    missing = call(ws, TOOLS["task_history"], {"id": "7"})
    assert missing.is_error and "task 7 not found" in missing.text


def test_task_history_without_a_database_says_so(project: Path) -> None:
    ws = Workspace(project)  # no recorder
    failed = call(ws, TOOLS["task_history"], {"id": "1"})
    assert failed.is_error and "no metrics database" in failed.text


def test_report_summary_is_tmxd_reports(
    project: Path, recorder: Recorder, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    build(recorder, project, other)  # transitions, commits and agent runs of five tasks
    ws = Workspace(project, recorder=lambda: recorder)
    got = answer(ws, "report_summary")
    report = cli_json(capsys, "report", "-p", str(project))
    assert got["summary"] == report["summary"]
    assert got["summary"]["succeeded"] > 0 and got["summary"]["avg_tool_calls"] is not None
    assert got["status"] == report["status"]
    assert got["failure_reasons"] == report["failure_reasons"]
    assert got["filters"]["project"] == str(project)
    assert got["lead_time"] == report["lead_cycle"]["lead_time"]
    earlier = answer(ws, "report_summary", until="2000-01-01")  # a window before it all
    assert earlier["summary"]["succeeded"] == 0 and earlier["summary"]["total_tasks"] == 0
    later = call(ws, TOOLS["report_summary"], {"since": "2099-01-01"})  # ends now: no window
    assert later.is_error and "since 2099-01-01 (" in later.text
    assert "is after now" in later.text and "give a since before until" in later.text
    inverted = call(ws, TOOLS["report_summary"], {"since": "7d", "until": "2000-01-01"})
    assert inverted.is_error and "is after until 2000-01-01" in inverted.text
    bad = call(ws, TOOLS["report_summary"], {"since": "last tuesday"})
    assert bad.is_error and "since 'last tuesday'" in bad.text


def test_autopilot_status_shows_claims_reviews_and_the_breaker(project: Path) -> None:
    held = state.StateFile(project)
    held.claim("master", "1", "pending")
    held.set_review("master", "2", "critical", "needs a person")
    held.decide("master", "3", True, clock.iso_ms(clock.now() - timedelta(hours=1)))
    got = answer(Workspace(project), "autopilot_status")
    assert got["enabled"] is False and got["agent"] == "claude"
    assert got["breaker"]["state"] == "closed"
    assert got["running"] == [
        {"id": "1", "tag": "master", "pid": got["running"][0]["pid"], "alive": True,
         "previousStatus": "pending"}
    ]  # fmt: skip
    assert got["review"] == [
        {"id": "2", "tag": "master", "kind": "critical", "detail": "needs a person"}
    ]
    assert [a["id"] for a in got["approved"]] == ["3"]
    assert got["daemon"]["running"] is False
