"""scripts/bench_mcp.py runs end to end and reports its timings (timing is not asserted)."""

from __future__ import annotations

import re
import runpy
from typing import Any

import pytest

from helpers import REPO_ROOT


def _bench() -> dict[str, Any]:
    return runpy.run_path(str(REPO_ROOT / "scripts" / "bench_mcp.py"), run_name="bench_mcp")


@pytest.mark.slow
def test_bench_runs_without_task_master(capsys: pytest.CaptureFixture[str]) -> None:
    assert _bench()["main"](["--cold-runs", "1", "--calls", "3", "--no-oracle"]) == 0
    out = capsys.readouterr().out
    assert "Task Master's server not run: --no-oracle given" in out
    assert re.search(r"python -c \"import mcp\"\s+cold\s+[\d.]+ s", out)
    assert re.search(r"trivial SDK server\s+cold\s+[\d.]+ s\s+warm\s+[\d.]+ ms", out)
    # tmxd names the task `tmxd next` names on 133.json
    assert re.search(r"tmxd mcp\s+cold\s+[\d.]+ s\s+warm\s+[\d.]+ ms .* next_task → 11\.3", out)
    assert re.search(r"tmxd: cold [\d.]+ s \(target <= 1\.5 s\), warm [\d.]+ ms", out)
