"""The checks run once on the untouched tree, with real git and a real check process."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from helpers import init_repo, subprocess_env
from tmxd.autopilot import baseline
from tmxd.autopilot.validation import Check

# The check counts its runs and exits with the code in a file, both outside the repository
# (so they are not part of the tree the baseline remembers).
PROBE = 'echo run >> "$1"; echo "probe output"; exit "$(cat "$2")"\n'


class Probe:
    def __init__(self, tmp_path: Path) -> None:
        self.repo = init_repo(tmp_path / "repo")
        self.state = tmp_path / "state"
        self.runs = tmp_path / "runs"
        self.code = tmp_path / "code"
        script = tmp_path / "probe.sh"
        script.write_text(PROBE)
        self.check = Check("probe", ("sh", str(script), str(self.runs), str(self.code)), False)
        self.lines: list[str] = []
        self.now = 1000.0
        self.exits(0)

    def exits(self, code: int) -> None:
        self.code.write_text(f"{code}\n")

    def count(self) -> int:
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0

    def require(self, reuse_failure_s: float = 0.0, *, checks: list[Check] | None = None) -> None:
        baseline.require_passing(
            [self.check] if checks is None else checks,
            self.repo,
            top=self.repo,
            exclude=[],
            state_dir=self.state,
            timeout_s=60,
            tail_lines=20,
            env=subprocess_env(),
            cancel=threading.Event(),
            out=self.lines.append,
            reuse_failure_s=reuse_failure_s,
            wall_clock=lambda: self.now,
        )


@pytest.fixture
def probe(tmp_path: Path) -> Probe:
    return Probe(tmp_path)


def test_a_pass_is_remembered_for_the_same_tree(probe: Probe) -> None:
    probe.require()
    probe.require()
    assert probe.count() == 1
    assert probe.lines == ["checks before any change: probe"]
    assert (probe.state / baseline.FILE_NAME).stat().st_mode & 0o777 == 0o600
    (probe.repo / "new.txt").write_text("a change\n")  # another tree: checked again
    probe.require()
    assert probe.count() == 2


def test_a_failure_stops_the_run_with_the_checks_output(probe: Probe) -> None:
    probe.exits(1)
    with pytest.raises(baseline.BaselineFailed) as failed:
        probe.require()
    assert str(failed.value).startswith("the checks fail before any change: ")
    assert "--no-baseline" in str(failed.value)
    assert any("probe output" in line for line in probe.lines)
    with pytest.raises(baseline.BaselineFailed):
        probe.require()  # a failure is not remembered: the checks run again
    assert probe.count() == 2


def test_a_failure_is_reported_again_without_a_run_while_it_is_fresh(probe: Probe) -> None:
    probe.exits(1)
    with pytest.raises(baseline.BaselineFailed) as first:
        probe.require(reuse_failure_s=60)
    probe.now += 59
    with pytest.raises(baseline.BaselineFailed) as again:
        probe.require(reuse_failure_s=60)
    assert probe.count() == 1 and str(again.value) == str(first.value)
    probe.now += 2  # older than a minute: run again, and now it passes
    probe.exits(0)
    probe.require(reuse_failure_s=60)
    assert probe.count() == 2


def test_no_checks_run_nothing(probe: Probe) -> None:
    probe.require(checks=[])
    assert probe.lines == [] and not probe.state.exists()
    probe.require()  # the positive control: a check does run
    assert probe.count() == 1
