"""The scripted stand-in agent speaks stream-json and follows its plan per task."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers import subprocess_env
from tmxd import proc
from tmxd.autopilot.agents import StreamStats, judge


def _run(tmp_path: Path, task: str, plan: dict[str, object], timeout: float = 60) -> tuple:  # type: ignore[type-arg]
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(plan))
    env = subprocess_env(
        {"TMXD_SCRIPTED_PLAN": str(plan_file), "TMXD_SCRIPTED_STATE": str(tmp_path / "state")}
    )
    stats = StreamStats()
    res = proc.run(
        [sys.executable, "-m", "tmxd.autopilot.scripted", task],
        cwd=tmp_path,
        timeout_s=timeout,
        env=env,
        on_stdout_line=stats.feed,
    )
    return res, judge(stats, res.exit_code, timed_out=res.timed_out)


def test_edit_then_fail_times(tmp_path: Path) -> None:
    plan = {
        "tasks": {
            "3": {
                "action": "edit",
                "fail_times": 1,
                "file": "out/x.txt",
                "content": "x\n",
                "cost": 0.5,
            }
        }
    }
    res, outcome = _run(tmp_path, "3", plan)
    assert res.exit_code == 1 and not outcome.success
    assert outcome.error is not None and "scripted failure" in outcome.error
    res, outcome = _run(tmp_path, "3", plan)
    assert outcome.success and outcome.tool_calls == 1 and outcome.cost_usd == 0.5
    assert (tmp_path / "out" / "x.txt").read_text() == "x\n"
    assert (tmp_path / "state" / "runs-3").read_text() == "2"


def test_is_error_malformed_and_hang(tmp_path: Path) -> None:
    _, outcome = _run(tmp_path, "1", {"default": {"action": "is_error"}})
    assert not outcome.success and outcome.error.startswith("is_error: Not logged in")  # type: ignore[union-attr]
    res, outcome = _run(tmp_path, "1", {"default": {"action": "malformed"}})
    assert res.exit_code == 0 and not outcome.success
    assert outcome.error == "no result event (2 malformed lines)"
    res, outcome = _run(tmp_path, "1", {"default": {"action": "hang"}}, timeout=2)
    assert res.timed_out and outcome.error == "timed out"
