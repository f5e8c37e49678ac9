"""The daemon end to end: a real process watching a real project and repository."""

from __future__ import annotations

import json
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_project import make_project, transitions, write_plain, write_renamed
from daemonproc import DaemonProcess
from helpers import git, oracle_missing, run_oracle, run_tmxd, wait_until
from tmxd.commits import hooks
from tmxd.daemon import control


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    make_project(root)
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "add tasks")
    return root


@pytest.fixture
def tasks(project: Path) -> Path:
    return project / ".taskmaster" / "tasks" / "tasks.json"


def start(tmp_path: Path, project: Path, *extra: str, name: str = "daemon") -> DaemonProcess:
    d = DaemonProcess(tmp_path / f"{name}.log", "--project", str(project), *extra).start()
    wait_until(lambda: _project_status(d).get("baseline"), what="the baseline snapshot")
    return d


def _project_status(d: DaemonProcess) -> dict[str, object]:
    projects = d.status()["projects"]
    return projects[0] if projects else {}


@pytest.fixture
def daemon(tmp_path: Path, project: Path) -> Iterator[DaemonProcess]:
    d = start(tmp_path, project)
    yield d
    d.stop()


@pytest.mark.slow
def test_every_kind_of_edit_becomes_a_transition(daemon: DaemonProcess, tasks: Path) -> None:
    write_plain(tasks, t1="in-progress")
    wait_until(lambda: transitions() == [("1", "pending", "in-progress", "external")])
    write_renamed(tasks, t1="in-progress", t1_1="in-progress")
    wait_until(lambda: len(transitions()) == 2, what="the editor-style save")
    assert transitions()[1] == ("1.1", "pending", "in-progress", "external")
    reason = oracle_missing()
    if reason is None:
        proc = run_oracle("set-status", "--id=3", "--status=review", cwd=tasks.parents[2])
        assert proc.returncode == 0, proc.stdout + proc.stderr
        wait_until(lambda: len(transitions()) == 3, what="the Task Master CLI's write")
        assert transitions()[2] == ("3", "done", "review", "external")
    assert "task 1 pending -> in-progress (external)" in daemon.log()
    if reason is not None:
        pytest.skip(f"plain and rename saves checked; Task Master CLI write not: {reason}")


def test_unblocked_task_is_announced(daemon: DaemonProcess, tasks: Path) -> None:
    write_plain(tasks, t1="done", t1_1="done", t1_2="done")
    wait_until(lambda: "task 2 is now unblocked: Evaluate expressions" in daemon.log())


def _commit(root: Path, name: str, message: str) -> str:
    (root / name).write_text(name + "\n")
    git(root, "add", name)
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def _subtask(tasks: Path, task_id: int, sub_id: int) -> dict[str, object]:
    doc = json.loads(tasks.read_text())
    task = next(t for t in doc["master"]["tasks"] if str(t["id"]) == str(task_id))
    return next(s for s in task["subtasks"] if str(s["id"]) == str(sub_id))


def test_commit_becomes_a_note_and_closes_task(
    daemon: DaemonProcess, project: Path, tasks: Path
) -> None:
    hooks.install(project)
    sha = _commit(project, "tok.py", "Write the tokenizer\n\nTask: 1.1")
    wait_until(lambda: sha[:7] in str(_subtask(tasks, 1, 1)["details"]), what="the commit note")
    assert "Committed changes: Write the tokenizer" in str(_subtask(tasks, 1, 1)["details"])
    sha2 = _commit(project, "gram.py", "Finish the grammar\n\nCloses-Task: 1.2")
    wait_until(lambda: _subtask(tasks, 1, 2)["status"] == "done", what="Closes-Task")
    assert sha2[:7] in str(_subtask(tasks, 1, 2)["details"])
    # the daemon saw its own write to tasks.json and did not record it again: an outside edit
    # made afterwards is recorded (so the daemon has looked at the file since), and it is the
    # only external row
    doc = json.loads(tasks.read_text())
    doc["master"]["tasks"][2]["status"] = "review"
    tasks.write_text(json.dumps(doc, indent=2))
    wait_until(
        lambda: ("3", "done", "review", "external") in transitions(), what="the outside edit"
    )
    rows = transitions()
    assert [r for r in rows if r[3] == "external"] == [("3", "done", "review", "external")]
    assert rows.count(("1.2", "pending", "done", "commit")) == 1


def test_kill_9_mid_burst_then_restart_notes_every_commit_once(
    tmp_path: Path, project: Path, tasks: Path
) -> None:
    hooks.install(project)
    d = start(tmp_path, project)
    shas = []
    try:
        for i in range(30):
            shas.append(_commit(project, f"f{i}.txt", f"Change {i}\n\nTask: 1.1"))
            if i == 11:
                d.kill9()
    finally:
        d.stop()
    second = start(tmp_path, project, name="second")
    try:

        def all_noted() -> bool:
            details = str(_subtask(tasks, 1, 1)["details"])
            return all(s[:7] in details for s in shas)

        wait_until(all_noted, timeout=180, what="every commit to be noted")
        details = str(_subtask(tasks, 1, 1)["details"])
        for sha in shas:
            assert details.count(f"({sha[:7]})") == 1, sha
        assert len(re.findall(r"Committed changes: Change \d+ ", details)) == 30
    finally:
        second.stop()


def test_a_commit_dropped_by_rebase_keeps_its_note(tmp_path: Path) -> None:
    """The QA case with the daemon: the topic commit (task 2) is dropped by a rebase onto
    main's commit (task 3), linked long before; git maps one to the other, yet task 2's
    note stays on its own commit, marked, and task 3 keeps main's note only."""
    root = tmp_path / "q"
    tasks = make_project(root)
    with open(root / ".git" / "info" / "exclude", "a", encoding="utf-8") as fh:
        fh.write(".taskmaster/\n.gitattributes\n")  # tmxd's notes never block the rebase
    hooks.install(root)

    def change(text: str, message: str) -> str:
        (root / "f.txt").write_text(text)
        git(root, "add", "f.txt")
        git(root, "commit", "-q", "-m", message)
        return git(root, "rev-parse", "HEAD").strip()

    change("base\n", "base")
    d = start(tmp_path, root)
    try:
        git(root, "checkout", "-q", "-b", "topic")
        topic = change("topic\n", "topic change\n\nTask: 2")
        wait_until(lambda: topic[:7] in _task(tasks, 2)["details"], what="the topic note")
        git(root, "checkout", "-q", "main")
        onto = change("mainline\n", "mainline change\n\nTask: 3")
        wait_until(lambda: onto[:7] in _task(tasks, 3)["details"], what="the mainline note")
        git(root, "checkout", "-q", "topic")
        git(root, "rebase", "main", check=False)
        (root / "f.txt").write_text("mainline\n")  # main's side: nothing of topic is left
        git(root, "add", "f.txt")
        git(root, "-c", "core.editor=true", "rebase", "--continue")
        assert git(root, "rev-parse", "HEAD").strip() == onto
        wait_until(lambda: "stays on" in d.log(), what="the rewrite to be processed")
        (note,) = [ln for ln in _task(tasks, 2)["details"].splitlines() if "Committed" in ln]
        assert note.startswith(f"Committed changes: topic change ({topic[:7]}) — 1 file, ")
        assert onto[:7] in note and "moved" not in d.log()
        assert _task(tasks, 3)["details"].count("Committed changes:") == 1
    finally:
        d.stop()


def _task(tasks: Path, task_id: int) -> dict[str, str]:
    doc = json.loads(tasks.read_text())
    task = next(t for t in doc["master"]["tasks"] if str(t["id"]) == str(task_id))
    return {k: str(v) for k, v in task.items()}


@pytest.mark.slow
def test_corrupt_tasks_json_is_logged_once_and_recovers(daemon: DaemonProcess, tasks: Path) -> None:
    good = tasks.read_text()
    broken = good[: len(good) // 2]
    tasks.write_text(broken)
    wait_until(lambda: _project_status(daemon).get("error"), what="the parse error")
    error = str(_project_status(daemon)["error"])
    assert re.search(r"tasks\.json: line \d+ column \d+", error), error
    # a save may still be under way: the ERROR comes once the grace period has passed
    # (a timer, well before the 60 s reconcile)
    wait_until(lambda: " ERROR " in daemon.log(), timeout=40, what="the error after the grace")
    tasks.write_text(broken)  # the same broken content again: no second message
    write_plain(tasks.with_name("other.json"))  # unrelated file, forces nothing
    assert control.request("ping")["pid"]
    assert tasks.read_text() == broken
    write_plain(tasks, t2="in-progress")
    wait_until(lambda: ("2", "pending", "in-progress", "external") in transitions())
    # the row is in the database a moment before the engine's status says so
    wait_until(lambda: _project_status(daemon)["error"] is None, what="the error to clear")
    log = daemon.log()
    assert log.count(" ERROR ") == 1, log
    assert "readable again" in log


def test_sigterm_processes_pending_changes_and_exits_0(
    tmp_path: Path, project: Path, tasks: Path
) -> None:
    # A settle window of an hour: the pending change must be processed at SIGTERM, without
    # sitting out the window (the wait for the exit below is far shorter).
    d = start(tmp_path, project, "--settle-ms", "3600000", "--max-wait-ms", "7200000")
    try:
        write_plain(tasks, t2="deferred")
        wait_until(lambda: d.status()["pending_changes"] == 1, what="the change to be pending")
        d.signal(signal.SIGTERM)
        assert d.proc is not None
        code = d.proc.wait(timeout=120)
    finally:
        d.stop()
    assert code == 0, d.output()
    assert transitions() == [("2", "pending", "deferred", "external")]


def test_edits_while_stopped_are_caught_up(tmp_path: Path, project: Path, tasks: Path) -> None:
    d = start(tmp_path, project)
    d.stop()
    write_plain(tasks, t3="cancelled")
    second = start(tmp_path, project, name="second")
    try:
        wait_until(lambda: ("3", "done", "cancelled", "external") in transitions())
    finally:
        second.stop()


def test_watch_add_reaches_a_running_daemon(tmp_path: Path, project: Path, tasks: Path) -> None:
    from helpers import run_tmxd

    d = DaemonProcess(tmp_path / "d.log").start()
    try:
        added = run_tmxd("watch", "add", str(project))
        assert added.returncode == 0, added.stderr
        assert "the running daemon picks the change up now" in added.stdout
        wait_until(lambda: _project_status(d).get("baseline"), what="the new project's baseline")
        listed = run_tmxd("watch", "list", "--format", "json")
        assert json.loads(listed.stdout) == [{"root": str(project.resolve()), "exists": True}]
        write_plain(tasks, t1="review")
        wait_until(lambda: ("1", "pending", "review", "external") in transitions())
        removed = run_tmxd("watch", "remove", str(project))
        assert removed.returncode == 0, removed.stderr
        wait_until(lambda: d.status()["projects"] == [], what="the project to be dropped")
    finally:
        d.stop()


def test_tmxd_set_status_is_recorded_once_as_tmxd(
    daemon: DaemonProcess, project: Path, tasks: Path
) -> None:
    from helpers import run_tmxd

    done = run_tmxd("set-status", "--id", "1.1,1.2", "--status", "done", "-p", str(project))
    assert done.returncode == 0, done.stderr
    assert sorted(transitions()) == [
        ("1", "pending", "done", "tmxd"),
        ("1.1", "pending", "done", "tmxd"),
        ("1.2", "pending", "done", "tmxd"),
    ]
    # a later outside edit shows the daemon has looked since, without counting ours again
    doc = json.loads(tasks.read_text())
    doc["master"]["tasks"][2]["status"] = "review"
    tasks.write_text(json.dumps(doc, indent=2))
    wait_until(lambda: ("3", "done", "review", "external") in transitions())
    assert len(transitions()) == 4


def test_tmxd_sync_and_the_daemon_count_a_close_once(
    tmp_path: Path, project: Path, tasks: Path
) -> None:
    from helpers import run_tmxd

    hooks.install(project)
    d = start(tmp_path, project)
    d.stop()  # commits land while no daemon runs; `tmxd sync` handles them
    _commit(project, "gram.py", "Finish the grammar\n\nCloses-Task: 1.2")
    synced = run_tmxd("sync", "-p", str(project))
    assert synced.returncode == 0, synced.stderr
    assert ("1.2", "pending", "done", "commit") in transitions()
    second = start(tmp_path, project, name="second")  # catches up on anything not recorded
    try:
        write_plain(tasks.with_name("unrelated.json"))
        doc = json.loads(tasks.read_text())
        doc["master"]["tasks"][2]["status"] = "blocked"
        tasks.write_text(json.dumps(doc, indent=2))
        wait_until(lambda: ("3", "done", "blocked", "external") in transitions())
    finally:
        second.stop()
    assert [r for r in transitions() if r[0] == "1.2"] == [("1.2", "pending", "done", "commit")]


def _reconcile_done(d: DaemonProcess) -> None:
    """Ask for a reconcile pass and wait until the engine has handled it."""
    control.request("reconcile", timeout=20)
    wait_until(lambda: (s := d.status())["queue"] == 0 and not s["busy"], what="the reconcile pass")


def _job_last_run(d: DaemonProcess, name: str) -> object:
    return next(j["last_run"] for j in d.status()["jobs"] if j["name"] == name)


def test_a_write_through_a_symlinked_tasks_json_is_seen_at_once(
    tmp_path: Path, project: Path, tasks: Path
) -> None:
    """tasks.json links to a file in another folder: the write through the link is seen
    by the watcher, not left to the minute reconcile; so is `sed -i` replacing the link."""
    target = tmp_path / "shared" / "tasks.json"
    target.parent.mkdir()
    tasks.rename(target)
    tasks.symlink_to(target)
    d = start(tmp_path, project)
    try:
        write_plain(tasks, t1="in-progress")  # open(link, "w"): the target changes in place
        assert tasks.is_symlink()
        wait_until(lambda: transitions() == [("1", "pending", "in-progress", "external")])
        # seen by its events: the minute reconcile has not run yet
        assert _job_last_run(d, "reconcile") is None
        write_renamed(tasks, t1="done")  # sed -i: a new file renamed over the link
        assert not tasks.is_symlink()
        wait_until(lambda: len(transitions()) == 2, what="the save that replaced the link")
        assert transitions()[1] == ("1", "in-progress", "done", "external")
        wait_until(lambda: "tasks.json is no longer a link" in d.log())
        write_plain(tasks, t1="review")  # the plain file is still watched
        wait_until(lambda: len(transitions()) == 3, what="a write to the file in its place")
        assert _job_last_run(d, "reconcile") is None
    finally:
        d.stop()


def test_a_deleted_project_folder_is_named_with_its_fix(tmp_path: Path, project: Path) -> None:
    """The folder of a watched project is deleted: the log says so once, with `tmxd watch
    remove`; `tmxd status` too; the daemon's other project is followed as before."""
    import shutil

    other = tmp_path / "other"
    other_tasks = make_project(other)
    d = DaemonProcess(
        tmp_path / "d.log", "--project", str(project), "--project", str(other)
    ).start()
    try:
        wait_until(
            lambda: all(p.get("baseline") for p in d.status()["projects"]), what="the baselines"
        )
        root = str(project.resolve())
        fix = f"`tmxd watch remove {root}`"
        assert "project folder is gone" not in d.log()  # control: not said of a live project
        shutil.rmtree(project)
        _reconcile_done(d)
        wait_until(lambda: "the project folder is gone" in d.log())
        _reconcile_done(d)
        log = d.log()
        assert log.count("the project folder is gone") == 1, log
        assert fix in log
        assert "no such directory" not in log and "file is missing" not in log
        info = next(p for p in d.status()["projects"] if p["root"] == root)
        assert info["watch"] == "folder gone" and info["gone"] is True
        assert "project folder is gone" in info["error"] and fix in info["error"]
        shown = run_tmxd("status")
        assert f"{root} [folder gone]" in shown.stdout and fix in shown.stdout
        # `tmxd doctor` in the other project: its daemon check names the gone one
        from tmxd.setup.doctor import Context, check_daemon

        ctx = Context(explicit=other)
        ctx.root = other.resolve()
        checked = check_daemon(ctx)
        assert checked.status == "warn", checked
        assert f"watched project folder(s) are gone (deleted or moved): {root}" in (checked.summary)
        assert checked.fix.startswith(fix)
        # positive control: the other project is still followed
        write_plain(other_tasks, t2="in-progress")
        wait_until(lambda: ("2", "pending", "in-progress", "external") in transitions())
    finally:
        d.stop()
