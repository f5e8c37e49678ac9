#!/usr/bin/env python3
"""`tmxd next` against `task-master next` (the real CLI) on the same files.

Files: the largest corpus file (133.json, Task Master's own tasks, with its state.json and
complexity report) and a generated 10,000-task file (three subtasks each, a dependency
chain, a few in progress). Each command runs as a fresh process in a scratch project,
exactly as a user would run it; the median wall time of the runs is reported with the
ratio CLI/tmxd. Targets: >= 20x faster than the CLI, <= 0.5 s on the 10k file. Also
prints the in-process time to load the 10k file and pick the next task.

Start-up: `tmxd next` on 133.json as a whole process, median <= 120 ms, timed in turns
with two baselines run the same way in the same run (`python -c pass`, Python alone,
and `python -c "import click"`, the floor of any click program), so a loaded machine
shows as slower baselines too.

    python scripts/bench_next.py [--runs 5] [--startup-runs 21] [--oracle-runs 1]
                                 [--tasks 10000] [--no-oracle]

The CLI is the oracle beside the checkout (../shared/oracle/tm); without it only tmxd's
timings are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "daemon"))
TARGET_RATIO = 20.0
TARGET_10K_SECONDS = 0.5
TARGET_STARTUP_SECONDS = 0.120


def find_shared() -> Path:
    override = os.environ.get("TMXD_SHARED")
    if override:
        return Path(override)
    for parent in ROOT.parents:
        if (parent / "shared" / "DESIGN.md").is_file():
            return parent / "shared"
    return ROOT.parent / "shared"


SHARED = find_shared()
CORPUS = SHARED / "corpus" / "taskmaster"
ORACLE_TM = SHARED / "oracle" / "tm"


def oracle_dir() -> Path:
    return Path(os.environ.get("TMXD_ORACLE_DIR") or Path.home() / ".cache" / "tmxd-oracle")


def oracle_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (oracle_dir() / "node_modules" / "task-master-ai" / "dist" / "task-master.js").is_file():
        return f"the Task Master CLI is not installed in {oracle_dir()}"
    return None


def generated_tasks(count: int) -> dict[str, object]:
    """A big tagged file: a dependency chain, priorities mixed, a few tasks in progress."""
    priorities = ("low", "medium", "high", "critical")
    tasks = []
    for tid in range(1, count + 1):
        status = "done" if tid <= count // 2 else ("in-progress" if tid % 500 == 0 else "pending")
        tasks.append(
            {
                "id": tid,
                "title": f"Task {tid}",
                "description": f"Generated task number {tid}",
                "details": "Implement it. " * 5,
                "testStrategy": "Run the tests.",
                "status": status,
                "priority": priorities[tid % 4],
                "dependencies": [tid - 1] if tid > 1 and tid % 3 else [],
                "subtasks": [
                    {
                        "id": sid,
                        "title": f"Part {sid} of {tid}",
                        "description": "A part",
                        "details": "",
                        "status": "done" if status == "done" else "pending",
                        "dependencies": [sid - 1] if sid > 1 else [],
                    }
                    for sid in range(1, 4)
                ],
            }
        )
    return {"master": {"tasks": tasks, "metadata": {"created": "2026-01-01T00:00:00.000Z"}}}


def make_project(root: Path, tasks_text: str, state: Path | None, report: Path | None) -> Path:
    tm = root / ".taskmaster"
    (tm / "tasks").mkdir(parents=True)
    (tm / "tasks" / "tasks.json").write_text(tasks_text, encoding="utf-8")
    state_data = json.loads(state.read_text(encoding="utf-8")) if state else {}
    state_data["migrationNoticeShown"] = True  # keeps the CLI's one-time notice out of stdout
    (tm / "state.json").write_text(json.dumps(state_data), encoding="utf-8")
    if report is not None:
        (tm / "reports").mkdir()
        shutil.copyfile(report, tm / "reports" / "task-complexity-report.json")
    (root / ".git").mkdir()  # stops the CLI's project-root search here
    return root


def run_timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv[:3])}... failed ({proc.returncode}): {proc.stderr[-300:]}"
        )
    return elapsed, proc.stdout


def first_json(text: str) -> dict[str, object]:
    value, _ = json.JSONDecoder().raw_decode(text.lstrip())
    assert isinstance(value, dict)
    return value


def bench_file(
    label: str, project: Path, runs: int, oracle_runs: int, use_oracle: bool
) -> tuple[float, float | None]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "daemon"), env.get("PYTHONPATH")) if p
    )
    tmxd = [sys.executable, "-m", "tmxd", "next", "--format", "json"]
    run_timed(tmxd, project, env)  # warm the page cache
    times = []
    answer: dict[str, object] = {}
    for _ in range(runs):
        elapsed, out = run_timed(tmxd, project, env)
        times.append(elapsed)
        answer = first_json(out)
    mine = statistics.median(times)
    task = answer.get("task")
    picked = task.get("id") if isinstance(task, dict) else None
    print(f"{label}: tmxd next      median {mine:.3f} s over {runs} runs  (picks {picked})")
    if not use_oracle:
        return mine, None
    oenv = dict(os.environ)
    oenv["TMXD_ORACLE_DIR"] = str(oracle_dir())
    otimes = []
    for _ in range(oracle_runs):
        elapsed, out = run_timed([str(ORACLE_TM), "next", "--format", "json"], project, oenv)
        otimes.append(elapsed)
        theirs = first_json(out).get("task")
        their_id = theirs.get("id") if isinstance(theirs, dict) else None
        if their_id != picked:
            print(f"{label}: WARNING the CLI picked {their_id}, tmxd {picked}")
    cli = statistics.median(otimes)
    print(f"{label}: task-master next median {cli:.3f} s over {oracle_runs} runs")
    print(f"{label}: ratio task-master/tmxd = {cli / mine:.1f}x (target >= {TARGET_RATIO:.0f}x)")
    return mine, cli


def startup(project: Path, runs: int) -> float:
    """Median of ``tmxd next`` as a process on ``project``; prints it beside the baselines."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "daemon"), env.get("PYTHONPATH")) if p
    )
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import click": [sys.executable, "-c", "import click"],
        "tmxd next": [sys.executable, "-m", "tmxd", "next"],
    }
    for argv in commands.values():
        run_timed(argv, project, env)  # warm the page cache and the bytecode cache
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():  # in turns: load changes hit all three alike
            times[name].append(run_timed(argv, project, env)[0])
    medians = {name: statistics.median(values) for name, values in times.items()}
    mine = medians["tmxd next"]
    print(f"133.json: start-up over {runs} runs each, in turns (medians):")
    for name in commands:
        print(f"133.json:   {name:<15} {medians[name] * 1000:6.1f} ms")
    print(
        f"133.json: tmxd next {mine * 1000:.1f} ms as a process = python "
        f"{medians['python -c pass'] * 1000:.1f} ms + click "
        f"{(medians['import click'] - medians['python -c pass']) * 1000:.1f} ms + tmxd "
        f"{(mine - medians['import click']) * 1000:.1f} ms "
        f"(target <= {TARGET_STARTUP_SECONDS * 1000:.0f} ms)"
    )
    return mine


def in_process(tasks_text: str) -> float:
    from tmxd.taskmaster.document import parse_tasks
    from tmxd.taskmaster.ops import next_task

    start = time.perf_counter()
    doc = parse_tasks(tasks_text, Path("tasks.json"))
    doc.status_map("master")
    next_task(doc, "master")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="tmxd runs per file (median)")
    parser.add_argument(
        "--startup-runs", type=int, default=21, help="start-up runs of each command (median)"
    )
    parser.add_argument("--oracle-runs", type=int, default=1, help="CLI runs per file")
    parser.add_argument("--tasks", type=int, default=10_000, help="size of the generated file")
    parser.add_argument("--no-oracle", action="store_true", help="time tmxd only")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    reason = "--no-oracle given" if args.no_oracle else oracle_missing()
    if reason:
        print(f"task-master not run: {reason}")
    use_oracle = reason is None
    ok = True
    with tempfile.TemporaryDirectory(prefix="tmxd-bench-next-") as tmp:
        scratch = Path(tmp)
        corpus_file = CORPUS / "133.json"
        if corpus_file.is_file():
            project = make_project(
                scratch / "corpus",
                corpus_file.read_text(encoding="utf-8"),
                CORPUS / "133.state.json",
                CORPUS / "133.complexity.json",
            )
            mine, cli = bench_file("133.json", project, args.runs, args.oracle_runs, use_oracle)
            ok &= cli is None or cli / mine >= TARGET_RATIO
            ok &= startup(project, args.startup_runs) <= TARGET_STARTUP_SECONDS
        else:
            print(f"133.json not found in {CORPUS}; skipped")
        big = json.dumps(generated_tasks(args.tasks), indent=2, ensure_ascii=False)
        project = make_project(scratch / "big", big, None, None)
        label = f"{args.tasks} tasks"
        mine, cli = bench_file(label, project, args.runs, args.oracle_runs, use_oracle)
        ok &= mine <= TARGET_10K_SECONDS and (cli is None or cli / mine >= TARGET_RATIO)
        print(f"{label}: tmxd next {mine:.3f} s as a process (target <= {TARGET_10K_SECONDS} s)")
        print(f"{label}: load + status map + next in process {in_process(big):.3f} s")
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    raise SystemExit(main())
