"""Backoff and circuit breaker: property tests with an injected clock and random source."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tmxd.autopilot.resilience import (
    Backoff,
    BreakerSnapshot,
    CircuitBreaker,
    load_snapshot,
    save_snapshot,
)


class FakeClock:
    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


bases = st.floats(min_value=0.001, max_value=100, allow_nan=False)
caps = st.floats(min_value=0.001, max_value=10_000, allow_nan=False)


@given(base=bases, cap=caps, retry=st.integers(min_value=1, max_value=2000), seed=st.integers())
def test_delay_is_within_full_jitter_bounds(base: float, cap: float, retry: int, seed: int) -> None:
    backoff = Backoff(base, cap, 5)
    delay = backoff.delay(retry, random.Random(seed))
    bound = cap if retry > 60 else min(cap, base * 2.0 ** (retry - 1))
    assert 0.0 <= delay <= bound


@given(base=bases, cap=caps, retry=st.integers(min_value=1, max_value=60))
def test_ceiling_doubles_until_the_cap(base: float, cap: float, retry: int) -> None:
    backoff = Backoff(base, cap, 5)
    first, second = backoff.ceiling(retry), backoff.ceiling(retry + 1)
    assert second >= first
    if base * 2.0**retry <= cap:
        assert second == pytest.approx(2 * first)
    else:
        assert second == cap


def test_full_jitter_spreads_over_the_whole_range() -> None:
    backoff = Backoff(1.0, 60.0, 5)
    rng = random.Random(7)
    delays = [backoff.delay(4, rng) for _ in range(2000)]
    assert min(delays) < 0.5
    assert max(delays) > 7.5
    assert all(0 <= d <= 8 for d in delays)


@given(max_attempts=st.integers(min_value=1, max_value=20))
def test_should_retry_allows_exactly_max_attempts(max_attempts: int) -> None:
    backoff = Backoff(1, 10, max_attempts)
    attempts = 1
    while backoff.should_retry(attempts):
        attempts += 1
    assert attempts == max_attempts


@given(threshold=st.integers(min_value=1, max_value=10))
def test_opens_after_exactly_threshold_consecutive_failures(threshold: int) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold, 60, clock)
    for _ in range(threshold - 1):
        breaker.record_failure("boom")
        assert breaker.state == "closed"
        assert breaker.allow()
    breaker.record_failure("boom")
    assert breaker.state == "open"
    assert not breaker.allow()


@given(threshold=st.integers(min_value=2, max_value=10))
def test_a_success_resets_the_failure_count(threshold: int) -> None:
    breaker = CircuitBreaker(threshold, 60, FakeClock())
    for _ in range(threshold - 1):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(threshold - 1):
        breaker.record_failure()
    assert breaker.state == "closed"


@given(cooldown=st.floats(min_value=1, max_value=10_000), early=st.floats(0, 0.999))
def test_half_open_only_after_the_cooldown(cooldown: float, early: float) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, cooldown, clock)
    breaker.record_failure("down")
    opened = clock.now
    clock.now = opened + cooldown * early
    assert breaker.state == "open"
    assert breaker.retry_in() == pytest.approx(cooldown - cooldown * early)
    clock.now = opened + cooldown
    assert breaker.state == "half-open"


def test_half_open_lets_one_trial_through_and_its_verdict_decides() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(2, 30, clock)
    breaker.record_failure("a")
    breaker.record_failure("b")
    clock.advance(30)
    assert breaker.allow()
    assert not breaker.allow(), "a second run must wait for the trial's verdict"
    breaker.record_failure("still down")
    assert breaker.state == "open"
    assert breaker.snap.reason == "still down"
    clock.advance(29)
    assert breaker.state == "open"
    clock.advance(1)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.allow() and breaker.allow()


def test_an_interrupted_trial_lets_another_through() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 10, clock)
    breaker.record_failure()
    clock.advance(10)
    assert breaker.allow()
    breaker.release_trial()
    assert breaker.allow()


events = st.lists(st.sampled_from(["ok", "fail", "tick", "allow"]), max_size=60)


@settings(max_examples=200)
@given(script=events, threshold=st.integers(1, 4))
def test_breaker_state_machine_matches_a_model(script: list[str], threshold: int) -> None:
    """Every reachable transition against a small reference model."""
    clock = FakeClock()
    cooldown = 10.0
    breaker = CircuitBreaker(threshold, cooldown, clock)
    state, failures, opened, trial = "closed", 0, 0.0, False
    for step in script:
        if state == "open" and clock.now >= opened + cooldown:
            state, trial = "half-open", False
        if step == "tick":
            clock.advance(4)
            continue
        if step == "allow":
            expected = state == "closed" or (state == "half-open" and not trial)
            if state == "half-open" and expected:
                trial = True
            assert breaker.allow() == expected
        elif step == "ok":
            breaker.record_success()
            state, failures, trial = "closed", 0, False
        else:
            breaker.record_failure("x")
            failures += 1
            if state == "half-open" or (state == "closed" and failures >= threshold):
                state, opened, trial = "open", clock.now, False
        if state == "open" and clock.now >= opened + cooldown:
            state, trial = "half-open", False
        assert breaker.state == state


def test_transitions_are_reported_to_the_listener() -> None:
    clock = FakeClock()
    seen: list[tuple[str, str]] = []
    breaker = CircuitBreaker(1, 5, clock, on_change=lambda a, b: seen.append((a.state, b.state)))
    breaker.record_failure("x")
    clock.advance(5)
    assert breaker.allow()
    breaker.record_success()
    assert [s for s in seen if s[0] != s[1]] == [
        ("closed", "open"),
        ("open", "half-open"),
        ("half-open", "closed"),
    ]


def test_snapshot_survives_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "breaker.json"
    breaker = CircuitBreaker(1, 100, clock, on_change=lambda old, new: save_snapshot(path, new))
    breaker.record_failure("agent crashed")
    assert path.stat().st_mode & 0o777 == 0o600
    again = CircuitBreaker(1, 100, clock, load_snapshot(path))
    assert again.state == "open"
    assert "agent crashed" in again.describe()
    clock.advance(100)
    assert again.state == "half-open"


def test_damaged_snapshot_means_closed(tmp_path: Path) -> None:
    path = tmp_path / "breaker.json"
    path.write_text("{not json")
    assert load_snapshot(path) == BreakerSnapshot()
    path.write_text(json.dumps({"state": "sideways", "failures": 2}))
    assert load_snapshot(path).state == "closed"
    assert load_snapshot(tmp_path / "missing.json") == BreakerSnapshot()


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(0, 1, FakeClock())


@given(threshold=st.integers(min_value=2, max_value=6), retries=st.integers(1, 20))
def test_one_task_runs_failures_never_open_the_breaker_alone(threshold: int, retries: int) -> None:
    """A task failing every attempt is its own problem (max_attempts blocks it); the
    breaker opens on failures spread over ``threshold`` task runs."""
    breaker = CircuitBreaker(threshold, 60, FakeClock())
    for _ in range(retries):
        breaker.record_failure("its test fails", run="7 a")
    assert breaker.state == "closed" and breaker.snap.failures == retries
    for n in range(2, threshold):
        breaker.record_failure("down", run=f"{n} b")
        assert breaker.state == "closed"
    breaker.record_failure("down", run="9 c")
    assert breaker.state == "open"
    assert breaker.snap.tasks == ["7", *[str(n) for n in range(2, threshold)], "9"]
    assert (
        f"open after {threshold} failing task run(s) in a row "
        f"({retries + threshold - 1} failed attempt(s); tasks 7, " in breaker.describe()
    )


def test_the_same_task_run_again_by_a_later_run_counts_again() -> None:
    """The daemon taking a task that fails forever (on_failure = pending) each pass: each
    pass is a new task run, so the breaker still opens."""
    breaker = CircuitBreaker(3, 60, FakeClock())
    for key in ("5 pass1", "5 pass2"):
        breaker.record_failure("x", run=key)
        breaker.record_failure("x", run=key)
    assert breaker.state == "closed"
    breaker.record_failure("x", run="5 pass3")
    assert breaker.state == "open" and breaker.snap.tasks == ["5", "5", "5"]


def test_reset_closes_the_breaker_and_reports_it(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "breaker.json"
    seen: list[tuple[str, str]] = []

    def changed(old: BreakerSnapshot, new: BreakerSnapshot) -> None:
        seen.append((old.state, new.state))
        save_snapshot(path, new)

    breaker = CircuitBreaker(1, 600, clock, on_change=changed)
    breaker.record_failure("bad key", run="1 a")
    assert "`tmxd autopilot --reset-breaker` closes it now" in breaker.describe()
    old = breaker.reset()
    assert old.state == "open" and old.reason == "bad key" and old.tasks == ["1"]
    assert breaker.state == "closed" and breaker.allow()
    assert seen == [("closed", "open"), ("open", "closed")]
    assert load_snapshot(path) == BreakerSnapshot()


def test_the_task_runs_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "breaker.json"
    clock = FakeClock()
    breaker = CircuitBreaker(3, 60, clock, on_change=lambda old, new: save_snapshot(path, new))
    breaker.record_failure("a", run="1 x")
    breaker.record_failure("b", run="2 y")
    again = CircuitBreaker(3, 60, clock, load_snapshot(path))
    again.record_failure("b", run="2 y")
    assert again.state == "closed"
    again.record_failure("c", run="3 z")
    assert again.state == "open" and again.snap.tasks == ["1", "2", "3"]
