#!/usr/bin/env python3
"""Benchmark the daemon against DESIGN.md's targets, with a real daemon process.

Measures, with three throwaway projects (git repositories with tmxd's hooks):

* tasks.json edit -> transition row in metrics.db, p50/p95 (target p95 <= 300 ms);
* git commit -> note in tasks.json, p50/p95 (target p95 <= 1 s);
* the idle daemon over ``--idle-seconds`` (default 60): CPU % and RSS
  (targets <= 0.5 % CPU, <= 80 MB).

Everything lives in a temporary directory (state, runtime dir, database), so
a daemon the user runs is not disturbed. Prints one line per measure with the
target and the ratio to it; ``--strict`` exits 1 when a target is missed.

    python scripts/bench_daemon.py [--edits 40] [--commits 20] [--idle-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "daemon"))

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.invalid",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}
TARGETS = {
    "edit_p95_ms": 300.0,
    "commit_p95_ms": 1000.0,
    "idle_cpu_percent": 0.5,
    "idle_rss_mb": 80.0,
}


def tasks_doc(status: str) -> str:
    tasks = [
        {
            "id": 1,
            "title": "Parser",
            "description": "",
            "details": "",
            "testStrategy": "",
            "status": "in-progress",
            "dependencies": [],
            "priority": "high",
            "subtasks": [
                {
                    "id": 1,
                    "title": "Tokenizer",
                    "description": "",
                    "details": "",
                    "status": "in-progress",
                    "dependencies": [],
                }
            ],
        },
        {
            "id": 2,
            "title": "Evaluator",
            "description": "",
            "details": "",
            "testStrategy": "",
            "status": status,
            "dependencies": [],
            "priority": "medium",
            "subtasks": [],
        },
    ]
    return json.dumps({"master": {"tasks": tasks, "metadata": {}}}, indent=2)


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def make_project(root: Path, env: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    tasks = root / ".taskmaster" / "tasks" / "tasks.json"
    tasks.parent.mkdir(parents=True)
    tasks.write_text(tasks_doc("pending"))
    (root / ".taskmaster" / "tmxd.toml").write_text("[metrics]\ndaily_report = false\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "start")
    subprocess.run(
        [sys.executable, "-m", "tmxd", "hooks", "install"],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    )
    return tasks


def wait(condition: Callable[[], bool], timeout: float = 30.0, interval: float = 0.002) -> float:
    """Seconds until ``condition`` held (polling); raises on timeout."""
    began = time.perf_counter()
    while not condition():
        if time.perf_counter() - began > timeout:
            raise TimeoutError("condition not met in time")
        time.sleep(interval)
    return time.perf_counter() - began


def transition_count(db: Path) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(str(db), timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM transitions").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def bench_edits(tasks: Path, db: Path, count: int) -> list[float]:
    latencies = []
    for i in range(count):
        before = transition_count(db)
        status = "in-progress" if i % 2 == 0 else "pending"
        started = time.perf_counter()
        tasks.write_text(tasks_doc(status))
        wait(lambda before=before: transition_count(db) > before)
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.05)
    return latencies


def bench_commits(root: Path, tasks: Path, count: int) -> list[float]:
    latencies = []
    for i in range(count):
        (root / f"f{i}.txt").write_text(f"{i}\n")
        git(root, "add", f"f{i}.txt")
        started = time.perf_counter()
        git(root, "commit", "-q", "-m", f"Change {i}\n\nTask: 1.1")
        sha = git(root, "rev-parse", "--short=7", "HEAD").strip()
        wait(lambda sha=sha: f"({sha})" in tasks.read_text())
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.05)
    return latencies


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_idle(pid: int, seconds: float) -> tuple[float, float]:
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    peak = rss_mb(pid)
    deadline = start + seconds
    while time.monotonic() < deadline:
        time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
        peak = max(peak, rss_mb(pid))
    elapsed = time.monotonic() - start
    return (cpu_seconds(pid) - start_cpu) / elapsed * 100, peak


def line(name: str, value: float, unit: str, target_key: str) -> bool:
    target = TARGETS[target_key]
    ok = value <= target
    print(
        f"{name:<34} {value:9.1f} {unit:<3} target <= {target:g} {unit:<3} "
        f"ratio {value / target:5.2f}  {'ok' if ok else 'MISSED'}"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=40)
    parser.add_argument("--commits", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        print("bench_daemon: CPU and RSS are read from /proc; run it on Linux", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tmxd-bench-") as tmp:
        base = Path(tmp)
        env = dict(os.environ)
        env.update(GIT_ENV)
        env.update(
            {
                "HOME": str(base / "home"),
                "TMXD_STATE_DIR": str(base / "state"),
                "TMXD_RUNTIME_DIR": str(base / "run"),
                "TMXD_DB": str(base / "state" / "metrics.db"),
                "PYTHONPATH": os.pathsep.join(
                    p for p in (str(ROOT / "daemon"), env.get("PYTHONPATH", "")) if p
                ),
            }
        )
        os.environ.update({k: env[k] for k in GIT_ENV})
        projects = [base / f"project{i}" for i in range(3)]
        tasks = [make_project(p, env) for p in projects]
        db = Path(env["TMXD_DB"])
        argv = [sys.executable, "-m", "tmxd", "run", "--log-file", str(base / "daemon.log")]
        for project in projects:
            argv += ["--project", str(project)]
        daemon = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            ledger_dir = base / "state" / "snapshots"
            wait(lambda: len(list(ledger_dir.glob("*.json"))) == 3, timeout=60, interval=0.05)
            time.sleep(1.0)  # let the start-up catch-up jobs finish
            edits = bench_edits(tasks[0], db, args.edits)
            commits = bench_commits(projects[1], tasks[1], args.commits)
            time.sleep(2.0)  # settle before measuring idle
            cpu, rss = bench_idle(daemon.pid, args.idle_seconds)
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        print(f"tmxd daemon benchmark: 3 projects, {len(edits)} edits, {len(commits)} commits")
        print(f"{'edit -> transition p50':<34} {statistics.median(edits):9.1f} ms")
        results = [line("edit -> transition p95", percentile(edits, 95), "ms", "edit_p95_ms")]
        print(f"{'commit -> note p50':<34} {statistics.median(commits):9.1f} ms")
        results.append(line("commit -> note p95", percentile(commits, 95), "ms", "commit_p95_ms"))
        label = f"idle CPU over {args.idle_seconds:g} s"
        results.append(line(label, cpu, "%", "idle_cpu_percent"))
        results.append(line("idle RSS (peak)", rss, "MB", "idle_rss_mb"))
    return 1 if args.strict and not all(results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
