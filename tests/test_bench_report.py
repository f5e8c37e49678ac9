"""scripts/bench_report.py runs end to end with tiny sizes (the numbers are not judged here)."""

from __future__ import annotations

import subprocess
import sys

from helpers import REPO_ROOT, subprocess_env


def test_bench_report_prints_each_measure_beside_its_baseline() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "bench_report.py"),
         "--executions", "3000", "--transitions", "600", "--records", "600", "--runs", "1"],
        capture_output=True, text=True, env=subprocess_env(), timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for label in (
        "bulk insert, Recorder.store (600 rows)",
        "tmxd report --format json (all time)",
        "tmxd report --format json (--since 30d)",
        "Prometheus scrape, uncached",
    ):
        (row,) = [line for line in out.splitlines() if line.startswith(label)]
        assert "target" in row and "x the baseline (" in row, row
    assert "[3,000 executions, 60 tasks]" in out
