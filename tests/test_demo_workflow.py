"""The workflow steps of ``tmxd demo``, each run on its own in a fresh demo project."""

from __future__ import annotations

import re

import pytest

from tmxd.demo import workflow
from tmxd.demo.runner import run_demo, steps


def test_workflow_steps_run_last_in_the_demo() -> None:
    funcs = [s.func for s in steps()]
    ours = [
        workflow.step_unnamed_commits,
        workflow.step_cascade,
        workflow.step_notify,
        workflow.step_stale,
    ]
    assert funcs[-len(ours) :] == ours


@pytest.mark.slow
def test_workflow_steps_show_each_rule_with_a_real_daemon() -> None:
    lines: list[str] = []
    run_demo(lines.append, only=["name no task", "last subtask", "Event commands", "Stale work"])
    text = "\n".join(lines)
    assert text.count("$ tmxd start") == 3 and text.count("tmxd stopped (pid ") == 3
    # a commit naming no task: on the one in progress, then on none
    inferred = r"Committed changes: Describe the wheel build \(\w{7}\) .* \(linked: the only"
    assert re.search(inferred, text)
    assert "names no task and 2 tasks are in progress: linked to none" in text
    assert "unlinked: 1 commit(s) named no task" in text
    # the cascade: init's setting, the editor's change, the parent following
    assert "    cascade_external = true" in text
    cascade = r"task (\d+)\.\d+ [\w-]+ -> done \(external\)\n    task \1 [\w-]+ -> done \(cascade\)"
    assert re.search(cascade, text)
    # the notify command got each field as one argument, the hostile title inert
    assert "      [task-ready]" in text
    assert '      [Tag the release "v1.0"; $(say hi)]' in text
    # the stale rule, through the report
    assert "Stale in progress" in text
