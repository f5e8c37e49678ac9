#!/usr/bin/env python3
"""The autopilot's own cost per task attempt, beside the agent's own time.

A repository of 2,000 files (40 folders of 50 small files), tmxd's git hooks installed,
and a Task Master project of independent tasks; the agent is a no-op command
(`sh -c 'printf ... > task-<id>.txt'`: it writes the one file every attempt needs as
evidence of change). Each task is timed in process from its claim to its settlement:
in progress, the before/after snapshots, the prompt, the agent, the checks detection,
the commit (sequential) or the worktree, commit and merge (`--parallel 3`), done, the
notes and the metrics rows. The agent's own wall time is measured around its process
in the same run and subtracted: what is left is tmxd's cost. Target: its median <= 0.5 s
per task in both modes. Also printed: the run's wall time per task (throughput: in a
parallel run the tasks overlap, so each one's own time includes waiting for the CPU and
the repository lock the others hold), the load average, and for scale a floor no tool
committing each task's work can go under: `git add` + `git commit` of one file in the
same repository.

    python scripts/bench_autopilot.py [--files 2000] [--tasks 12] [--check]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "daemon"))
TARGET_SECONDS = 0.5
AGENT = ["/bin/sh", "-c", 'printf "done\\n" > "task-$1.txt"', "sh", "{task_id}"]
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
}


def git(cwd: Path, *args: str) -> None:
    from tmxd.git import run_git

    run_git(cwd, args, timeout=300)


def make_project(root: Path, files: int, tasks: int) -> None:
    """A git repository of ``files`` files holding a project of ``tasks`` ready tasks."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    per_folder = 50
    for n in range(files):
        folder = root / "src" / f"pkg{n // per_folder:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{n % per_folder:03d}.py").write_text(f"VALUE_{n} = {n}\n")
    tm = root / ".taskmaster"
    (tm / "tasks").mkdir(parents=True)
    items = [
        {
            "id": i,
            "title": f"Implement part {i}",
            "description": f"Part {i} of the work",
            "details": "",
            "testStrategy": "",
            "status": "pending",
            "dependencies": [],
            "priority": "medium",
            "subtasks": [],
        }
        for i in range(1, tasks + 1)
    ]
    (tm / "tasks" / "tasks.json").write_text(
        json.dumps({"master": {"tasks": items, "metadata": {}}}, indent=2)
    )
    (tm / "tmxd.toml").write_text(
        "[autopilot]\n"
        'agent = "command"\n'
        f"command = {json.dumps(AGENT)}\n"
        "validate = []\n"
        "backoff_base_s = 0.01\n"
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "A project of 2,000 files")
    from tmxd.commits import hooks

    hooks.install(root)


class Timings:
    """Per task: the whole unit (claim to settlement) and the agent's own process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.unit: dict[str, float] = {}
        self.agent: dict[str, float] = {}


def timed_agent(timings: Timings, run: Callable[..., Any]) -> Callable[..., Any]:
    """``proc.run`` that notes how long each agent process took (checks are not agents)."""

    def wrapper(argv: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        result = run(argv, *args, **kwargs)
        elapsed = time.perf_counter() - start
        env = kwargs.get("env") or {}
        if list(argv)[:3] == AGENT[:3] and env.get("TMXD_TASK_ID"):
            with timings.lock:
                timings.agent[env["TMXD_TASK_ID"]] = elapsed
        return result

    return wrapper


def floor(workdir: Path, files: int, runs: int) -> float:
    """Median seconds of `git add` + `git commit` of one new file in such a repository."""
    root = workdir / "floor"
    make_project(root, files, 1)
    times = []
    for n in range(runs):
        (root / f"floor-{n}.txt").write_text(f"{n}\n")
        start = time.perf_counter()
        git(root, "add", f"floor-{n}.txt")
        git(root, "commit", "-q", "-m", f"floor {n}")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_mode(workdir: Path, files: int, tasks: int, parallel: int | None) -> dict[str, Any]:
    from tmxd import proc
    from tmxd.autopilot import config as ap_config
    from tmxd.autopilot.plan import Unit
    from tmxd.autopilot.runner import Autopilot, RunOptions, UnitResult
    from tmxd.metrics.recorder import Recorder
    from tmxd.taskmaster.project import find_project

    root = workdir / ("parallel" if parallel else "sequential") / "project"
    make_project(root, files, tasks)
    timings = Timings()

    class TimedAutopilot(Autopilot):
        def run_unit(self, unit: Unit) -> UnitResult:
            start = time.perf_counter()
            result = super().run_unit(unit)
            with timings.lock:
                timings.unit[unit.id] = time.perf_counter() - start
            return result

    original = proc.run
    proc.run = timed_agent(timings, original)  # type: ignore[assignment]
    try:
        with Recorder.open() as recorder:
            pilot = TimedAutopilot(
                find_project(root),
                ap_config.load(root),
                recorder,
                options=RunOptions(parallel=parallel),
            )
            start = time.perf_counter()
            summary = pilot.run()
            wall = time.perf_counter() - start
    finally:
        proc.run = original  # type: ignore[assignment]
    done = summary.count("done")
    if done != tasks:
        details = [(r.unit.id, r.outcome, r.detail) for r in summary.results]
        raise SystemExit(f"only {done}/{tasks} tasks done: {details}")
    own = [timings.unit[t] - timings.agent.get(t, 0.0) for t in timings.unit]
    return {
        "tasks": done,
        "unit": statistics.median(timings.unit.values()),
        "agent": statistics.median(timings.agent.values()),
        "own": statistics.median(own),
        "own_max": max(own),
        "wall": wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000, help="files in the repository")
    parser.add_argument("--tasks", type=int, default=12, help="tasks per mode")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="tmxd-bench-autopilot-") as scratch:
        work = Path(scratch)
        os.environ.update(GIT_IDENTITY)
        os.environ["TMXD_STATE_DIR"] = str(work / "state")
        os.environ["TMXD_RUNTIME_DIR"] = str(work / "run")
        os.environ["TMXD_DB"] = str(work / "state" / "metrics.db")
        try:
            base = floor(work, args.files, args.tasks)
            results = {
                "sequential": run_mode(work, args.files, args.tasks, None),
                "--parallel 3": run_mode(work, args.files, args.tasks, 3),
            }
        finally:
            os.environ.clear()
            os.environ.update(saved)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"autopilot, {args.files}-file repository, {args.tasks} tasks per mode, "
        f"no-op command agent (sh writes one file); load average {load}"
    )
    print(
        f"  {'mode':<13} {'per task':>9} {'agent':>8} {'tmxd own':>9} {'own max':>8} "
        f"{'wall/task':>10} {'own/floor':>10}   (medians per task)"
    )
    for mode, r in results.items():
        print(
            f"  {mode:<13} {r['unit'] * 1000:>7.0f}ms {r['agent'] * 1000:>6.1f}ms "
            f"{r['own'] * 1000:>7.0f}ms {r['own_max'] * 1000:>6.0f}ms "
            f"{r['wall'] / r['tasks'] * 1000:>8.0f}ms "
            f"{r['own'] / base:>9.1f}x"
        )
    print(f"  floor: git add + git commit of one file here, median {base * 1000:.0f}ms")
    worst = max(r["own"] for r in results.values())
    met = worst <= TARGET_SECONDS
    print(
        f"target: tmxd's own cost per task <= {TARGET_SECONDS * 1000:.0f} ms (median): "
        + ("met" if met else "MISSED")
        + f" (worst mode {worst * 1000:.0f} ms)"
    )
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    raise SystemExit(main())
