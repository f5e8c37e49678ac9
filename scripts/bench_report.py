#!/usr/bin/env python3
"""Benchmark the metrics database: bulk insert, `tmxd report` and a Prometheus scrape.

Each figure is printed beside a baseline measured in the same run, the two taken in
turn (baseline, measure, baseline, measure, ...) so that the ratio stays meaningful
when the machine's speed drifts; medians throughout.

* bulk insert: tmxd's bulk path (``Recorder.store``: what the journal's ingestion and
  a snapshot ledger's outbox use), records of transitions, tool calls and hook runs
  into metrics.db with its indexes and triggers; baseline: the same rows by a bare
  ``executemany`` into tables without indexes. Target >= 100,000 rows/s.
* report: ``tmxd report --format json`` as a real process over 1,000,000 executions
  and 200,000 transitions (20,000 tasks over a year), all time and ``--since 30d``;
  baseline: a fresh interpreter that scans the executions table once. Target <= 1 s.
* scrape: ``GET /metrics`` of the daemon's endpoint over HTTP, uncached (every scrape
  reads the database); baseline: the same bare scan. Target <= 0.5 s.

Usage: scripts/bench_report.py [--executions N] [--transitions N] [--records N]
                               [--runs N] [--keep PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "daemon"))

from tmxd.metrics import records  # noqa: E402
from tmxd.metrics.recorder import Recorder, to_db_time  # noqa: E402

REPORT_TARGET_S = 1.0
SCRAPE_TARGET_S = 0.5
INSERT_TARGET = 100_000
STATUSES = ["pending", "in-progress", "review", "in-progress", "done"]
ERRORS = ["tests failed", "lint failed", "timeout after 1800s", None, "agent crashed"]

BASELINE = (
    "import sqlite3, sys\n"
    "c = sqlite3.connect(sys.argv[1])\n"
    "c.execute('SELECT count(*), sum(duration_ms), sum(tool_calls) FROM executions').fetchone()\n"
)


def paired(
    measure: Callable[[], float], baseline: Callable[[], float], runs: int
) -> tuple[float, float, float]:
    """(median measure, median baseline, median of the pairwise ratios), taken in turn."""
    ms, bs, ratios = [], [], []
    for _ in range(runs):
        b = baseline()
        m = measure()
        ms.append(m)
        bs.append(b)
        ratios.append(m / b if b else float("inf"))
    return statistics.median(ms), statistics.median(bs), statistics.median(ratios)


# -- bulk insert ------------------------------------------------------------------------


def bench_records(project: Path, n: int) -> list[records.Record]:
    rnd = random.Random(7)
    start = datetime.now(UTC) - timedelta(days=30)
    out: list[records.Record] = []
    for i in range(n):
        at = start + timedelta(seconds=i)
        kind = i % 3
        if kind == 0:
            out.append(
                records.transition(
                    project, f"{i % 5000}", "pending", "in-progress", "external", at=at, title="T"
                )
            )
        elif kind == 1:
            out.append(
                records.tool_call(
                    project, f"s{i % 97}", rnd.choice(["Bash", "Edit", "Read"]), True, 12.0,
                    str(i % 5000), at=at,
                )
            )  # fmt: skip
        else:
            out.append(records.hook_run(project, "claude", True, at=at, duration_ms=20.0))
    return out


def time_store(folder: Path, batch: list[records.Record]) -> float:
    """Seconds for ``Recorder.store`` of ``batch`` into a fresh metrics.db."""
    db = folder / f"store-{time.monotonic_ns()}.db"
    with Recorder.open(db) as rec:
        start = time.perf_counter()
        rec.store(batch, ingest=False)
        took = time.perf_counter() - start
    _remove(db)
    return took


def time_bare_insert(folder: Path, batch: list[records.Record]) -> float:
    """Seconds for the same values by executemany into bare tables (no index, no trigger)."""
    db = folder / f"bare-{time.monotonic_ns()}.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    by_kind: dict[str, list[tuple[Any, ...]]] = {}
    for r in batch:
        by_kind.setdefault(r["kind"], []).append(tuple(v for k, v in r.items() if k != "kind"))
    for kind, rows in by_kind.items():
        conn.execute(f"CREATE TABLE {kind} ({', '.join(f'c{i}' for i in range(len(rows[0])))})")
    start = time.perf_counter()
    with conn:
        for kind, rows in by_kind.items():
            marks = ", ".join("?" * len(rows[0]))
            conn.executemany(f"INSERT INTO {kind} VALUES ({marks})", rows)
    took = time.perf_counter() - start
    conn.close()
    _remove(db)
    return took


def _remove(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


# -- the big database -------------------------------------------------------------------


def bulk_fill(rec: Recorder, project: Path, executions: int, transitions: int) -> float:
    """Fill the database for the report: transitions through ``Recorder.store`` (50,000 a
    batch), executions by a raw executemany (tmxd writes them one run at a time); returns
    rows/s, for information."""
    rnd = random.Random(42)
    end = datetime.now(UTC)
    begin = end - timedelta(days=365)
    span = (end - begin).total_seconds()
    tasks = max(1, transitions // 10)
    rec.event(project, "bench", {})  # creates the project row
    conn = rec.conn
    pid = conn.execute("SELECT id FROM projects").fetchone()[0]
    rows_done = 0
    start = time.perf_counter()

    batch: list[records.Record] = []
    for t in range(tasks):
        base = rnd.uniform(0, span * 0.9)
        prev = None
        for k in range(10):
            if len(batch) + rows_done >= transitions:
                break
            new = STATUSES[min(k, len(STATUSES) - 1)] if k < 5 else STATUSES[k % 5]
            at = begin + timedelta(seconds=min(span, base + k * rnd.uniform(600, 86400)))
            batch.append(
                records.transition(project, str(t), prev, new, "external", at=at, title=f"T{t}")
            )
            prev = new
        if len(batch) >= 50_000:
            rec.store(batch, ingest=False)
            rows_done += len(batch)
            batch = []
    rec.store(batch, ingest=False)
    rows_done += len(batch)

    def when(offset: float) -> str:
        return to_db_time(begin + timedelta(seconds=offset))

    rows: list[tuple[object, ...]] = []
    for i in range(executions):
        started = rnd.uniform(0, span)
        dur = rnd.uniform(5, 1800)
        ok = rnd.random() < 0.8
        rows.append(
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
        if len(rows) >= 50_000:
            _insert_executions(conn, rows)
            rows_done += len(rows)
            rows = []
    _insert_executions(conn, rows)
    rows_done += len(rows)
    return rows_done / (time.perf_counter() - start)


def _insert_executions(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    if not rows:
        return
    with conn:
        conn.executemany(
            "INSERT INTO executions (project_id, tag, task_id, attempt, route, agent, "
            "started_at, finished_at, duration_ms, success, exit_code, tool_calls, turns, "
            "input_tokens, output_tokens, cost_usd, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


# -- report and scrape -----------------------------------------------------------------


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT / "daemon"))


def time_report(db: Path, *extra: str) -> Callable[[], float]:
    summary: dict[str, Any] = {}

    def run() -> float:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "tmxd", "report", "--db", str(db), "--all-projects",
             "--format", "json", *extra],
            env=_env(), capture_output=True, text=True, check=False,
        )  # fmt: skip
        took = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"tmxd report failed: {proc.stderr}")
        summary.update(json.loads(proc.stdout)["summary"])
        return took

    run.summary = summary  # type: ignore[attr-defined]
    return run


def time_baseline(db: Path) -> Callable[[], float]:
    """A bare full scan of executions in a fresh interpreter: the floor for any report."""

    def run() -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", BASELINE, str(db)], check=True)
        return time.perf_counter() - start

    return run


def time_scrape(url: str) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as resp:
            resp.read()
        return time.perf_counter() - start

    return run


def time_bare_scan(db: Path) -> Callable[[], float]:
    """The same bare scan, in this process (the scrape's endpoint is in-process too)."""

    def run() -> float:
        conn = sqlite3.connect(db)
        start = time.perf_counter()
        conn.execute(
            "SELECT count(*), sum(duration_ms), sum(tool_calls) FROM executions"
        ).fetchone()
        took = time.perf_counter() - start
        conn.close()
        return took

    return run


def line(label: str, value: str, target: str, ratio: float, base: str) -> str:
    return f"{label:<40} {value:>14}  target {target:<12} {ratio:5.1f}x the baseline ({base})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--executions", type=int, default=1_000_000)
    ap.add_argument("--transitions", type=int, default=200_000)
    ap.add_argument("--records", type=int, default=200_000, help="rows in the bulk insert")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="build the report database here and keep it (an existing file is reused as is)",
    )
    args = ap.parse_args()
    from tmxd.metrics.prometheus import serve_prometheus

    with tempfile.TemporaryDirectory(prefix="tmxd-bench-") as tmp:
        folder = Path(tmp)
        project = folder / "project"
        project.mkdir()

        batch = bench_records(project, args.records)
        store, bare, ratio = paired(
            lambda: time_store(folder, batch), lambda: time_bare_insert(folder, batch), args.runs
        )
        rate, bare_rate = args.records / store, args.records / bare
        print(
            line(
                f"bulk insert, Recorder.store ({args.records:,} rows)",
                f"{rate:,.0f} rows/s",
                f">= {INSERT_TARGET:,}",
                ratio,
                f"bare executemany, no index: {bare_rate:,.0f} rows/s",
            )
        )

        db = args.keep or folder / "metrics.db"
        if not db.exists():
            with Recorder.open(db) as rec:
                fill = bulk_fill(rec, project, args.executions, args.transitions)
            print(
                f"(filled {args.executions:,} executions and {args.transitions:,} transitions at "
                f"{fill:,.0f} rows/s)"
            )
        else:
            Recorder.open(db).close()  # brought up to date before anything is timed
        print(f"database: {db.stat().st_size / 1e6:,.0f} MB")

        for label, extra in (("all time", ()), ("--since 30d", ("--since", "30d"))):
            report = time_report(db, *extra)
            took, base, ratio = paired(report, time_baseline(db), args.runs)
            summary = report.summary  # type: ignore[attr-defined]
            print(
                line(
                    f"tmxd report --format json ({label})",
                    f"{took:.3f} s",
                    f"<= {REPORT_TARGET_S:g} s",
                    ratio,
                    f"python + one bare scan of executions: {base:.3f} s",
                )
                + f"  [{summary['total_tasks']:,} executions, "
                f"{summary['tasks_in_project']:,} tasks]"
            )

        server = serve_prometheus("127.0.0.1", 0, db, cache_seconds=0, process=False)
        try:
            took, base, ratio = paired(time_scrape(server.url), time_bare_scan(db), args.runs)
        finally:
            server.stop()
        print(
            line(
                "Prometheus scrape, uncached",
                f"{took:.3f} s",
                f"<= {SCRAPE_TARGET_S:g} s",
                ratio,
                f"one bare scan of executions: {base:.3f} s",
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
