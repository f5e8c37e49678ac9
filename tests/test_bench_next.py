"""scripts/bench_next.py runs end to end and reports its timings (timing is not asserted)."""

from __future__ import annotations

import json
import re
from types import ModuleType

import pytest

from helpers import REPO_ROOT, load_script
from tmxd.taskmaster.document import parse_tasks
from tmxd.taskmaster.ops import next_task


def _bench() -> ModuleType:
    return load_script("bench_next")


def test_generated_file_has_a_next_task(tmp_path: object) -> None:
    data = _bench().generated_tasks(40)
    doc = parse_tasks(json.dumps(data), REPO_ROOT / "tasks.json")
    found = next_task(doc, "master")
    # Ready: 21 (after done 20) and every third task; 27 is the first critical one.
    assert found is not None and found.id == "27"


@pytest.mark.slow
def test_bench_runs_without_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--runs", "1", "--startup-runs", "1", "--tasks", "300", "--no-oracle"]
    assert _bench().main(args) == 0
    out = capsys.readouterr().out
    assert "task-master not run: --no-oracle given" in out
    assert "300 tasks: tmxd next      median" in out
    assert re.search(r"133\.json: tmxd next [\d.]+ ms as a process = python [\d.]+ ms", out)
    assert "load + status map + next in process" in out
