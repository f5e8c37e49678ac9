#!/usr/bin/env python3
"""How much tmxd's git hooks slow down `git commit`.

Three identical repositories (200 files each) are committed to in turn, so
machine noise hits all of them alike: one without hooks, one with tmxd's
hooks, and one with an empty `sh` post-commit hook (the floor any hook pays:
git starting a shell). Each commit changes three files; only `git commit`
is timed. Prints the medians and the ratio tmxd/none (target <= 1.25).

    python scripts/bench_hooks.py [--commits 50] [--check]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.25
FILES = 200


def env(state: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    out.update(
        GIT_AUTHOR_NAME="Bench",
        GIT_AUTHOR_EMAIL="bench@example.invalid",
        GIT_COMMITTER_NAME="Bench",
        GIT_COMMITTER_EMAIL="bench@example.invalid",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        TMXD_STATE_DIR=str(state),
    )
    return out


def git(repo: Path, environ: dict[str, str], *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=environ, check=True, capture_output=True)


def make_repo(path: Path, environ: dict[str, str]) -> Path:
    path.mkdir()
    git(path, environ, "init", "-q", "-b", "main")
    for i in range(FILES):
        (path / f"file{i:03}.txt").write_text(f"line {i}\n" * 20)
    git(path, environ, "add", "-A")
    git(path, environ, "commit", "-q", "-m", "initial")
    return path


def timed_commit(repo: Path, environ: dict[str, str], n: int) -> float:
    for k in range(3):
        with open(repo / f"file{(n * 3 + k) % FILES:03}.txt", "a", encoding="utf-8") as fh:
            fh.write(f"change {n}\n")
    git(repo, environ, "add", "-A")
    start = time.perf_counter()
    git(repo, environ, "commit", "-q", "-m", f"change {n} [1.{n % 5 + 1}]")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=50)
    parser.add_argument("--check", action="store_true", help="exit 1 when over the target")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "daemon"))
    with tempfile.TemporaryDirectory(prefix="tmxd-bench-") as tmp:
        base = Path(tmp)
        environ = env(base / "state")
        os.environ.update({"TMXD_STATE_DIR": environ["TMXD_STATE_DIR"]})
        from tmxd.commits import hooks

        plain = make_repo(base / "plain", environ)
        ours = make_repo(base / "tmxd", environ)
        floor = make_repo(base / "empty-hook", environ)
        hooks.install(ours)
        empty = floor / ".git" / "hooks" / "post-commit"
        empty.write_text("#!/bin/sh\nexit 0\n")
        empty.chmod(0o755)
        times: dict[str, list[float]] = {"none": [], "tmxd": [], "empty": []}
        for n in range(args.commits + 5):  # the first 5 rounds warm caches and are dropped
            for name, repo in (("none", plain), ("tmxd", ours), ("empty", floor)):
                elapsed = timed_commit(repo, environ, n)
                if n >= 5:
                    times[name].append(elapsed)
        spooled = (ours / ".git" / "tmxd" / "spool").read_text().count("\n")
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    ratio = med["tmxd"] / med["none"]
    print(f"git commit, median of {args.commits} ({FILES}-file repository, 3 files changed):")
    print(f"  without hooks        {med['none']:7.2f} ms")
    print(f"  with tmxd hooks      {med['tmxd']:7.2f} ms  (+{med['tmxd'] - med['none']:.2f} ms)")
    print(f"  empty sh hook        {med['empty']:7.2f} ms  (the cost of any hook)")
    print(f"  spool lines written  {spooled}")
    verdict = "ok" if ratio <= TARGET else "over target"
    print(f"ratio tmxd/none: {ratio:.3f}x (target <= {TARGET}x: {verdict})")
    return 1 if args.check and ratio > TARGET else 0


if __name__ == "__main__":
    raise SystemExit(main())
