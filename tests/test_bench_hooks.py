"""scripts/bench_hooks.py runs end to end and prints its ratio (timing is not asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import load_script


def test_bench_runs_and_reports_a_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_script("bench_hooks")
    assert bench.main(["--commits", "2"]) == 0
    out = capsys.readouterr().out
    assert "ratio tmxd/none:" in out
    assert "spool lines written  7" in out  # 5 warm-up rounds + 2 measured, one line each
    assert Path(bench.__file__).name == "bench_hooks.py"
