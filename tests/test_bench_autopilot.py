"""scripts/bench_autopilot.py runs end to end and reports its timings (timing is not asserted)."""

from __future__ import annotations

import pytest

from helpers import load_script


def test_bench_runs_both_modes_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_script("bench_autopilot")
    assert bench.main(["--files", "60", "--tasks", "3"]) == 0
    out = capsys.readouterr().out
    assert "autopilot, 60-file repository, 3 tasks per mode" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert lines["sequential"].count("ms") == 5 and "x" in lines["sequential"]
    assert "--parallel" in lines
    assert "floor: git add + git commit of one file here" in out
    assert "target: tmxd's own cost per task <= 500 ms (median): " in out
