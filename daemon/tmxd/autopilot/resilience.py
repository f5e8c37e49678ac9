"""Retries with exponential backoff and full jitter, and a circuit breaker.

Both take the clock and the random source as arguments, so their behaviour is a
pure function of what they are given; nothing here sleeps.

Backoff ("full jitter"): the delay before retry ``n`` (1-based) is uniform in
``[0, min(cap, base * 2 ** (n - 1))]``.

Circuit breaker: **closed** (dispatch freely) → **open** once failed attempts in
``threshold`` different *task runs* came in a row, with no success between them
(dispatch paused) → **half-open** once ``cooldown_s`` has passed since it opened:
exactly one trial run is allowed; its success closes the breaker, its failure opens
it again for another cool-down. :meth:`CircuitBreaker.reset` closes it by hand.

A task run is one task taken up by one autopilot run, with all its retries. Its
retries add failures but not runs, so one task failing every attempt never opens
the breaker by itself (``max_attempts`` handles that task); failures spread over
``threshold`` task runs are what a broken environment (no network, bad credentials,
a missing tool) looks like. The same task taken up again by a later run (a daemon
pass, with ``on_failure = "pending"``) is a new task run, so a task that fails
forever still opens it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from tmxd.errors import TmxdError
from tmxd.fsutil import write_atomic

Clock = Callable[[], float]
RESET_COMMAND = "tmxd autopilot --reset-breaker"
BreakerState = Literal["closed", "open", "half-open"]


@dataclass(frozen=True)
class Backoff:
    base_s: float
    cap_s: float
    max_attempts: int

    def ceiling(self, retry: int) -> float:
        """The largest delay allowed before retry number ``retry`` (1 = the first retry)."""
        if retry < 1:
            return 0.0
        # Past 2**62 every sane cap has been reached; this keeps floats finite.
        exponent = min(retry - 1, 62)
        return min(self.cap_s, self.base_s * (2.0**exponent))

    def delay(self, retry: int, rng: random.Random) -> float:
        """Full jitter: uniform in ``[0, ceiling(retry)]``."""
        return rng.uniform(0.0, self.ceiling(retry))

    def should_retry(self, attempt: int) -> bool:
        """True when attempt ``attempt`` (1-based) failed and another one is allowed."""
        return attempt < self.max_attempts


@dataclass(frozen=True)
class BreakerSnapshot:
    """The breaker's state as stored on disk and shown by ``tmxd status``."""

    state: BreakerState = "closed"
    failures: int = 0  # failed attempts in a row (over ``runs``)
    opened_at: float | None = None
    trial_in_flight: bool = False
    reason: str = ""
    runs: tuple[str, ...] = ()  # the task runs those failures came from ("<task id> <key>")

    @property
    def tasks(self) -> list[str]:
        """The task ids of the failing runs, in order (a task run again appears again)."""
        return [run.split(" ", 1)[0] for run in self.runs]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["runs"] = list(self.runs)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BreakerSnapshot:
        state = data.get("state", "closed")
        if state not in ("closed", "open", "half-open"):
            state = "closed"
        opened = data.get("opened_at")
        runs = data.get("runs")
        return cls(
            state=state,
            failures=int(data.get("failures", 0)),
            opened_at=float(opened) if isinstance(opened, int | float) else None,
            trial_in_flight=bool(data.get("trial_in_flight", False)),
            reason=str(data.get("reason", "")),
            runs=tuple(str(r) for r in runs) if isinstance(runs, list) else (),
        )


class CircuitBreaker:
    """closed → open after failures in ``threshold`` task runs in a row → half-open after
    ``cooldown_s`` (see the module docstring)."""

    def __init__(
        self,
        threshold: int,
        cooldown_s: float,
        clock: Clock,
        snapshot: BreakerSnapshot | None = None,
        on_change: Callable[[BreakerSnapshot, BreakerSnapshot], None] | None = None,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.clock = clock
        self.snap = snapshot or BreakerSnapshot()
        self.on_change = on_change

    def _set(self, new: BreakerSnapshot) -> None:
        old, self.snap = self.snap, new
        if self.on_change is not None and old != new:
            self.on_change(old, new)

    @property
    def state(self) -> BreakerState:
        """The current state, moving open → half-open when the cool-down has passed."""
        snap = self.snap
        if (
            snap.state == "open"
            and snap.opened_at is not None
            and self.clock() >= snap.opened_at + self.cooldown_s
        ):
            self._set(replace(snap, state="half-open", trial_in_flight=False))
        return self.snap.state

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a trial run through (0 when not open)."""
        if self.state != "open" or self.snap.opened_at is None:
            return 0.0
        return max(0.0, self.snap.opened_at + self.cooldown_s - self.clock())

    def allow(self) -> bool:
        """May a run start now? In half-open, only one trial at a time is let through."""
        state = self.state
        if state == "closed":
            return True
        if state == "open":
            return False
        if self.snap.trial_in_flight:
            return False
        self._set(replace(self.snap, trial_in_flight=True))
        return True

    def record_success(self) -> None:
        if self.snap != BreakerSnapshot():
            self._set(BreakerSnapshot())

    def record_failure(self, reason: str = "", run: str | None = None) -> None:
        """A failed attempt of task run ``run`` (``"<task id> <key>"``; None: a run of its own)."""
        state = self.state
        failures = self.snap.failures + 1
        key = run if run is not None else f"- {failures}"
        runs = self.snap.runs if key in self.snap.runs else (*self.snap.runs, key)
        if state == "half-open":
            self._set(
                BreakerSnapshot(
                    state="open",
                    failures=failures,
                    opened_at=self.clock(),
                    reason=reason or self.snap.reason,
                    runs=runs,
                )
            )
            return
        if state == "closed" and len(runs) >= self.threshold:
            self._set(
                BreakerSnapshot(
                    state="open",
                    failures=failures,
                    opened_at=self.clock(),
                    reason=reason,
                    runs=runs,
                )
            )
        else:
            self._set(
                replace(self.snap, failures=failures, reason=reason or self.snap.reason, runs=runs)
            )

    def reset(self) -> BreakerSnapshot:
        """Close the breaker by hand (the cause is fixed); return the state it was in."""
        old = self.snap
        self._set(BreakerSnapshot())
        return old

    def release_trial(self) -> None:
        """A half-open trial ended without a verdict (e.g. interrupted): let another through."""
        if self.snap.trial_in_flight:
            self._set(replace(self.snap, trial_in_flight=False))

    def describe(self) -> str:
        """One line for ``tmxd status``."""
        state = self.state
        if state == "closed":
            return "closed (dispatching)"
        if state == "open":
            return (
                f"open after {self._failing_runs()}, "
                f"dispatch paused; trial run in {self.retry_in():.0f}s "
                f"(`{RESET_COMMAND}` closes it now); last failure: {self.snap.reason}"
            )
        return f"half-open: one trial run allowed; last failure: {self.snap.reason}"

    def _failing_runs(self) -> str:
        """``3 failing task run(s) in a row (5 failed attempts; tasks 7, 2, 9)``."""
        runs = self.snap.runs  # each run once, in order
        named = [run.split(" ", 1)[0] for run in runs if not run.startswith("-")]
        count = len(runs) or self.snap.failures
        detail = f"{self.snap.failures} failed attempt(s)"
        if named:
            detail += f"; tasks {', '.join(named)}"
        return f"{count} failing task run(s) in a row ({detail})"


def load_snapshot(path: Path) -> BreakerSnapshot:
    """The stored breaker state; a missing or unreadable file means closed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return BreakerSnapshot()
    except (OSError, ValueError):
        return BreakerSnapshot()
    return BreakerSnapshot.from_json(data) if isinstance(data, dict) else BreakerSnapshot()


def save_snapshot(path: Path, snap: BreakerSnapshot) -> None:
    """Write the breaker state atomically, readable by the user alone."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, json.dumps(snap.to_json()), mode=0o600)
    except OSError as exc:
        raise TmxdError(f"{path}: cannot save the circuit breaker state: {exc}") from exc
