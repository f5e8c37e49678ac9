"""The daemon benchmark script runs end to end (tiny sizes; the numbers are not judged here)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import REPO_ROOT, subprocess_env


@pytest.mark.slow
def test_bench_daemon_runs_and_reports_every_measure() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "bench_daemon.py"),
            "--edits",
            "3",
            "--commits",
            "2",
            "--idle-seconds",
            "1",
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for label in ("edit -> transition p95", "commit -> note p95", "idle CPU", "idle RSS"):
        assert label in proc.stdout
    assert proc.stdout.count("target <=") == 4
