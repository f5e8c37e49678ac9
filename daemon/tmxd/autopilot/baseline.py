"""The checks once before a run changes anything: do they pass on the untouched tree?

When the project's checks fail already, every task would be blamed for it — each
attempt a paid agent run, retried with backoff, then blocked, until the breaker
opens. So before the first attempt of a run the checks run once in the project as
it is, and if they fail the run stops before anything changes or costs: "the checks
fail before any change: …" (exit 1). ``[autopilot] baseline = false`` or
``--no-baseline`` skips it: for a project whose failing tests are what the tasks are
for (tests written first, for the agent to make pass).

A pass is remembered in the state dir by the tree it ran on (the working tree as git
would commit it, tmxd's own files aside) and the checks it ran, so a later run on the
same tree does not run them again. A failure is run again each time — unless
``reuse_failure_s`` is given (the daemon: its passes come every minute), then the
same failure is reported again without running the suite for that long.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tmxd.autopilot import workspace
from tmxd.autopilot.validation import Check, run_checks
from tmxd.errors import TmxdError
from tmxd.fsutil import write_atomic

FILE_NAME = "baseline.json"


class BaselineFailed(TmxdError):
    """The project's checks fail before the run changed anything."""


def _message(summary: str) -> str:
    return (
        f"the checks fail before any change: {summary}; fix them first (no task can pass "
        "them), or run with --no-baseline (autopilot.baseline = false) if failing tests "
        "are what the tasks are for"
    )


def _key(tree: str, checks: Sequence[Check]) -> str:
    text = json.dumps([tree, [list(c.argv) for c in checks]])
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _load(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def require_passing(
    checks: Sequence[Check],
    folder: Path,
    *,
    top: Path,
    exclude: Sequence[str],
    state_dir: Path,
    timeout_s: float,
    tail_lines: int,
    env: Mapping[str, str],
    cancel: threading.Event,
    out: Callable[[str], None],
    reuse_failure_s: float = 0.0,
    wall_clock: Callable[[], float] = time.time,
) -> None:
    """Run ``checks`` in ``folder`` unless this tree passed them before; raise
    BaselineFailed when they fail. A run stopped meanwhile returns quietly."""
    if not checks:
        return
    tree = workspace.snapshot(top, exclude, state_dir, with_index=False).tree
    key = _key(tree, checks)
    path = state_dir / FILE_NAME
    known = _load(path)
    if known.get("key") == key:
        if known.get("ok") is True:
            return
        at = known.get("at")
        if (
            reuse_failure_s > 0
            and isinstance(at, int | float)
            and wall_clock() - at < reuse_failure_s
        ):
            raise BaselineFailed(_message(str(known.get("summary", ""))))
    names = ", ".join(c.name for c in checks)
    out(f"checks before any change: {names}")
    report = run_checks(
        checks, folder, timeout_s=timeout_s, tail_lines=tail_lines, env=env, cancel=cancel
    )
    if cancel.is_set():
        return
    summary = report.headline
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        record = {"key": key, "ok": report.ok, "summary": summary, "at": wall_clock()}
        write_atomic(path, json.dumps(record), mode=0o600)
    except OSError:
        pass  # only a cache: the next run checks again
    if not report.ok:
        for line in report.failure_text().splitlines():
            out(f"  {line}")
        raise BaselineFailed(_message(summary))
