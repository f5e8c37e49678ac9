"""The merge driver with real `git merge` and `git rebase` over corpus files."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import CORPUS, git, init_repo
from tmxd.cli import main
from tmxd.commits import merge_driver
from tmxd.errors import InputError
from tmxd.taskmaster.document import js_string, parse_tasks
from tmxd.taskmaster.merge import MISSING, Conflict, tag_views
from tmxd.taskmaster.ops import append_note, set_status
from tmxd.taskmaster.project import find_project
from tmxd.taskmaster.store import TaskStore

TASKS = Path(".taskmaster/tasks/tasks.json")


def no_tmxd_on_path(_name: str) -> str | None:
    return None


def project_repo(root: Path, corpus: str, *, register: bool = True) -> Path:
    """A repository on ``main`` holding corpus file ``corpus`` as its tasks.json."""
    init_repo(root)
    (root / TASKS).parent.mkdir(parents=True)
    shutil.copyfile(CORPUS / f"{corpus}.json", root / TASKS)
    (root / ".taskmaster" / "state.json").write_text('{"currentTag": "master"}')
    if register:
        merge_driver.register(find_project(root), which=no_tmxd_on_path)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"Tasks from corpus {corpus}")
    return root


def store(root: Path) -> TaskStore:
    return TaskStore(find_project(root))


def data(root: Path) -> Any:
    return json.loads((root / TASKS).read_text(encoding="utf-8"))


def master(root: Path) -> list[dict[str, Any]]:
    doc = parse_tasks((root / TASKS).read_text(encoding="utf-8"), root / TASKS)
    return doc.task_dicts("master")


def find(root: Path, task_id: str) -> dict[str, Any]:
    doc = parse_tasks((root / TASKS).read_text(encoding="utf-8"), root / TASKS)
    found = doc.locate(task_id, "master")
    assert found is not None, task_id
    return found[1]


def add_task(root: Path, task_id: int, title: str, **extra: Any) -> None:
    with store(root).edit() as doc:
        tasks = tag_views(doc)["master"].tasks
        tasks.append(
            {"id": task_id, "title": title, "status": "pending", "dependencies": [], **extra}
        )
        doc.invalidate()


def commit(root: Path, message: str) -> None:
    git(root, "commit", "-q", "-am", message)


def diverge(root: Path, *, ours: str, theirs: str) -> str:
    """Set the first pending task to ``theirs`` on branch theirs, to ``ours`` on main."""
    task_id = next(js_string(t["id"]) for t in master(root) if t.get("status") == "pending")
    git(root, "checkout", "-q", "-b", "theirs")
    set_status(store(root), [task_id], theirs)
    commit(root, f"Theirs sets {task_id} {theirs}")
    git(root, "checkout", "-q", "main")
    set_status(store(root), [task_id], ours)
    commit(root, f"Ours sets {task_id} {ours}")
    return task_id


def merge(root: Path, branch: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "merge", "--no-edit", "-m", f"Merge {branch}", branch],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )


def added_lines(root: Path, a: str, b: str) -> set[str]:
    out = git(root, "diff", "-U0", a, b, "--", str(TASKS))
    return {
        line[1:] for line in out.splitlines() if line.startswith("+") and not line.startswith("+++")
    }


def parent_with_subtasks(root: Path, count: int = 2) -> dict[str, Any]:
    for task in master(root):
        subs = task.get("subtasks") or []
        if len(subs) >= count and all(s.get("status") != "done" for s in subs[:count]):
            return task
    raise AssertionError("no task with pending subtasks")


# -- the headline case --------------------------------------------------------------------


def test_two_branches_setting_subtasks_and_adding_tasks_merge_clean(tmp_path: Path) -> None:
    root = project_repo(tmp_path / "repo", "005")
    parent = js_string(parent_with_subtasks(root)["id"])
    top = max(int(js_string(t["id"])) for t in master(root))
    git(root, "checkout", "-q", "-b", "theirs")
    set_status(store(root), [f"{parent}.2"], "done")
    append_note(store(root), f"{parent}.2", "Committed changes: theirs (bbbbbbb)")
    add_task(root, top + 2, "Theirs' new task")
    commit(root, "Theirs' work")
    git(root, "checkout", "-q", "main")
    set_status(store(root), [f"{parent}.1"], "done")
    append_note(store(root), f"{parent}.1", "Committed changes: ours (aaaaaaa)")
    add_task(root, top + 1, "Ours' new task")
    commit(root, "Ours' work")

    # Without the driver (a fresh clone: .gitattributes, but no config), git's text merge
    # conflicts inside the JSON.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    git(clone, "fetch", "-q", "origin", "theirs:theirs")
    control = merge(clone, "theirs")
    assert control.returncode != 0
    assert "<<<<<<<" in (clone / TASKS).read_text(encoding="utf-8")

    proc = merge(root, "theirs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert find(root, f"{parent}.1")["status"] == "done"
    assert find(root, f"{parent}.2")["status"] == "done"
    assert "Committed changes: ours" in find(root, f"{parent}.1")["details"]
    assert "Committed changes: theirs" in find(root, f"{parent}.2")["details"]
    assert [t["id"] for t in master(root)][-2:] == [top + 1, top + 2]
    # The merge commit brings the lines theirs changed that ours had not, in ours' format,
    # and nothing else.
    base = git(root, "merge-base", "HEAD^1", "HEAD^2").strip()
    brought = added_lines(root, "HEAD^1", "HEAD")
    theirs, ours = added_lines(root, base, "HEAD^2"), added_lines(root, base, "HEAD^1")
    assert theirs - ours <= brought <= theirs
    assert not (root / f"{TASKS}.conflicts").exists()


def test_both_branches_adding_the_same_task_id_renumber_theirs(tmp_path: Path) -> None:
    root = project_repo(tmp_path, "021")
    top = max(int(js_string(t["id"])) for t in master(root))
    new = top + 1
    git(root, "checkout", "-q", "-b", "theirs")
    add_task(root, new, "Theirs' task")
    add_task(root, new + 1, "Depends on theirs' task", dependencies=[new])
    commit(root, "Theirs adds two tasks")
    git(root, "checkout", "-q", "main")
    add_task(root, new, "Ours' task")
    commit(root, "Ours adds one")
    proc = merge(root, "theirs")
    assert proc.returncode == 0, proc.stderr
    assert f"task {new} is now {new + 2}" in proc.stdout + proc.stderr
    tail = master(root)[-3:]
    assert [(t["id"], t["title"]) for t in tail] == [
        (new, "Ours' task"),
        (new + 1, "Depends on theirs' task"),
        (new + 2, "Theirs' task"),
    ]
    assert tail[1]["dependencies"] == [new + 2]
    assert f"Renumbered from {new} to {new + 2}" in tail[2]["details"]


def test_cancelled_against_done_stops_with_a_valid_file_and_a_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project_repo(tmp_path, "021")
    task_id = diverge(root, ours="cancelled", theirs="done")
    proc = merge(root, "theirs")
    assert proc.returncode != 0
    assert git(root, "ls-files", "-u", "--", str(TASKS)).strip()  # unmerged
    assert find(root, task_id)["status"] == "cancelled"  # valid JSON, holding ours
    report = root / f"{TASKS}.conflicts"
    lines = [x for x in report.read_text(encoding="utf-8").splitlines() if not x.startswith("#")]
    assert lines == [f'master\t{task_id}\tstatus\t"cancelled"\t"done"']
    assert main(["merge-driver", "-p", str(root), "--resolve", task_id, "status", "theirs"]) == 0
    out = capsys.readouterr().out
    assert find(root, task_id)["status"] == "done"
    assert not report.exists()
    assert f"no conflicts left; mark the file resolved: git add {root / TASKS}" in out
    git(root, "add", str(TASKS))
    git(root, "commit", "-q", "--no-edit")
    assert git(root, "status", "--porcelain").strip() == ""


def test_rebase_replays_task_changes_through_the_driver(tmp_path: Path) -> None:
    root = project_repo(tmp_path, "021")
    parent = js_string(parent_with_subtasks(root, 3)["id"])
    top = max(int(js_string(t["id"])) for t in master(root))
    git(root, "checkout", "-q", "-b", "feature")
    set_status(store(root), [f"{parent}.1"], "done")
    commit(root, "First step")
    append_note(store(root), f"{parent}.1", "Committed changes: step one")
    add_task(root, top + 1, "Feature follow-up")
    commit(root, "Second step")
    git(root, "checkout", "-q", "main")
    set_status(store(root), [f"{parent}.3"], "review")
    add_task(root, top + 1, "Main's own task")
    commit(root, "Meanwhile on main")
    git(root, "checkout", "-q", "feature")
    proc = subprocess.run(["git", "rebase", "main"], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert find(root, f"{parent}.1")["status"] == "done"
    assert find(root, f"{parent}.3")["status"] == "review"
    titles = [t["title"] for t in master(root)[-2:]]
    assert titles == ["Main's own task", "Feature follow-up"]
    assert master(root)[-1]["id"] == top + 2  # the replayed commit's task was renumbered


# -- the driver on its own ------------------------------------------------------------------


@pytest.mark.parametrize("side", ["ancestor", "ours", "theirs"])
def test_invalid_json_on_any_side_leaves_ours_untouched(tmp_path: Path, side: str) -> None:
    good = (CORPUS / "001.json").read_bytes()
    files = {name: tmp_path / f"{name}.json" for name in ("ancestor", "ours", "theirs")}
    for path in files.values():
        path.write_bytes(good)
    files[side].write_text('{"master": {"tasks": [},}')
    before = files["ours"].read_bytes()
    with pytest.raises(merge_driver.SideError) as caught:
        merge_driver.run(
            files["ancestor"], files["ours"], files["theirs"], str(TASKS), workdir=tmp_path
        )
    assert caught.value.message.startswith(f"{side}: ")
    assert "\n" not in caught.value.message
    assert files["ours"].read_bytes() == before
    assert not (tmp_path / f"{TASKS}.conflicts").exists()


def test_invalid_json_in_a_real_merge(tmp_path: Path) -> None:
    root = project_repo(tmp_path, "001")
    git(root, "checkout", "-q", "-b", "theirs")
    (root / TASKS).write_text("{ not json")
    commit(root, "Break it")
    git(root, "checkout", "-q", "main")
    set_status(store(root), [js_string(master(root)[0]["id"])], "review")
    commit(root, "Ours")
    ours = (root / TASKS).read_bytes()
    proc = merge(root, "theirs")
    assert proc.returncode != 0
    assert "tmxd merge-driver: theirs: " in proc.stderr
    assert (root / TASKS).read_bytes() == ours


def test_an_empty_ancestor_means_both_sides_added_the_file(tmp_path: Path) -> None:
    files = {name: tmp_path / name for name in ("o", "a", "b")}
    files["o"].write_text("")
    shutil.copyfile(CORPUS / "001.json", files["a"])
    shutil.copyfile(CORPUS / "001.json", files["b"])
    run = merge_driver.run(files["o"], files["a"], files["b"], "tasks.json", workdir=tmp_path)
    assert run.result.clean and not run.changed


def test_report_lines_read_back() -> None:
    conflicts = [
        Conflict("master", "12", ("status",), "cancelled", "done"),
        Conflict("master", "7", (), MISSING, {"id": 7, "title": "tab\there"}),
        Conflict("feature", None, ("metadata", "description"), "a", "b"),
        Conflict(None, None, ("version",), 1, MISSING),
        Conflict("old", None, (), {"tasks": []}, MISSING),
    ]
    text = merge_driver.report_text("tasks.json", conflicts)
    assert "master\t7\ttask\t(deleted)\t{" in text
    assert len(text.splitlines()) == 4 + len(conflicts)  # a short head, one line each
    assert merge_driver.parse_report(text, "tasks.json.conflicts") == conflicts
    with pytest.raises(InputError, match="line 2 is not a conflict line"):
        merge_driver.parse_report("# head\nmaster\t12\tstatus\n", "r")


# -- settling conflicts one by one ------------------------------------------------------------


def conflicted(root: Path, ours: dict[str, Any], theirs: dict[str, Any]) -> Path:
    """Write a report as the driver would after merging ``theirs`` into ``ours`` (the file)."""
    base = data(root)
    files = {name: root / f".merge_file_{name}" for name in ("o", "a", "b")}
    for name, value in (("o", base), ("a", ours), ("b", theirs)):
        files[name].write_text(json.dumps(value, indent=2), encoding="utf-8")
    run = merge_driver.run(files["o"], files["a"], files["b"], str(TASKS), workdir=root)
    (root / TASKS).write_text(files["a"].read_text(encoding="utf-8"), encoding="utf-8")
    for path in files.values():
        path.unlink()
    assert run.report is not None
    return run.report


def test_resolve_whole_tasks_fields_and_tags_one_at_a_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project_repo(tmp_path, "021", register=False)
    base = data(root)
    ours, theirs = json.loads(json.dumps(base)), json.loads(json.dumps(base))
    o_tasks, t_tasks = ours["master"]["tasks"], theirs["master"]["tasks"]
    gone = o_tasks.pop(0)  # ours deletes task 1, theirs edits it
    t_tasks[0]["title"] = "Still wanted"
    t_tasks.pop(1)  # theirs deletes task 2, ours edits it
    o_tasks[0]["title"] = "Edited by ours"
    mine, other = [p for p in ("low", "high", "critical") if p != o_tasks[2].get("priority")][:2]
    o_tasks[2]["priority"], t_tasks[2]["priority"] = mine, other
    ours["master"]["metadata"]["description"] = "ours"
    theirs["master"]["metadata"]["description"] = "theirs"
    report = conflicted(root, ours, theirs)
    listed = merge_driver.read_report(report)
    first, second = js_string(gone["id"]), js_string(base["master"]["tasks"][1]["id"])
    third = js_string(base["master"]["tasks"][3]["id"])
    assert sorted((c.task_id or "-", c.field_name) for c in listed) == sorted(
        [("-", "metadata.description"), (second, "task"), (third, "priority"), (first, "task")]
    )

    def resolve(*args: str) -> str:
        assert main(["merge-driver", "-p", str(root), "--resolve", *args]) == 0
        return capsys.readouterr().out

    assert "3 conflict(s) left" in resolve(first, "task", "theirs")
    assert find(root, first)["title"] == "Still wanted"  # back, at the end of the list
    assert resolve(second, "task", "theirs").startswith(f"master {second} task: theirs written")
    assert doc_ids(root).count(second) == 0
    resolve(third, "priority", "ours")
    assert find(root, third)["priority"] == mine
    assert report.read_text(encoding="utf-8").startswith("# tmxd merge-driver: conflicts in")
    out = resolve("-", "metadata.description", "theirs")
    assert data(root)["master"]["metadata"]["description"] == "theirs"
    assert "no conflicts left" in out and not report.exists()


def doc_ids(root: Path) -> list[str]:
    return [js_string(t["id"]) for t in master(root)]


def test_resolve_refuses_what_it_cannot_do_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project_repo(tmp_path, "021", register=False)
    before = (root / TASKS).read_bytes()
    assert main(["merge-driver", "-p", str(root), "--resolve", "3", "status", "ours"]) == 2
    assert "no merge conflicts are recorded" in capsys.readouterr().err
    base = data(root)
    ours, theirs = json.loads(json.dumps(base)), json.loads(json.dumps(base))
    for side, status in ((ours, "cancelled"), (theirs, "done")):
        side["master"]["tasks"][3]["status"] = status
    report = conflicted(root, ours, theirs)
    task_id = js_string(base["master"]["tasks"][3]["id"])
    assert main(["merge-driver", "-p", str(root), "--resolve", "99", "status", "ours"]) == 2
    err = capsys.readouterr().err
    assert "no open conflict on 99 status" in err and f"open: {task_id} status" in err
    assert main(["merge-driver", "-p", str(root), "--resolve", task_id, "status", "maybe"]) == 2
    assert "--resolve takes ID FIELD ours|theirs" in capsys.readouterr().err
    assert main(["merge-driver", "only", "two"]) == 2
    assert "git passes %O %A %B %P" in capsys.readouterr().err
    assert report.exists() and find(root, task_id)["status"] == "cancelled"
    assert (root / TASKS).read_bytes() != before  # the driver wrote ours' merge; untouched since


# -- registering the driver ---------------------------------------------------------------------


def test_driver_command_uses_tmxd_on_path_or_its_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fallback = "else git merge-file -L ours -L base -L theirs --marker-size=%L %A %O %B; fi"
    on_path = merge_driver.driver_command(lambda _: "/usr/bin/tmxd")
    assert on_path == (
        "if command -v tmxd >/dev/null 2>&1; then tmxd merge-driver %O %A %B %P; " + fallback
    )
    assert merge_driver.driver_program(on_path) == "tmxd"
    script = tmp_path / "my tools" / "tmxd"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    monkeypatch.setattr("sys.argv", [str(script), "init"])
    absolute = merge_driver.driver_command(no_tmxd_on_path)
    quoted = f"'{script}'"
    assert absolute == f"if [ -x {quoted} ]; then {quoted} merge-driver %O %A %B %P; " + fallback
    assert merge_driver.driver_program(absolute) == str(script)
    monkeypatch.setattr("sys.argv", ["/somewhere/tmxd/__main__.py"])
    module = merge_driver.driver_command(no_tmxd_on_path)
    assert " -m tmxd merge-driver %O %A %B %P; " + fallback in module
    assert merge_driver.driver_program(module) == sys.executable
    assert merge_driver.driver_program("tmxd merge-driver %O %A %B %P") is None  # no fallback


def two_branches_change_two_tasks(root: Path) -> None:
    """Branch ``theirs`` and main each set a different task done: lines far apart, so
    git's own text merge is clean."""
    pending = [js_string(t["id"]) for t in master(root) if t.get("status") == "pending"]
    git(root, "checkout", "-q", "-b", "theirs")
    set_status(store(root), [pending[0]], "done")
    commit(root, "theirs: first task done")
    git(root, "checkout", "-q", "main")
    set_status(store(root), [pending[-1]], "done")
    commit(root, "ours: last task done")


def merge_without_tmxd(root: Path, path: str = "/usr/bin:/bin") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path}
    return subprocess.run(
        ["git", "merge", "--no-edit", "theirs"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("where", ["on PATH", "absolute path gone"])
def test_a_merge_without_tmxd_is_git_s_own_text_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """The driver is registered, but git cannot run tmxd (not on git's PATH, or the
    absolute path it was registered with is gone): the merge goes exactly as it goes in
    a clone with no driver at all."""
    plain = project_repo(tmp_path / "plain", "021", register=False)
    two_branches_change_two_tasks(plain)
    assert merge_without_tmxd(plain).returncode == 0
    root = project_repo(tmp_path / "repo", "021", register=False)
    if where == "on PATH":
        merge_driver.register(find_project(root), which=lambda _: "/opt/tmxd/bin/tmxd")
    else:
        script = tmp_path / "venv" / "bin" / "tmxd"
        script.parent.mkdir(parents=True)
        script.write_text("#!/bin/sh\nexit 3\n")
        script.chmod(0o755)
        monkeypatch.setattr("sys.argv", [str(script)])
        merge_driver.register(find_project(root), which=no_tmxd_on_path)
        shutil.rmtree(tmp_path / "venv")  # tmxd uninstalled, its virtualenv gone
    git(root, "add", ".gitattributes")
    commit(root, "route tasks.json")
    two_branches_change_two_tasks(root)
    out = merge_without_tmxd(root)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "not found" not in out.stderr and "CONFLICT" not in out.stdout
    assert (root / TASKS).read_bytes() == (plain / TASKS).read_bytes()
    # a real conflict is git's own: markers in the file, the path unmerged
    for repo in (plain, root):
        git(repo, "checkout", "-q", "-b", f"again-{repo.name}")
    for repo in (plain, root):
        first = js_string(master(repo)[0]["id"])
        git(repo, "checkout", "-q", "-B", "theirs")
        set_status(store(repo), [first], "review")
        commit(repo, "theirs: review")
        git(repo, "checkout", "-q", f"again-{repo.name}")
        set_status(store(repo), [first], "deferred")
        commit(repo, "ours: deferred")
    conflicted = [merge_without_tmxd(repo) for repo in (plain, root)]
    assert [c.returncode for c in conflicted] == [1, 1]
    assert "<<<<<<< ours" in (root / TASKS).read_text()
    assert git(root, "ls-files", "--unmerged", "--", str(TASKS)).strip()
    assert not (root / TASKS).with_name("tasks.json.conflicts").exists()


def test_a_merge_with_tmxd_on_path_runs_the_driver(tmp_path: Path) -> None:
    """The same driver line, with tmxd on git's PATH: tmxd merges (no markers, a report)."""
    root = project_repo(tmp_path / "repo", "021", register=False)
    merge_driver.register(find_project(root), which=lambda _: "/somewhere/tmxd")
    git(root, "add", ".gitattributes")
    commit(root, "route tasks.json")
    diverge(root, ours="deferred", theirs="done")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "tmxd").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m tmxd "$@"\n')
    (bin_dir / "tmxd").chmod(0o755)
    out = merge_without_tmxd(root, f"{bin_dir}:/usr/bin:/bin")
    assert out.returncode == 1
    assert "<<<<<<<" not in (root / TASKS).read_text()
    assert (root / TASKS).with_name("tasks.json.conflicts").exists()


def test_hooks_uninstall_removes_the_driver_and_only_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project_repo(tmp_path / "repo", "021", register=False)
    (root / ".gitattributes").write_text("*.png binary\n*.md text eol=lf\n")
    assert main(["hooks", "install", "-p", str(root)]) == 0
    git(root, "config", "--local", "merge.ours.driver", "true")  # someone else's driver
    merge_driver.config_args(root)  # the autopilot's line in info/attributes (already routed)
    info = root / ".git" / "info" / "attributes"
    info.write_text("*.lock -diff\n.taskmaster/tasks/tasks.json merge=tmxd-tasks\n")
    capsys.readouterr()
    assert main(["hooks", "uninstall", "-p", str(root)]) == 0
    out = capsys.readouterr().out
    assert "merge driver: git config merge.tmxd-tasks: removed; .gitattributes: line removed" in out
    assert (root / ".gitattributes").read_text() == "*.png binary\n*.md text eol=lf\n"
    assert info.read_text() == "*.lock -diff\n"
    config = git(root, "config", "--local", "--list")
    assert "tmxd-tasks" not in config and "merge.ours.driver=true" in config
    assert git(root, "check-attr", "merge", "--", str(TASKS)).strip().endswith("unspecified")
    assert main(["hooks", "uninstall", "-p", str(root)]) == 0
    assert "merge driver: git config merge.tmxd-tasks: not set; no attributes line" in (
        capsys.readouterr().out
    )
    # a .gitattributes tmxd created for its line alone goes with it
    other = project_repo(tmp_path / "other", "021")
    assert (other / ".gitattributes").exists()
    assert main(["hooks", "uninstall", "-p", str(other)]) == 0
    assert "(file now empty: deleted)" in capsys.readouterr().out
    assert not (other / ".gitattributes").exists()


def test_driver_lines_are_only_the_ones_register_writes() -> None:
    assert merge_driver._is_driver_line(".taskmaster/tasks/tasks.json merge=tmxd-tasks\n")
    assert merge_driver._is_driver_line('"my dir/tasks.json"\tmerge=tmxd-tasks')
    assert not merge_driver._is_driver_line("tasks.json -diff merge=tmxd-tasks")
    assert not merge_driver._is_driver_line("merge=tmxd-tasks")
    assert not merge_driver._is_driver_line("tasks.json merge=tmxd-tasks-other")
    assert not merge_driver._is_driver_line("# tasks.json merge=tmxd-tasks, see docs")


def test_hooks_install_registers_once_merging_into_gitattributes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = project_repo(tmp_path / "repo", "021", register=False)
    (root / ".gitattributes").write_text("*.png binary")  # no final newline
    assert main(["hooks", "install", "-p", str(root)]) == 0
    out = capsys.readouterr().out
    assert "merge driver: tasks.json merges through `tmxd merge-driver`" in out
    expected = "*.png binary\n.taskmaster/tasks/tasks.json merge=tmxd-tasks\n"
    assert (root / ".gitattributes").read_text() == expected
    driver = git(root, "config", "--local", "merge.tmxd-tasks.driver").strip()
    assert merge_driver.driver_program(driver)  # tmxd, with git's text merge as fallback
    assert git(root, "config", "--local", "merge.tmxd-tasks.name").strip()
    assert main(["hooks", "install", "-p", str(root)]) == 0
    assert "line already there; git config merge.tmxd-tasks.driver: already set" in (
        capsys.readouterr().out
    )
    assert (root / ".gitattributes").read_text() == expected
    # A repository without a Task Master project gets hooks, and no attributes.
    bare = init_repo(tmp_path / "plain")
    assert main(["hooks", "install", "-p", str(bare)]) == 0
    assert "merge driver: not set up: no Task Master project here" in capsys.readouterr().out
    assert not (bare / ".gitattributes").exists()


def test_init_registers_the_driver(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project_repo(tmp_path, "021", register=False)
    assert main(["init", "--dry-run", "-p", str(root)]) == 0
    assert "merge driver: would route tasks.json" in capsys.readouterr().out
    assert not (root / ".gitattributes").exists()
    main(["init", "--yes", "-p", str(root)])
    assert "merge driver: ok: tasks.json merges through" in capsys.readouterr().out
    assert ".taskmaster/tasks/tasks.json merge=tmxd-tasks" in (root / ".gitattributes").read_text()
    assert git(root, "config", "merge.tmxd-tasks.driver").strip()


def test_doctor_says_what_a_clone_lacks(tmp_path: Path) -> None:
    from tmxd.setup.doctor import Context, check_merge_driver, check_project

    def check(root: Path) -> Any:
        ctx = Context(explicit=root)
        check_project(ctx)
        return check_merge_driver(ctx)

    plain = project_repo(tmp_path / "plain", "021", register=False)
    result = check(plain)
    assert (result.status, result.fix) == (
        "warn",
        "run `tmxd hooks install`, then commit .gitattributes so every clone routes it to "
        "the driver",
    )
    root = project_repo(tmp_path / "repo", "021")
    assert check(root).status == "ok"
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(root), str(clone))
    result = check(clone)
    assert result.status == "fail" and "does not define that driver" in result.summary
    assert "git reads merge drivers from each clone's config" in result.fix
    git(clone, "config", "merge.tmxd-tasks.driver", "/gone/tmxd merge-driver %O %A %B %P")
    result = check(clone)
    assert result.status == "fail" and "whose tmxd is not there" in result.summary
    gone = "if [ -x /gone/tmxd ]; then /gone/tmxd merge-driver %O %A %B %P; else "
    git(clone, "config", "merge.tmxd-tasks.driver", gone + merge_driver.FALLBACK + "; fi")
    result = check(clone)
    assert result.status == "warn" and "fall back to git's text merge" in result.summary
    legacy = f"{shlex.quote(sys.executable)} -m tmxd merge-driver %O %A %B %P"  # older tmxd
    git(clone, "config", "merge.tmxd-tasks.driver", legacy)
    result = check(clone)
    assert (result.status, result.fix) == (
        "warn",
        "run `tmxd hooks install` again (the driver then falls back to git's own text merge)",
    )
    # Open conflicts, while git holds the file unmerged, and once it no longer does.
    diverge(root, ours="deferred", theirs="done")
    assert merge(root, "theirs").returncode != 0
    result = check(root)
    assert result.status == "fail" and "a merge stopped on 1 conflict(s)" in result.summary
    git(root, "merge", "--abort")
    result = check(root)
    assert result.status == "warn" and "no longer holds" in result.summary


# -- the autopilot's merges -----------------------------------------------------------------


def test_autopilot_merges_task_branches_through_the_driver(tmp_path: Path) -> None:
    from tmxd.autopilot import worktrees

    root = project_repo(tmp_path, "021", register=False)  # nothing registered by hand
    ids = [js_string(t["id"]) for t in master(root) if t.get("status") == "pending"][:2]
    top = max(int(i) for i in doc_ids(root))
    trees = [worktrees.create(root, task_id, worktrees.base_dir(root)) for task_id in ids]
    for number, (task_id, wt) in enumerate(zip(ids, trees, strict=True)):
        set_status(store(wt.path), [task_id], "done")
        add_task(wt.path, top + 1 + number, f"Follow-up of {task_id}")
        git(wt.path, "commit", "-q", "-am", f"Task {task_id}")  # an agent's own commit
    first = worktrees.merge_back(root, trees[0], "Merge the first")
    second = worktrees.merge_back(root, trees[1], "Merge the second")
    assert first.merged and second.merged, second.detail
    assert [find(root, i)["status"] for i in ids] == ["done", "done"]
    assert [t["title"] for t in master(root)[-2:]] == [
        f"Follow-up of {ids[0]}",
        f"Follow-up of {ids[1]}",
    ]
    assert master(root)[-1]["id"] == top + 2  # the second branch's same-id task, renumbered
    assert git(root, "status", "--porcelain").strip() == ""  # the work tree stays as it was
    info = Path(git(root, "rev-parse", "--git-path", "info/attributes").strip())
    assert "tasks.json merge=tmxd-tasks" in (root / info).read_text()
    for wt in trees:
        worktrees.discard(root, wt.path)


def test_switch_merge_carries_uncommitted_notes_to_another_branch(tmp_path: Path) -> None:
    """docs/hooks.md: a note leaves tasks.json modified, so a plain checkout of a branch
    whose tasks.json differs refuses; `git switch --merge` carries the note over."""
    root = project_repo(tmp_path / "repo", "021")  # the driver registered and committed
    first, last = (js_string(t["id"]) for t in (master(root)[0], master(root)[-1]))
    git(root, "checkout", "-q", "-b", "other")
    set_status(store(root), [last], "review")
    commit(root, "other: review")
    git(root, "checkout", "-q", "main")
    append_note(store(root), first, "Committed changes: work (abc1234) — 1 file, +1/-0")
    refused = subprocess.run(
        ["git", "checkout", "other"], cwd=root, capture_output=True, text=True, check=False
    )
    assert refused.returncode != 0 and "would be overwritten" in refused.stderr
    git(root, "switch", "-q", "--merge", "other")
    assert "Committed changes: work (abc1234)" in str(find(root, first)["details"])
    assert find(root, last)["status"] == "review"
    assert git(root, "status", "--porcelain").split() == ["M", str(TASKS)]
