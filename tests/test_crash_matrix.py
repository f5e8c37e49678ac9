"""The crash matrix: commits, tasks.json edits and real Task Master CLI writes while the
daemon and ``tmxd sync`` are killed (SIGKILL) at random moments and restarted.

Seeded (``TMXD_CRASH_SEED``, default 13); ``TMXD_CRASH_ROUNDS`` (default 5) and
``TMXD_CRASH_CLI_WRITES`` (default 2: the real CLI takes seconds per call) make longer
runs locally. After every round:

* tasks.json parses and holds the statuses the round's writers set;
* every commit has exactly one note on each task it names, and one metrics row;
* every status change has exactly one transition row;
* no temp file of tmxd is left anywhere (project, state dir, runtime dir);
* the daemon answers.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from daemon_project import query, render, transitions
from daemonproc import DaemonProcess
from helpers import (
    git,
    init_repo,
    oracle_missing,
    run_oracle,
    subprocess_env,
    tmxd_argv,
    wait_until,
)
from tmxd import fsutil
from tmxd.commits import hooks
from tmxd.daemon import control
from tmxd.taskmaster.lock import TaskLock, lock_path_for

SEED = int(os.environ.get("TMXD_CRASH_SEED", "13"))
ROUNDS = int(os.environ.get("TMXD_CRASH_ROUNDS", "5"))
CLI_WRITES = int(os.environ.get("TMXD_CRASH_CLI_WRITES", "2"))
STATUSES = ["pending", "in-progress", "done", "review", "deferred", "blocked", "cancelled"]
EDITED = ["1", "2", "3", "4", "5"]  # tasks without subtasks: their statuses are edited
NOTED = ["6.1", "6.2", "6.3", "6.4"]  # subtasks that commits name


class MetricsRecords(AssertionError):
    """A status change or a commit was recorded in the metrics more (or less) than once."""


def _doc() -> dict[str, Any]:
    def task(tid: int, subtasks: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": tid,
            "title": f"Task {tid}",
            "description": "d",
            "details": "",
            "testStrategy": "",
            "status": "pending",
            "dependencies": [],
            "priority": "medium",
            "subtasks": subtasks,
        }

    subs = [
        {
            "id": n,
            "title": f"Part {n}",
            "description": "",
            "details": "",
            "status": "pending",
            "dependencies": [],
        }
        for n in range(1, 5)
    ]
    tasks = [task(n, []) for n in range(1, 6)] + [task(6, subs)]
    return {"master": {"tasks": tasks, "metadata": {"created": "2026-11-01T00:00:00.000Z"}}}


@dataclass
class Model:
    """What tasks.json and the metrics must hold."""

    statuses: dict[str, str] = field(default_factory=lambda: dict.fromkeys(EDITED, "pending"))
    notes: dict[str, set[str]] = field(default_factory=dict)  # sha -> the tasks it names
    changes: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def set(self, task_id: str, status: str) -> None:
        old = self.statuses[task_id]
        if old != status:
            self.changes[(task_id, old, status)] += 1
            self.statuses[task_id] = status


class Matrix:
    def __init__(self, root: Path, log_dir: Path, rng: random.Random) -> None:
        self.root = root
        self.tasks = root / ".taskmaster" / "tasks" / "tasks.json"
        self.log_dir = log_dir
        self.rng = rng
        self.model = Model()
        self.daemon: DaemonProcess | None = None
        self.starts = 0
        self.kills = {"daemon": 0, "sync": 0}
        self.commits = 0
        self.cli_writes = 0

    # -- processes ----------------------------------------------------------------

    def start_daemon(self) -> None:
        self.starts += 1
        self.daemon = DaemonProcess(
            self.log_dir / f"daemon-{self.starts}.log", "--project", str(self.root)
        ).start()

    def kill_daemon_after(self, delay: float) -> threading.Thread:
        daemon = self.daemon

        def kill() -> None:
            threading.Event().wait(delay)
            if daemon is not None and daemon.proc is not None and daemon.proc.poll() is None:
                daemon.kill9()
                self.kills["daemon"] += 1

        thread = threading.Thread(target=kill)
        thread.start()
        return thread

    def ensure_daemon(self) -> DaemonProcess:
        d = self.daemon
        if d is None or d.proc is None or d.proc.poll() is not None:
            self.start_daemon()
        assert self.daemon is not None
        return self.daemon

    def killed_sync(self) -> None:
        """``tmxd sync`` as a process, killed at a random moment (or let finish)."""
        proc = subprocess.Popen(
            tmxd_argv("sync"),
            cwd=self.root,
            env=subprocess_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            proc.wait(timeout=self.rng.uniform(0.05, 1.2))
        except subprocess.TimeoutExpired:
            proc.kill()
            self.kills["sync"] += 1
        _out, err = proc.communicate(timeout=60)
        assert b"Traceback" not in err, err.decode(errors="replace")

    # -- writers ------------------------------------------------------------------

    def commit(self) -> None:
        self.commits += 1
        task_id = self.rng.choice(NOTED)
        closes = self.rng.random() < 0.3
        target = self.rng.choice(EDITED) if closes else None
        (self.root / f"file{self.commits}.txt").write_text(f"{self.commits}\n")
        git(self.root, "add", ".")
        trailers = f"Task: {task_id}" + (f"\nCloses-Task: {target}" if target else "")
        git(self.root, "commit", "-q", "-m", f"Change {self.commits}\n\n{trailers}")
        sha = git(self.root, "rev-parse", "HEAD").strip()
        self.model.notes[sha] = {task_id} | ({target} if target else set())
        if target is not None:
            self.model.set(target, "done")

    def edit(self, task_id: str, status: str, *, cli: bool) -> None:
        if cli:
            proc = run_oracle("set-status", "--id", task_id, "--status", status, cwd=self.root)
            lock = lock_path_for(self.tasks)
            assert proc.returncode == 0, (
                f"task-master set-status exit {proc.returncode} (lock dir there now: "
                f"{lock.exists()}, kills so far: {self.kills}): {proc.stdout}{proc.stderr}"
            )
            self.cli_writes += 1
        else:
            with TaskLock(self.tasks):  # a lock-respecting editor: re-read inside the lock
                doc = json.loads(self.tasks.read_text(encoding="utf-8"))
                for task in doc["master"]["tasks"]:
                    if str(task["id"]) == task_id:
                        task["status"] = status
                text = render(doc)
                if self.rng.random() < 0.5:
                    self.tasks.write_text(text, encoding="utf-8")  # in place, as the CLI does
                else:
                    tmp = self.tasks.with_name(".tasks.json.swp")  # an editor's rename
                    tmp.write_text(text, encoding="utf-8")
                    os.replace(tmp, self.tasks)
        self.model.set(task_id, status)

    # -- one round ----------------------------------------------------------------

    def round(self, number: int, cli_edit: bool) -> None:
        rng = self.rng
        killer = self.kill_daemon_after(rng.uniform(0.0, 0.8)) if rng.random() < 0.8 else None
        for _ in range(rng.randint(2, 4)):
            self.commit()
        if rng.random() < 0.7:
            self.killed_sync()
        if killer is not None:
            killer.join()
        self.ensure_daemon()
        self.wait_settled("the commits")
        picked = rng.sample(EDITED, rng.randint(1, 3))
        killer = self.kill_daemon_after(rng.uniform(0.0, 0.6)) if rng.random() < 0.5 else None
        for index, task_id in enumerate(picked):
            choices = [s for s in STATUSES if s != self.model.statuses[task_id]]
            self.edit(task_id, rng.choice(choices), cli=cli_edit and index == 0)
        if killer is not None:
            killer.join()
        self.ensure_daemon()
        self.wait_settled("the edits")

    def wait_settled(self, what: str) -> None:
        """The daemon has noted every commit and observed tasks.json as it is now."""
        d = self.ensure_daemon()

        def settled() -> bool:
            if d.proc is None or d.proc.poll() is not None:
                return False
            if hooks.status(self.root).pending:
                control.request("reconcile")
                return False
            text = self.tasks.read_text(encoding="utf-8")
            if not all(sha[:7] in text for sha in self.model.notes):
                return False
            if Counter(self.model.changes) - _recorded():
                return False  # a change not recorded yet
            status = d.status()
            return not (status["queue"] or status["busy"] or status["pending_changes"])

        wait_until(settled, timeout=120, interval=0.1, what=f"the daemon to settle after {what}")

    # -- the invariants -----------------------------------------------------------

    def check(self, number: int, record_errors: list[str]) -> None:
        where = f"round {number} (seed {SEED})"
        doc = json.loads(self.tasks.read_text(encoding="utf-8"))
        tasks = {str(t["id"]): t for t in doc["master"]["tasks"]}
        statuses = {tid: tasks[tid]["status"] for tid in EDITED}
        assert statuses == self.model.statuses, where
        details = {tid: str(tasks[tid].get("details") or "") for tid in EDITED}
        details |= {f"6.{s['id']}": str(s.get("details") or "") for s in tasks["6"]["subtasks"]}
        for sha, named in self.model.notes.items():
            mark = f"({sha[:7]})"
            counts = {tid: text.count(mark) for tid, text in details.items()}
            assert counts == {tid: int(tid in named) for tid in details}, (where, sha)
        assert _temp_files(self.root) == [], where
        assert control.request("ping")["pid"], where
        rows = Counter(sha for (sha,) in query("SELECT sha FROM commits"))
        commit_rows = {sha[:7]: rows[sha] for sha in self.model.notes if rows[sha] != 1}
        if commit_rows:
            record_errors.append(f"{where}: commit rows {commit_rows} (each should be 1)")
        recorded = _recorded()
        expected = self.model.changes
        if recorded != expected:
            extra = dict(recorded - expected)
            missing = dict(expected - recorded)
            record_errors.append(f"{where}: transitions extra {extra}, missing {missing}")

    def stop(self) -> None:
        if self.daemon is not None:
            self.daemon.stop()


def _recorded() -> Counter[tuple[str, str, str]]:
    return Counter((t, old or "", new) for t, old, new, _src in transitions())


def _temp_files(root: Path) -> list[Path]:
    """tmxd's temp files under the project, the state dir and the runtime dir."""
    folders = [root, Path(os.environ["TMXD_STATE_DIR"]), Path(os.environ["TMXD_RUNTIME_DIR"])]
    return [p for folder in folders for p in folder.rglob("*") if fsutil.is_temp(p.name)]


@pytest.mark.slow
def test_crash_matrix(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    root = tmp_path / "proj"
    init_repo(root)
    tasks = root / ".taskmaster" / "tasks" / "tasks.json"
    tasks.parent.mkdir(parents=True)
    tasks.write_text(render(_doc()))
    (root / ".taskmaster" / "state.json").write_text(
        json.dumps({"currentTag": "master", "migrationNoticeShown": True})
    )
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "add tasks")
    hooks.install(root)
    cli_rounds: set[int] = set()
    if oracle_missing() is None and CLI_WRITES:
        cli_rounds = set(rng.sample(range(ROUNDS), min(CLI_WRITES, ROUNDS)))
    matrix = Matrix(root, tmp_path, rng)
    record_errors: list[str] = []
    matrix.start_daemon()
    try:
        matrix.wait_settled("the start")
        for number in range(ROUNDS):
            matrix.round(number, cli_edit=number in cli_rounds)
            matrix.check(number, record_errors)
    finally:
        matrix.stop()
    print(
        f"crash matrix: seed {SEED}, {ROUNDS} rounds, {matrix.commits} commits, "
        f"{sum(matrix.model.changes.values())} status changes, {matrix.cli_writes} CLI writes, "
        f"{matrix.kills['daemon']} daemon kills, {matrix.kills['sync']} sync kills"
    )
    if record_errors:
        raise MetricsRecords("\n".join(record_errors))
