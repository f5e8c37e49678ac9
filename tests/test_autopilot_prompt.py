"""The prompt carries the task, its parent, its dependencies' notes and the checks."""

from __future__ import annotations

from dataclasses import dataclass

from tmxd.autopilot.prompt import build


@dataclass
class T:
    id: str
    title: str
    status: str = "pending"
    description: str = ""
    details: str = ""
    test_strategy: str = ""


def test_prompt_for_a_subtask_has_everything() -> None:
    parent = T("5", "Build the CLI", description="A command line", details="Use click.")
    dep = T("5.1", "Parse args", status="done", details="<info added on X>\nUsed argparse\n</info>")
    task = T(
        "5.2",
        "Add --json",
        description="Print JSON",
        details="Mirror task-master next",
        test_strategy="Golden files",
    )
    text = build(task, parent=parent, dependencies=[dep], validation=["pytest -q"], tag="master")
    assert text.startswith("You are implementing Task Master subtask 5.2 (tag master)")
    for fragment in [
        "# 5.2: Add --json",
        "## Description\nPrint JSON",
        "## Parent task\n5: Build the CLI\nA command line\nUse click.",
        "## Details\nMirror task-master next",
        "## Test strategy\nGolden files",
        "- 5.1 [done] Parse args",
        "Used argparse",
        "these checks must pass: pytest -q.",
        "Do not change this task's status (no edit of .taskmaster/tasks/tasks.json, no "
        "Closes-Task: trailer, no set-status): tmxd sets it from the checks' verdict.",
    ]:
        assert fragment in text


def test_long_dependency_notes_keep_their_end() -> None:
    dep = T("1", "Old", status="done", details="x" * 5000 + "THE END")
    text = build(T("2", "New"), parent=None, dependencies=[dep], validation=[], tag="t")
    assert "THE END" in text
    assert "x" * 2100 not in text
    assert "Task Master task 2" in text
    assert "checks must pass" not in text


def test_with_tmxds_mcp_tools_task_updates_go_through_them() -> None:
    task = T("3.1", "Add a flag")
    text = build(task, parent=T("3", "CLI"), dependencies=[], validation=[], tag="master", mcp=True)
    rules = text.split("## Rules\n", 1)[1]
    assert "mcp__tmxd__update_subtask (id 3.1;" in rules
    assert "mcp__tmxd__get_task" in rules and "Leave statuses to tmxd" in rules
    plain = build(task, parent=None, dependencies=[], validation=[], tag="master")
    assert "mcp__tmxd__" not in plain  # an agent without the server is not told about it
