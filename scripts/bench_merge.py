#!/usr/bin/env python3
"""`tmxd merge-driver` on Task Master's own tasks.json (corpus 133.json, 1.5 MB, 9 tags)
with 50 edits on each side, as git runs it: a fresh process per merge.

Each side makes its 50 edits the way tmxd and Task Master write (statuses, notes appended
to details, titles, new tasks, new dependencies; changed values spliced into the text), so
the sides differ from the ancestor as real branches do. Reported: the median wall time of
the driver against two baselines timed in the same run on the same files — the Python
interpreter alone (`python -c pass`) and git's own text merge (`git merge-file`) — and an
in-process breakdown. Target: <= 300 ms per merge.

    python scripts/bench_merge.py [--runs 15] [--edits 50] [--check]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "daemon"))
TARGET_SECONDS = 0.300
TASKS_PATH = ".taskmaster/tasks/tasks.json"


sys.path.insert(0, str(ROOT / "scripts"))
from bench_next import CORPUS  # noqa: E402  (the shared corpus, found the same way)


def edited(text: str, edits: int, seed: int) -> str:
    """``text`` after ``edits`` random edits, written back as tmxd writes (minimal splice)."""
    from tmxd.clock import iso_ms
    from tmxd.taskmaster.document import parse_tasks
    from tmxd.taskmaster.merge import tag_views

    rnd = random.Random(seed)
    doc = parse_tasks(text, Path("tasks.json"))
    views = {tag: view for tag, view in tag_views(doc).items() if view.tasks}
    for number in range(edits):
        tasks = rnd.choice(list(views.values())).tasks
        task = rnd.choice(tasks)
        subs = [s for s in task.get("subtasks") or [] if isinstance(s, dict)]
        target = rnd.choice(subs) if subs and rnd.random() < 0.5 else task
        kind = rnd.choices(["status", "note", "title", "task", "dep"], [30, 30, 15, 10, 15])[0]
        if kind == "status":
            target["status"] = rnd.choice(["pending", "in-progress", "review", "done"])
        elif kind == "note":
            moment = datetime(2026, 5, seed, 12, number % 60, number // 60, tzinfo=UTC)
            stamp = iso_ms(moment)
            block = (
                f"<info added on {stamp}>\nNote {number} of side {seed}\n</info added on {stamp}>"
            )
            details = target.get("details")
            target["details"] = (
                f"{details}\n{block}" if isinstance(details, str) and details else block
            )
        elif kind == "title":
            target["title"] = f"{target.get('title', '')} (side {seed}, edit {number})"
        elif kind == "task":
            numbers = [int(float(t["id"])) for t in tasks if str(t.get("id", "")).isdigit()]
            tasks.append(
                {
                    "id": max(numbers, default=0) + 1,
                    "title": f"New task {number} of side {seed}",
                    "description": "Added on a branch",
                    "status": "pending",
                    "dependencies": [],
                    "priority": "medium",
                    "details": "",
                    "testStrategy": "",
                    "subtasks": [],
                }
            )
        else:
            deps = task.setdefault("dependencies", [])
            other = rnd.choice(tasks).get("id")
            if isinstance(deps, list) and other not in deps and other != task.get("id"):
                deps.append(other)
    return doc.render()


def timed(argv: list[str], cwd: Path, env: dict[str, str], before: Callable[[], None]) -> float:
    before()
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    # git merge-file exits with its number of conflicts; the driver with 0 or 1.
    if not 0 <= proc.returncode < 128 or (
        argv[2:4] == ["tmxd", "merge-driver"] and proc.returncode > 1
    ):
        raise SystemExit(f"{argv[:4]} failed ({proc.returncode}): {proc.stderr[-400:]!r}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="processes per command (median)")
    parser.add_argument("--edits", type=int, default=50, help="edits on each side")
    parser.add_argument("--file", default="133", help="corpus file (default: 133)")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    source = CORPUS / f"{args.file}.json"
    if not source.is_file():
        print(f"{source} not found; nothing to time")
        return 0
    base = source.read_text(encoding="utf-8")
    ours, theirs = edited(base, args.edits, 1), edited(base, args.edits, 2)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT / "daemon"), env.get("PYTHONPATH")) if p
    )
    with tempfile.TemporaryDirectory(prefix="tmxd-bench-merge-") as tmp:
        work = Path(tmp)
        (work / TASKS_PATH).parent.mkdir(parents=True)
        files = {name: work / f".merge_file_{name}" for name in ("O", "A", "B")}
        files["O"].write_text(base, encoding="utf-8")
        files["B"].write_text(theirs, encoding="utf-8")
        pristine = work / "ours.json"
        pristine.write_text(ours, encoding="utf-8")

        def fresh_ours() -> None:
            shutil.copyfile(pristine, files["A"])

        driver = [sys.executable, "-m", "tmxd", "merge-driver"]
        driver += [str(files[n]) for n in ("O", "A", "B")] + [TASKS_PATH]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "git merge-file": ["git", "merge-file", "-p", *(str(files[n]) for n in "AOB")],
            "tmxd merge-driver": driver,
        }
        timed(driver, work, env, fresh_ours)  # warm the page cache
        medians = {}
        for label, command in commands.items():
            runs = [timed(command, work, env, fresh_ours) for _ in range(args.runs)]
            medians[label] = statistics.median(runs)
        fresh_ours()
        outcome = subprocess.run(driver, cwd=work, env=env, capture_output=True, text=True)
    size = len(base.encode("utf-8")) / 1e6
    print(f"{args.file}.json ({size:.1f} MB), {args.edits} edits per side, {args.runs} runs each:")
    for label, value in medians.items():
        print(f"  {label:<18} median {value * 1000:7.1f} ms")
    mine = medians["tmxd merge-driver"]
    print(f"  ratio merge-driver / python -c pass = {mine / medians['python -c pass']:.1f}x")
    print(f"  ratio merge-driver / git merge-file = {mine / medians['git merge-file']:.1f}x")
    verdict = "met" if mine <= TARGET_SECONDS else "MISSED"
    print(f"  target <= {TARGET_SECONDS * 1000:.0f} ms: {verdict}")
    print(f"  driver exit {outcome.returncode}: {outcome.stderr.strip().splitlines()[:1]}")
    print(in_process(base, ours, theirs))
    return 1 if args.check and mine > TARGET_SECONDS else 0


def in_process(base: str, ours: str, theirs: str) -> str:
    """Where the driver's time goes, measured inside one process."""
    from tmxd.taskmaster import jsonedit
    from tmxd.taskmaster.document import parse_tasks
    from tmxd.taskmaster.merge import merge

    t0 = time.perf_counter()
    docs = [parse_tasks(text, Path("tasks.json")) for text in (base, ours, theirs)]
    t1 = time.perf_counter()
    result = merge(*docs, now=datetime.now(UTC))
    t2 = time.perf_counter()
    jsonedit.apply(ours, result.edits)
    t3 = time.perf_counter()
    return (
        f"  in process: parse 3 sides {(t1 - t0) * 1000:.1f} ms, merge {(t2 - t1) * 1000:.1f} ms"
        f" ({len(result.edits)} edits, {len(result.conflicts)} conflicts), "
        f"splice {(t3 - t2) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    raise SystemExit(main())
