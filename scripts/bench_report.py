#!/usr/bin/env python3
"""Benchmark `tmxd report` over a large metrics database.

Generates 1,000,000 executions and 200,000 transitions (20,000 tasks over a
year) in a throwaway database, then times `tmxd report --format json` as a
real process (target: ≤ 2 s). Also prints insert throughput: row by row
through the Recorder API (one transaction per row, as the daemon writes)
and in bulk.

Usage: scripts/bench_report.py [--executions N] [--transitions N] [--runs N] [--keep PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "daemon"))

from tmxd.metrics.recorder import Recorder, to_db_time  # noqa: E402

TARGET_S = 2.0
STATUSES = ["pending", "in-progress", "review", "in-progress", "done"]
ERRORS = ["tests failed", "lint failed", "timeout after 1800s", None, "agent crashed"]


def api_throughput(rec: Recorder, project: Path, n: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        rec.transition(project, f"api.{i}", "pending", "in-progress", "tmxd")
    return n / (time.perf_counter() - start)


def bulk_fill(rec: Recorder, project: Path, executions: int, transitions: int) -> float:
    rnd = random.Random(42)
    end = datetime.now(UTC)
    begin = end - timedelta(days=365)
    span = (end - begin).total_seconds()
    tasks = max(1, transitions // 10)
    rec.event(project, "bench", {})  # creates the project row
    conn = rec.db.conn
    pid = conn.execute("SELECT id FROM projects").fetchone()[0]
    rows_done = 0
    start = time.perf_counter()

    def when(offset: float) -> str:
        return to_db_time(begin + timedelta(seconds=offset))

    batch: list[tuple[object, ...]] = []
    for t in range(tasks):
        base = rnd.uniform(0, span * 0.9)
        prev = None
        for k in range(10):
            if len(batch) + rows_done >= transitions:
                break
            new = STATUSES[min(k, len(STATUSES) - 1)] if k < 5 else STATUSES[k % 5]
            at = when(min(span, base + k * rnd.uniform(600, 86400)))
            batch.append((pid, "master", str(t), f"Task {t}", prev, new, "external", at))
            prev = new
        if len(batch) >= 50_000:
            _insert_transitions(conn, batch)
            rows_done += len(batch)
            batch = []
    _insert_transitions(conn, batch)
    rows_done += len(batch)

    batch = []
    for i in range(executions):
        started = rnd.uniform(0, span)
        dur = rnd.uniform(5, 1800)
        ok = rnd.random() < 0.8
        batch.append(
            (
                pid,
                "master",
                str(rnd.randrange(tasks)),
                1 + i % 3,
                "medium",
                "claude",
                when(started),
                when(started + dur),
                dur * 1000,
                int(ok),
                0 if ok else 1,
                rnd.randrange(60),
                rnd.randrange(1, 30),
                rnd.randrange(100_000),
                rnd.randrange(20_000),
                round(rnd.uniform(0, 2), 4),
                None if ok else rnd.choice(ERRORS),
            )
        )
        if len(batch) >= 50_000:
            _insert_executions(conn, batch)
            rows_done += len(batch)
            batch = []
    _insert_executions(conn, batch)
    rows_done += len(batch)
    return rows_done / (time.perf_counter() - start)


def _insert_transitions(conn: object, rows: list[tuple[object, ...]]) -> None:
    with conn:  # type: ignore[attr-defined]
        conn.executemany(  # type: ignore[attr-defined]
            "INSERT INTO transitions (project_id, tag, task_id, title, old_status, new_status, "
            "source, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def _insert_executions(conn: object, rows: list[tuple[object, ...]]) -> None:
    with conn:  # type: ignore[attr-defined]
        conn.executemany(  # type: ignore[attr-defined]
            "INSERT INTO executions (project_id, tag, task_id, attempt, route, agent, started_at, "
            "finished_at, duration_ms, success, exit_code, tool_calls, turns, input_tokens, "
            "output_tokens, cost_usd, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?)",
            rows,
        )


def time_report(db: Path, runs: int, *extra: str) -> tuple[float, dict[str, object]]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "daemon"))
    times: list[float] = []
    out: dict[str, object] = {}
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "tmxd", "report", "--db", str(db), "--format", "json", *extra],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"tmxd report failed: {proc.stderr}")
        out = json.loads(proc.stdout)
    return statistics.median(times), out


BASELINE = (
    "import sqlite3, sys\n"
    "c = sqlite3.connect(sys.argv[1])\n"
    "c.execute('SELECT count(*), sum(duration_ms), sum(tool_calls) FROM executions').fetchone()\n"
    "c.execute('SELECT count(*) FROM transitions').fetchone()\n"
)


def time_baseline(db: Path, runs: int) -> float:
    """A bare full scan of executions in a fresh interpreter: the floor for any report."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", BASELINE, str(db)], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--executions", type=int, default=1_000_000)
    ap.add_argument("--transitions", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--api-rows", type=int, default=2_000)
    ap.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="build the database here and keep it (an existing file is reused as is)",
    )
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="tmxd-bench-") as tmp:
        db = args.keep or Path(tmp) / "metrics.db"
        project = Path(tmp) / "project"
        project.mkdir()
        if not db.exists():
            with Recorder.open(db) as rec:
                api = api_throughput(rec, project, args.api_rows)
                bulk = bulk_fill(rec, project, args.executions, args.transitions)
            print(f"insert, Recorder API (1 transaction per row): {api:,.0f} rows/s")
            print(f"insert, bulk (50,000 rows per transaction):   {bulk:,.0f} rows/s")
        print(f"database: {db.stat().st_size / 1e6:,.0f} MB")
        baseline = time_baseline(db, args.runs)
        print(f"baseline (python + one bare scan of executions): median {baseline:.2f} s")
        for label, extra in (("all time", ()), ("--since 30d", ("--since", "30d"))):
            median, out = time_report(db, args.runs, *extra)
            summary = out["summary"]
            assert isinstance(summary, dict)
            print(
                f"tmxd report --format json ({label}): median {median:.2f} s over {args.runs} runs "
                f"= {median / TARGET_S:.2f}x the {TARGET_S:.0f} s target, "
                f"{median / baseline:.1f}x the baseline "
                f"({summary['executions']:,} executions, {summary['total_tasks']:,} tasks)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
