"""Concurrent writers on one tasks.json: tmxd commands, a tmxd API loop, a writer that takes
the lock the way Task Master's legacy commands do, and the real Task Master CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from helpers import init_repo, oracle_missing, run_oracle, run_tmxd_process, subprocess_env
from tmxd.taskmaster.project import find_project

ROUNDS = 15

# Task Master's legacy writer: an exclusive-create lock *file*, re-read inside the lock,
# write a temp file and rename it over tasks.json, remove the lock.
LEGACY_WRITER = r"""
import json, os, sys, time
path, rounds = sys.argv[1], int(sys.argv[2])
lock = path + ".lock"
for _ in range(rounds):
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            time.sleep(0.005)
    os.write(fd, json.dumps({"pid": os.getpid(), "timestamp": time.time()}).encode())
    os.close(fd)
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    task = next(t for t in data["master"]["tasks"] if str(t["id"]) == "9")
    task["counter"] = task.get("counter", 0) + 1
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2, ensure_ascii=False))
    os.replace(tmp, path)
    os.unlink(lock)
"""

# tmxd's own store, used the way the daemon uses it.
TMXD_WRITER = r"""
import sys
from pathlib import Path
from tmxd.taskmaster.store import TaskStore
store = TaskStore(Path(sys.argv[1]))
for _ in range(int(sys.argv[2])):
    with store.edit() as doc:
        task = next(t for t in doc.task_dicts("master") if str(t["id"]) == "9")
        task["counter"] = task.get("counter", 0) + 1
"""


def _tasks() -> dict[str, Any]:
    tasks = []
    for tid in range(1, 13):
        tasks.append(
            {
                "id": tid,
                "title": f"Task {tid}",
                "description": f"Do thing {tid}",
                "status": "pending",
                "priority": "medium",
                "dependencies": [],
                "subtasks": [
                    {"id": 1, "title": f"Part {tid}.1", "status": "pending", "dependencies": []},
                    {"id": 2, "title": f"Part {tid}.2", "status": "pending", "dependencies": [1]},
                ],
            }
        )
    return {"master": {"tasks": tasks, "metadata": {"created": "2026-01-01T00:00:00.000Z"}}}


def _run(argv: list[str], cwd: Path) -> None:
    proc = subprocess.run(
        argv, cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr


def _project(tmp_path: Path) -> Path:
    init_repo(tmp_path, commit=False)
    path = tmp_path / ".taskmaster" / "tasks" / "tasks.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(_tasks(), indent=2), encoding="utf-8")
    (tmp_path / ".taskmaster" / "state.json").write_text('{"migrationNoticeShown": true}')
    return path


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    path = _project(tmp_path)

    stop = threading.Event()
    parse_failures: list[str] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            text = path.read_text(encoding="utf-8")
            try:
                json.loads(text)
            except ValueError as exc:
                parse_failures.append(str(exc))
            reads[0] += 1

    def tmxd_statuses() -> None:
        for tid in range(1, 5):
            proc = run_tmxd_process("set-status", str(tid), "done", cwd=tmp_path, timeout=300)
            assert proc.returncode == 0, proc.stderr

    def tmxd_notes() -> None:
        for tid in range(5, 9):
            proc = run_tmxd_process(
                "update-subtask",
                "--id",
                f"{tid}.1",
                "--prompt",
                f"note {tid}",
                cwd=tmp_path,
                timeout=300,
            )
            assert proc.returncode == 0, proc.stderr

    jobs = [
        tmxd_statuses,
        tmxd_notes,
        lambda: _run([sys.executable, "-c", LEGACY_WRITER, str(path), str(ROUNDS)], tmp_path),
        lambda: _run([sys.executable, "-c", TMXD_WRITER, str(path), str(ROUNDS)], tmp_path),
    ]
    watcher = threading.Thread(target=reader)
    watcher.start()
    try:
        with ThreadPoolExecutor(len(jobs)) as pool:
            for future in [pool.submit(job) for job in jobs]:
                future.result()
    finally:
        stop.set()
        watcher.join()

    assert parse_failures == []
    assert reads[0] > 0
    assert not Path(str(path) + ".lock").exists()
    doc = json.loads(path.read_text(encoding="utf-8"))
    tasks = {str(t["id"]): t for t in doc["master"]["tasks"]}
    assert tasks["9"]["counter"] == 2 * ROUNDS
    for tid in range(1, 5):
        assert tasks[str(tid)]["status"] == "done"
    for tid in range(5, 9):
        assert f"\nnote {tid}\n</info added on " in "\n" + tasks[str(tid)]["subtasks"][0]["details"]
    assert find_project(tmp_path).tasks_path == path.resolve()


# Increments task 9's counter until a stop file appears, then five more times; prints
# how many increments it made in all and after the stop file appeared.
TMXD_LOOP = r"""
import sys, time
from pathlib import Path
from tmxd.taskmaster.store import TaskStore
store, stop = TaskStore(Path(sys.argv[1])), Path(sys.argv[2])
made = after = 0
while after < 5:
    stopped = stop.exists()
    with store.edit() as doc:
        task = next(t for t in doc.task_dicts("master") if str(t["id"]) == "9")
        task["counter"] = task.get("counter", 0) + 1
    made += 1
    after += stopped
    time.sleep(0.01)
print(made, after)
"""


@pytest.mark.slow
def test_real_task_master_cli_and_tmxd_share_the_lock(tmp_path: Path) -> None:
    """tmxd never clobbers the CLI's write, and the file always parses.

    The CLI itself reads the task list before it takes the lock, so increments tmxd makes
    while the CLI runs can be rolled back by the CLI (docs/compatibility.md); the ones
    made after it finished must all be there.
    """
    reason = oracle_missing()
    if reason is not None:
        pytest.skip(f"needs the real Task Master CLI: {reason}")
    path = _project(tmp_path)
    stop = tmp_path / "stop"
    failures: list[str] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                json.loads(path.read_text(encoding="utf-8"))
            except ValueError as exc:
                failures.append(str(exc))

    watcher = threading.Thread(target=reader)
    watcher.start()
    loop = subprocess.Popen(
        [sys.executable, "-c", TMXD_LOOP, str(path), str(stop)],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        proc = run_oracle("set-status", "--id=12.1", "--status=done", cwd=tmp_path)
    finally:
        stop.touch()
        out, _ = loop.communicate(timeout=120)
        done.set()
        watcher.join()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    made, after = (int(n) for n in out.split())
    doc = json.loads(path.read_text(encoding="utf-8"))
    tasks = {str(t["id"]): t for t in doc["master"]["tasks"]}
    assert after <= tasks["9"]["counter"] <= made
    assert tasks["12"]["subtasks"][0]["status"] == "done"
    assert tasks["12"]["status"] == "in-progress"
    assert failures == []
