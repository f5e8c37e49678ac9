"""sync_project on real repositories with real hooks, a real tasks.json and a real metrics.db."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from helpers import git, init_repo, run_tmxd, subprocess_env, tmxd_argv
from tmxd.commits import hooks, spool, sync
from tmxd.errors import InputError
from tmxd.metrics.recorder import Recorder
from tmxd.taskmaster.project import find_project

PAST = datetime(2020, 1, 1, tzinfo=UTC)

TASKS: dict[str, Any] = {
    "master": {
        "tasks": [
            {
                "id": 1,
                "title": "Parser",
                "description": "Parse things",
                "status": "in-progress",
                "dependencies": [],
                "priority": "high",
                "details": "",
                "testStrategy": "",
                "subtasks": [
                    {
                        "id": 1,
                        "title": "Lexer",
                        "description": "Tokens",
                        "status": "in-progress",
                        "dependencies": [],
                        "details": "",
                    },
                    {
                        "id": 2,
                        "title": "Grammar",
                        "description": "Rules",
                        "status": "pending",
                        "dependencies": [1],
                        "details": "",
                    },
                ],
            },
            {
                "id": 2,
                "title": "CLI",
                "description": "Commands",
                "status": "pending",
                "dependencies": [1],
                "priority": "medium",
                "details": "Existing notes.",
                "testStrategy": "",
                "subtasks": [],
            },
        ],
        "metadata": {"created": "2026-01-01T00:00:00.000Z", "description": "Tasks"},
    }
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git repository holding a Task Master project, hooks installed, tasks.json committed."""
    root = init_repo(tmp_path / "proj", commit=False)
    tasks = root / ".taskmaster" / "tasks" / "tasks.json"
    tasks.parent.mkdir(parents=True)
    tasks.write_text(json.dumps(TASKS, indent=2, ensure_ascii=False))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "plan the work")
    hooks.install(root)
    return root


def tasks_path(root: Path) -> Path:
    return root / ".taskmaster" / "tasks" / "tasks.json"


def details(root: Path, task_id: str) -> str:
    data = json.loads(tasks_path(root).read_text())
    for task in data["master"]["tasks"]:
        if str(task["id"]) == task_id:
            return str(task["details"])
        for sub in task["subtasks"]:
            if f"{task['id']}.{sub['id']}" == task_id:
                return str(sub["details"])
    raise KeyError(task_id)


def status(root: Path, task_id: str) -> str:
    data = json.loads(tasks_path(root).read_text())
    for task in data["master"]["tasks"]:
        if str(task["id"]) == task_id:
            return str(task["status"])
        for sub in task["subtasks"]:
            if f"{task['id']}.{sub['id']}" == task_id:
                return str(sub["status"])
    raise KeyError(task_id)


def notes(root: Path, task_id: str) -> list[str]:
    return [ln for ln in details(root, task_id).splitlines() if ln.startswith("Committed changes:")]


def commit(root: Path, message: str, name: str = "src.txt", lines: int = 1) -> str:
    with open(root / name, "a", encoding="utf-8") as fh:
        fh.write("x\n" * lines)
    git(root, "add", name)
    git(root, "commit", "-q", "-F", "-", input=message)
    return git(root, "rev-parse", "HEAD").strip()


def run_sync(root: Path, recorder: Recorder | None = None) -> sync.SyncResult:
    return sync.sync_project(find_project(root), recorder)


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


def test_trailers_and_subject_ids_become_notes(project: Path) -> None:
    sha = commit(project, "Tokenise input [1.1]\n\nTask: 1.2, 2\n", lines=3)
    result = run_sync(project)
    short = sha[:7]
    expected = f"Committed changes: Tokenise input [1.1] ({short}) — 1 file, +3/-0"
    assert notes(project, "1.1") == [expected]
    assert notes(project, "1.2") == [expected]
    assert notes(project, "2") == [expected]
    assert details(project, "2").startswith("Existing notes.\n<info added on ")
    assert [(n.task_id, n.sha) for n in result.notes_added] == [
        ("1.2", sha),
        ("2", sha),
        ("1.1", sha),
    ]
    assert result.commits == [sha] and result.unknown_ids == [] and result.errors == []


def test_sync_twice_changes_nothing_the_second_time(project: Path) -> None:
    commit(project, "One [1.1]")
    run_sync(project)
    before = tasks_path(project).read_bytes()
    again = run_sync(project)
    assert again.lines == 0 and not again.changed_tasks
    assert tasks_path(project).read_bytes() == before


def test_a_line_read_again_after_a_crash_adds_no_second_note(project: Path) -> None:
    sha = commit(project, "One [1.1]")
    run_sync(project)
    # The ledger write was lost (crash after tasks.json was written): the line comes back.
    (project / ".git" / "tmxd" / sync.LEDGER_NAME).unlink()
    line = spool.format_line(
        spool.SpoolRecord(
            "post-commit", None, sha, "refs/heads/main", (), (), (project / ".git").resolve()
        )
    )
    (project / ".git" / "tmxd" / "spool").write_text(line + "\n")
    result = run_sync(project)
    assert result.notes_added == []
    assert len(notes(project, "1.1")) == 1


def test_closes_task_sets_done_with_the_parent_cascade_and_records_it(
    project: Path, tmp_path: Path
) -> None:
    db = tmp_path / "metrics.db"
    with Recorder.open(db) as recorder:
        commit(project, "Lexer done\n\nCloses-Task: 1.1\n")
        first = run_sync(project, recorder)
        assert [(c.task_id, c.old_status, c.new_status) for c in first.closed] == [
            ("1.1", "in-progress", "done")
        ]
        commit(project, "Grammar done\n\nFixes-Task: 1.2\n")
        second = run_sync(project, recorder)
    assert status(project, "1.1") == "done" and status(project, "1.2") == "done"
    assert ("1", "in-progress", "done") in [
        (c.task_id, c.old_status, c.new_status) for c in second.closed
    ]
    assert status(project, "1") == "done"
    transitions = rows(db, "SELECT task_id, old_status, new_status, source FROM transitions")
    assert ("1.1", "in-progress", "done", "commit") in transitions
    assert ("1", "in-progress", "done", "commit") in transitions
    linked = rows(db, "SELECT task_id FROM commit_tasks ORDER BY task_id")
    assert linked == [("1.1",), ("1.2",)]


def test_unknown_ids_are_reported_not_invented(project: Path, tmp_path: Path) -> None:
    before = json.loads(tasks_path(project).read_text())
    db = tmp_path / "m.db"
    with Recorder.open(db) as recorder:
        sha = commit(project, "Mystery [99]\n\nTask: 7.7, bogus\nCloses-Task: 42\n")
        result = run_sync(project, recorder)
    assert [(u.task_id, u.sha) for u in result.unknown_ids] == [
        ("7.7", sha),
        ("42", sha),
        ("99", sha),
        ("bogus", sha),
    ]
    assert json.loads(tasks_path(project).read_text()) == before
    assert len(rows(db, "SELECT * FROM events WHERE kind = 'unknown_task_id'")) == 4
    assert rows(db, f"SELECT sha FROM commits WHERE sha = '{sha}'") == [(sha,)]


def test_amend_after_sync_moves_the_note(project: Path) -> None:
    old = commit(project, "Draft [1.1]")
    run_sync(project)
    git(project, "commit", "-q", "--amend", "-m", "Final wording [1.1]")
    new = git(project, "rev-parse", "HEAD").strip()
    result = run_sync(project)
    assert notes(project, "1.1") == [
        f"Committed changes: Final wording [1.1] ({new[:7]}) — 1 file, +1/-0"
    ]
    assert [(m.task_id, m.old_sha, m.new_sha) for m in result.notes_moved] == [("1.1", old, new)]
    assert details(project, "1.1").count("<info added on") == 1


def test_amend_before_sync_gives_one_note(project: Path) -> None:
    commit(project, "Draft [2]")
    git(project, "commit", "-q", "--amend", "-m", "Final [2]")
    new = git(project, "rev-parse", "HEAD").strip()
    run_sync(project)
    assert notes(project, "2") == [f"Committed changes: Final [2] ({new[:7]}) — 1 file, +1/-0"]


def make_topic(root: Path) -> list[str]:
    base = git(root, "rev-parse", "HEAD").strip()
    git(root, "checkout", "-q", "-b", "topic")
    olds = [
        commit(root, f"Step {i} [{t}]", name=f"t{i}.txt") for i, t in enumerate(["1.1", "1.2", "2"])
    ]
    git(root, "checkout", "-q", "main")
    commit(root, "Unrelated work on main", name="main.txt")
    git(root, "checkout", "-q", "topic")
    assert git(root, "merge-base", "main", "topic").strip() == base
    return olds


def test_rebase_of_three_commits_moves_each_note(project: Path) -> None:
    olds = make_topic(project)
    run_sync(project)
    git(project, "rebase", "-q", "--autostash", "main")
    news = git(project, "rev-list", "--reverse", "main..topic").split()
    result = run_sync(project)
    for task_id, old, new in zip(["1.1", "1.2", "2"], olds, news, strict=True):
        # 1.1 also holds the note of the unrelated commit on main (the only task in progress)
        (note,) = [n for n in notes(project, task_id) if "Step" in n]
        assert f"({new[:7]})" in note and old[:7] not in note
    assert sorted(m.new_sha for m in result.notes_moved) == sorted(news)
    assert result.notes_added == []


def test_rebase_read_in_two_syncs_still_leaves_one_note(project: Path) -> None:
    """The daemon may read the replayed post-commits before the post-rewrite line."""
    olds = make_topic(project)
    run_sync(project)
    rewrite_hook = project / ".git" / "hooks" / "post-rewrite"
    rewrite_hook.rename(rewrite_hook.with_name("off"))
    git(project, "rebase", "-q", "--autostash", "main")
    news = git(project, "rev-list", "--reverse", "main..topic").split()
    run_sync(project)  # replayed commits look new: a second note each, for now
    assert len(notes(project, "1.2")) == 2
    record = spool.SpoolRecord(
        "post-rewrite",
        None,
        news[-1],
        "refs/heads/topic",
        ("rebase",),
        tuple(zip(olds, news, strict=True)),
        (project / ".git").resolve(),
    )
    (project / ".git" / "tmxd" / "spool").write_text(spool.format_line(record) + "\n")
    run_sync(project)
    for task_id, new in zip(["1.1", "1.2", "2"], news, strict=True):
        (note,) = [n for n in notes(project, task_id) if "Step" in n]
        assert f"({new[:7]})" in note
        # 1.1 also has the note of the unrelated commit on main (the only task in progress)
        assert details(project, task_id).count("<info added on") == (2 if task_id == "1.1" else 1)


def dropped_by_rebase(root: Path, mainline: str, date: str | None = None) -> tuple[str, str]:
    """The QA case: ``topic`` changes the line ``main`` changes too; the rebase's conflict
    is resolved to main's side, so git drops the topic commit and maps it to main's."""
    (root / "f.txt").write_text("base\n")
    git(root, "add", "f.txt")
    git(root, "commit", "-q", "-m", "base [1.2]")  # names a task: nothing is inferred
    git(root, "checkout", "-q", "-b", "topic")
    topic = commit(root, "topic change\n\nTask: 2", name="f.txt")
    git(root, "checkout", "-q", "main")
    (root / "f.txt").write_text("mainline\n")
    git(root, "add", "f.txt")
    git(root, "commit", "-q", *(["--date", date] if date else []), "-F", "-", input=mainline)
    onto = git(root, "rev-parse", "HEAD").strip()
    git(root, "checkout", "-q", "topic")
    git(root, "rebase", "main", check=False)
    assert (root / ".git" / "rebase-merge").is_dir()  # it stopped on the conflict
    (root / "f.txt").write_text("mainline\n")
    git(root, "add", "f.txt")
    git(root, "-c", "core.editor=true", "rebase", "--continue")
    assert git(root, "rev-parse", "HEAD").strip() == onto  # the topic commit is gone
    return topic, onto


@pytest.mark.parametrize("sync_before", [False, True], ids=["one-sync", "synced-before"])
def test_a_commit_dropped_by_rebase_keeps_its_note(project: Path, sync_before: bool) -> None:
    """Git maps the dropped commit to main's commit, which names another task: the note
    stays on the old sha, marked, and main's commit keeps its own note only."""
    if sync_before:
        commit(project, "warm up [1.2]", name="w.txt")
        run_sync(project)
        git(project, "commit", "-q", "-am", "the note [1.2]")  # a clean tree for the rebase
    git_dir_spool = project / ".git" / "tmxd" / "spool"
    topic, onto = dropped_by_rebase(project, "mainline change\n\nTask: 1.1")
    if sync_before:  # the daemon: every line before the post-rewrite one read earlier
        lines = git_dir_spool.read_text().splitlines(keepends=True)
        (rewrite,) = [ln for ln in lines if "\tpost-rewrite\t" in ln]
        assert lines[-1] == rewrite
        git_dir_spool.write_text("".join(lines[:-1]))
        run_sync(project)
        assert len(notes(project, "2")) == 1
        git_dir_spool.write_text(rewrite)
    result = run_sync(project)
    assert result.notes_moved == []
    assert [(k.task_id, k.old_sha, k.new_sha) for k in result.notes_kept] == [("2", topic, onto)]
    (note,) = notes(project, "2")
    assert note.startswith(f"Committed changes: topic change ({topic[:7]}) — 1 file, +1/-0 — ")
    assert note.endswith(f"{onto[:7]}, which does not name this task") or note.endswith(
        f"{onto[:7]} already had its changes"
    )
    assert notes(project, "1.1") == [
        f"Committed changes: mainline change ({onto[:7]}) — 1 file, +1/-1"
    ]
    assert run_sync(project).notes_kept == []  # marked once


def test_a_commit_dropped_onto_one_naming_its_task_is_marked_dropped(project: Path) -> None:
    """Main's commit (made earlier, by itself) names the same task: it was not made from
    the topic commit, so the topic note is not merged into it either."""
    topic, onto = dropped_by_rebase(project, "same fix\n\nTask: 2", date="2026-01-02T03:04:05")
    out = run_tmxd("sync", cwd=project)
    assert out.returncode == 0, out.stderr
    assert f"kept   2        {topic[:7]}: dropped by the rewrite; {onto[:7]} already had" in (
        out.stdout
    )
    assert "moved" not in out.stdout
    assert notes(project, "2") == [
        f"Committed changes: topic change ({topic[:7]}) — 1 file, +1/-0"
        f" — dropped by rebase: {onto[:7]} already had its changes",
        f"Committed changes: same fix ({onto[:7]}) — 1 file, +1/-1",
    ]


def test_squash_and_fixup_in_a_real_interactive_rebase(project: Path) -> None:
    """The squashed message names both tasks: each keeps one note, on the new commit. A
    fixup drops its commit's message: that note stays, marked, as the result does not
    name its task."""
    base = git(project, "rev-parse", "HEAD").strip()
    first = commit(project, "Lexer [1.1]", name="a.txt")
    commit(project, "Grammar\n\nTask: 1.1, 1.2", name="b.txt")
    fixed = commit(project, "more CLI\n\nTask: 2", name="c.txt")
    run_sync(project)
    script = project.parent / "seq.sh"
    script.write_text("#!/bin/sh\nsed -i -e '2s/^pick/squash/' -e '3s/^pick/fixup/' \"$1\"\n")
    script.chmod(0o755)
    editor = ["-c", f"sequence.editor={script}", "-c", "core.editor=true"]
    git(project, *editor, "rebase", "-q", "--autostash", "-i", base)
    new = git(project, "rev-parse", "HEAD").strip()
    assert git(project, "rev-parse", "HEAD~1").strip() == base
    result = run_sync(project)
    assert [(k.task_id, k.old_sha, k.reason) for k in result.notes_kept] == [
        ("2", fixed, "unnamed")
    ]
    for task_id in ("1.1", "1.2"):
        assert notes(project, task_id) == [
            f"Committed changes: Lexer [1.1] ({new[:7]}) — 3 files, +3/-0"
        ]
        assert details(project, task_id).count("<info added on") == 1
    assert first[:7] not in details(project, "1.1")
    assert notes(project, "2") == [
        f"Committed changes: more CLI ({fixed[:7]}) — 1 file, +1/-0"
        f" — rewritten by rebase into {new[:7]}, which does not name this task"
    ]
    assert run_sync(project).lines == 0


def test_root_commit_is_linked(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "p", commit=False)
    hooks.install(root)
    tasks_path(root).parent.mkdir(parents=True)
    tasks_path(root).write_text(json.dumps(TASKS, indent=2))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Plan [2]")
    sha = git(root, "rev-parse", "HEAD").strip()
    run_sync(root)
    (note,) = notes(root, "2")
    assert note.startswith(f"Committed changes: Plan [2] ({sha[:7]}) — 1 file, +")


def test_merges_are_events_and_a_merge_commit_is_never_linked(
    project: Path, tmp_path: Path
) -> None:
    db = tmp_path / "m.db"
    git(project, "checkout", "-q", "-b", "side")
    commit(project, "Side [1.1]", name="side.txt")
    git(project, "checkout", "-q", "main")
    commit(project, "Main", name="main.txt")
    git(project, "merge", "-q", "--no-ff", "-m", "Merge side [2]", "side")
    merge_sha = git(project, "rev-parse", "HEAD").strip()
    with Recorder.open(db) as recorder:
        result = run_sync(project, recorder)
    assert notes(project, "2") == []  # post-merge: tasks.json untouched, whatever it names
    assert {"kind": "merge", "head": merge_sha, "squash": False, "branch": "main"} in result.events
    assert merge_sha in result.commits
    assert (merge_sha, None) in commit_tasks(db)  # recorded, under no task
    kinds = [k for (k,) in rows(db, "SELECT kind FROM events ORDER BY id")]
    assert kinds.count("checkout") == 2 and kinds.count("merge") == 1
    # A conflicted merge finished with `git commit` runs post-commit: not linked either.
    git(project, "checkout", "-q", "-b", "clash", "HEAD~1")
    commit(project, "Clash A", name="c.txt")
    git(project, "checkout", "-q", "main")
    commit(project, "Clash B", name="c.txt", lines=2)
    subprocess.run(["git", "merge", "-q", "clash"], cwd=project, capture_output=True)
    (project / "c.txt").write_text("resolved\n")
    git(project, "add", "c.txt")
    git(project, "commit", "-q", "-m", "Merge clash [1.2]")
    resolved = git(project, "rev-parse", "HEAD").strip()
    result = run_sync(project)
    assert resolved in result.commits and resolved not in [n.sha for n in result.notes_added]
    assert notes(project, "1.2") == []


def test_detached_head_commit_is_linked_without_a_branch(project: Path, tmp_path: Path) -> None:
    git(project, "checkout", "-q", "--detach")
    sha = commit(project, "Detached [2]")
    db = tmp_path / "m.db"
    with Recorder.open(db) as recorder:
        run_sync(project, recorder)
    assert len(notes(project, "2")) == 1
    assert rows(db, f"SELECT branch FROM commits WHERE sha = '{sha}'") == [(None,)]


def test_hostile_message_lands_verbatim_and_nothing_runs(project: Path, tmp_path: Path) -> None:
    subject = "evil $(touch pwned) `touch pwned2` \"dq\" 'sq' ; rm -rf / [1.1]"
    commit(project, subject + "\n\nsecond line $(touch pwned3)\nTask: 2\n")
    cli = run_tmxd("sync", "-p", str(project), "--no-metrics", cwd=project)
    assert cli.returncode == 0, cli.stderr
    assert not list(project.glob("pwned*")) and not list(tmp_path.glob("**/pwned*"))
    (note,) = notes(project, "1.1")
    assert note.startswith(f"Committed changes: {subject} (")
    assert notes(project, "2") == [note]


def test_non_utf8_message_is_decoded(project: Path) -> None:
    (project / "a.txt").write_text("a")
    git(project, "add", "a.txt")
    subprocess.run(
        ["git", "commit", "-q", "-F", "-"],
        cwd=project,
        input="Caf\xe9 cr\xe8me [2]\n".encode("latin-1"),
        check=True,
    )
    run_sync(project)
    (note,) = notes(project, "2")
    assert note.startswith("Committed changes: Café crème [2] (")


def test_commits_from_a_linked_worktree_reach_the_main_project(project: Path) -> None:
    wt = project.parent / "wt"
    git(project, "worktree", "add", "-q", str(wt), "-b", "work")
    sha = commit(wt, "From the worktree [1.2]")
    run_sync(project)
    assert notes(project, "1.2") == [
        f"Committed changes: From the worktree [1.2] ({sha[:7]}) — 1 file, +1/-0"
    ]


def set_statuses(root: Path, **statuses: str) -> None:
    """Edit tasks.json as a person would (``t1_1="done"`` sets 1.1), then commit it."""
    data = json.loads(tasks_path(root).read_text())
    for task in data["master"]["tasks"]:
        task["status"] = statuses.get(f"t{task['id']}", task["status"])
        for sub in task["subtasks"]:
            sub["status"] = statuses.get(f"t{task['id']}_{sub['id']}", sub["status"])
    tasks_path(root).write_text(json.dumps(data, indent=2, ensure_ascii=False))


def test_a_commit_naming_no_task_goes_to_the_only_task_in_progress(
    project: Path, tmp_path: Path
) -> None:
    db = tmp_path / "metrics.db"
    with Recorder.open(db) as recorder:
        sha = commit(project, "No id here")
        result = run_sync(project, recorder)
    assert notes(project, "1.1") == [
        f"Committed changes: No id here ({sha[:7]}) — 1 file, +1/-0 "
        "(linked: the only task in progress)"
    ]
    assert [(n.task_id, n.inferred) for n in result.notes_added] == [("1.1", True)]
    assert result.unlinked == []
    assert rows(db, "SELECT task_id FROM commit_tasks") == [("1.1",)]
    # parent task 1 is in progress too, but it has subtasks: only leaves count
    assert notes(project, "1") == []


def test_a_task_without_subtasks_is_a_leaf_too(project: Path) -> None:
    set_statuses(project, t1_1="done", t2="in-progress")
    sha = commit(project, "Wire the CLI")
    run_sync(project)
    assert notes(project, "2") == [
        f"Committed changes: Wire the CLI ({sha[:7]}) — 1 file, +1/-0 "
        "(linked: the only task in progress)"
    ]


@pytest.mark.parametrize(("statuses", "count"), [({"t1_1": "done"}, 0), ({"t2": "in-progress"}, 2)])
def test_none_or_several_in_progress_links_nothing_and_is_counted(
    project: Path, statuses: dict[str, str], count: int
) -> None:
    set_statuses(project, **statuses)
    before = {t: notes(project, t) for t in ("1", "1.1", "1.2", "2")}
    sha = commit(project, "Tidy up")
    result = run_sync(project)
    assert {t: notes(project, t) for t in before} == before
    assert [(u.sha, u.in_progress) for u in result.unlinked] == [(sha, count)]
    assert [e.sha for e in sync.unlinked_commits(project)] == [sha]
    status_json = json.loads(run_tmxd("hooks", "status", "--format", "json", cwd=project).stdout)
    assert status_json["unlinked"] == {
        "total": 1,
        "none_in_progress": int(count == 0),
        "several_in_progress": int(count == 2),
    }
    text = run_tmxd("hooks", "status", cwd=project).stdout
    assert "unlinked: 1 commit(s) named no task" in text


def test_a_task_started_after_the_commit_never_gets_it(project: Path, tmp_path: Path) -> None:
    """The commit was made while 1.1 was in progress; within the commit's second (git
    dates commits to the second) 1.1 was finished and 1.2 started, before anyone linked
    it: either may have been in progress at the time, so it goes nowhere."""
    with Recorder.open(tmp_path / "m.db") as recorder:
        sha = commit(project, "Lexer edge cases")
        committed = datetime.fromtimestamp(int(git(project, "log", "-1", "--format=%ct")), UTC)
        set_statuses(project, t1_1="done", t1_2="in-progress")
        done_at = committed + timedelta(milliseconds=400)
        started = committed + timedelta(milliseconds=600)
        recorder.transition(project, "1.1", "in-progress", "done", "external", at=done_at)
        recorder.transition(project, "1.2", "pending", "in-progress", "external", at=started)
        result = run_sync(project, recorder)
    assert notes(project, "1.1") == [] and notes(project, "1.2") == []
    assert [(u.sha, u.in_progress) for u in result.unlinked] == [(sha, 2)]


def test_a_task_finished_after_the_commits_second_gets_it(project: Path, tmp_path: Path) -> None:
    """Same, but 1.1 was finished and 1.2 started seconds after the commit: 1.1 alone
    was in progress when it was made, so the note is 1.1's."""
    with Recorder.open(tmp_path / "m.db") as recorder:
        sha = commit(project, "Lexer edge cases")
        committed = datetime.fromtimestamp(int(git(project, "log", "-1", "--format=%ct")), UTC)
        set_statuses(project, t1_1="done", t1_2="in-progress")
        done_at, started = committed + timedelta(seconds=3), committed + timedelta(seconds=4)
        recorder.transition(project, "1.1", "in-progress", "done", "external", at=done_at)
        recorder.transition(project, "1.2", "pending", "in-progress", "external", at=started)
        result = run_sync(project, recorder)
    assert [sha[:7] in note for note in notes(project, "1.1")] == [True]
    assert notes(project, "1.2") == [] and result.unlinked == []


def test_a_spooled_commit_never_goes_to_a_task_started_after_it(
    project: Path, tmp_path: Path
) -> None:
    """Nothing was in progress when the commit was made; it waited in the spool (no
    daemon) while 1.2 was started: linked now, it goes nowhere."""
    with Recorder.open(tmp_path / "m.db") as recorder:
        set_statuses(project, t1_1="done")
        recorder.transition(project, "1.1", "in-progress", "done", "external", at=PAST)
        sha = commit(project, "Release notes")
        committed = datetime.fromtimestamp(int(git(project, "log", "-1", "--format=%ct")), UTC)
        set_statuses(project, t1_2="in-progress")
        started = committed + timedelta(seconds=2)
        recorder.transition(project, "1.2", "pending", "in-progress", "external", at=started)
        result = run_sync(project, recorder)
    assert notes(project, "1.2") == []
    assert [(u.sha, u.in_progress) for u in result.unlinked] == [(sha, 0)]


def test_a_task_started_within_the_commits_second_gets_it(project: Path, tmp_path: Path) -> None:
    """git dates commits to the second: a start in that second may be before it."""
    with Recorder.open(tmp_path / "m.db") as recorder:
        set_statuses(project, t1_1="done")
        recorder.transition(project, "1.1", "in-progress", "done", "external", at=PAST)
        commit(project, "Release notes")
        committed = datetime.fromtimestamp(int(git(project, "log", "-1", "--format=%ct")), UTC)
        set_statuses(project, t1_2="in-progress")
        started = committed + timedelta(milliseconds=900)
        recorder.transition(project, "1.2", "pending", "in-progress", "external", at=started)
        run_sync(project, recorder)
    assert len(notes(project, "1.2")) == 1


def test_a_task_finished_before_the_commit_does_not_count(project: Path, tmp_path: Path) -> None:
    with Recorder.open(tmp_path / "m.db") as recorder:
        set_statuses(project, t1_1="done", t1_2="in-progress")
        recorder.transition(project, "1.1", "in-progress", "done", "external", at=PAST)
        commit(project, "Grammar rules")
        run_sync(project, recorder)
    assert len(notes(project, "1.2")) == 1


def test_named_ids_and_invalid_ones_are_never_inferred(project: Path) -> None:
    commit(project, "Mystery\n\nTask: 99\n")
    commit(project, "Garbled\n\nTask: soon\n")
    result = run_sync(project)
    assert notes(project, "1.1") == [] and result.unlinked == []
    assert sorted(u.task_id for u in result.unknown_ids) == ["99", "soon"]


def test_inference_can_be_turned_off(project: Path) -> None:
    (project / ".taskmaster" / "tmxd.toml").write_text("[links]\ninfer_in_progress = false\n")
    commit(project, "No id here")
    result = run_sync(project)
    assert notes(project, "1.1") == [] and result.unlinked == []
    assert sync.unlinked_commits(project) == []


def test_an_inferred_note_is_never_doubled_after_a_crash(project: Path) -> None:
    sha = commit(project, "No id here")
    run_sync(project)
    (project / ".git" / "tmxd" / sync.LEDGER_NAME).unlink()
    line = spool.format_line(
        spool.SpoolRecord(
            "post-commit", None, sha, "refs/heads/main", (), (), (project / ".git").resolve()
        )
    )
    (project / ".git" / "tmxd" / "spool").write_text(line + "\n")
    assert run_sync(project).notes_added == []
    assert len(notes(project, "1.1")) == 1


def test_amend_moves_an_inferred_note_and_never_infers_again(project: Path) -> None:
    old = commit(project, "Draft")
    run_sync(project)
    # meanwhile 1.1 is done and task 2 is the one in progress: the amend still belongs to 1.1
    set_statuses(project, t1_1="done", t2="in-progress")
    git(project, "commit", "-q", "--amend", "-m", "Final wording")
    new = git(project, "rev-parse", "HEAD").strip()
    result = run_sync(project)
    assert notes(project, "1.1") == [
        f"Committed changes: Final wording ({new[:7]}) — 1 file, +1/-0 "
        "(linked: the only task in progress)"
    ]
    assert notes(project, "2") == []
    assert [(m.task_id, m.old_sha, m.new_sha) for m in result.notes_moved] == [("1.1", old, new)]
    assert details(project, "1.1").count("<info added on") == 1


def test_amend_of_an_unlinked_commit_stays_unlinked_and_counts_once(project: Path) -> None:
    set_statuses(project, t2="in-progress")
    commit(project, "Tidy up")
    run_sync(project)
    set_statuses(project, t2="done")  # now only 1.1 is in progress
    git(project, "commit", "-q", "--amend", "-m", "Tidy up more")
    new = git(project, "rev-parse", "HEAD").strip()
    run_sync(project)
    assert notes(project, "1.1") == [] and notes(project, "2") == []
    assert [(e.sha, e.unlinked) for e in sync.unlinked_commits(project)] == [(new, 2)]


def test_invalid_tasks_json_stops_and_keeps_the_lines(project: Path) -> None:
    commit(project, "One [1.1]")
    tasks_path(project).write_text('{"master": {"tasks": [}')
    with pytest.raises(InputError, match=r"tasks\.json"):
        run_sync(project)
    assert spool.Spool(project / ".git").pending().lines == 1
    tasks_path(project).write_text(json.dumps(TASKS, indent=2))
    assert len(run_sync(project).notes_added) == 1


def test_a_commit_that_vanished_is_reported_once(project: Path) -> None:
    record = spool.SpoolRecord(
        "post-commit", None, "f" * 40, "refs/heads/main", (), (), (project / ".git").resolve()
    )
    (project / ".git" / "tmxd" / "spool").write_text(spool.format_line(record) + "\nnonsense\n")
    result = run_sync(project)
    assert len(result.errors) == 2 and "no longer in the repository" in result.errors[0]
    assert run_sync(project).errors == []


def test_suggestion_follows_the_single_in_progress_subtask(project: Path) -> None:
    run_sync(project)
    suggest = project / ".git" / "tmxd" / "suggest"
    assert suggest.read_text().splitlines()[0] == "1.1"
    commit(project, "Done\n\nCloses-Task: 1.1\n")
    run_sync(project)
    assert not suggest.exists()  # nothing in progress any more


def test_cli_sync_text_and_json(project: Path) -> None:
    sha = commit(project, "Via CLI [1.1]\n\nTask: 404\n")
    out = run_tmxd("sync", cwd=project)
    assert out.returncode == 0, out.stderr
    assert f"note   1.1      {sha[:7]}" in out.stdout
    assert "unknown task id '404'" in out.stdout
    commit(project, "Again [2]")
    data = json.loads(run_tmxd("sync", "--format", "json", cwd=project).stdout)
    assert data["notes_added"][0]["task_id"] == "2"
    assert run_tmxd("sync", cwd=project).stdout.strip() == "nothing to sync: no hook events waiting"
    outside = run_tmxd("sync", cwd=project.parent)
    assert outside.returncode == 2 and outside.stderr.startswith("error: ")


def test_mark_note_once_in_text_and_list_details() -> None:
    old = "Committed changes: a (1111111) — 1 file, +1/-0"
    marked = old + " — dropped"
    text: dict[str, Any] = {"details": f"before\n{old}\nafter"}
    assert sync._mark_note(text, old, marked)
    assert text["details"] == f"before\n{marked}\nafter"
    assert not sync._mark_note(text, old, marked)  # a line read again marks nothing twice
    listed: dict[str, Any] = {"details": ["x", old]}
    assert sync._mark_note(listed, old, marked) and listed["details"] == ["x", marked]
    assert not sync._mark_note(listed, old, marked)
    assert not sync._mark_note({"details": "other"}, old, marked)


def test_replace_note_in_text_and_list_details_and_squash() -> None:
    old, new = "Committed changes: a (1111111) — 1 file, +1/-0", "Committed changes: b (2222222)"
    block = "<info added on T>\n{}\n</info added on T>"
    raw: dict[str, Any] = {"details": "intro\n" + block.format(old)}
    assert sync._replace_note(raw, old, new)
    assert raw["details"] == "intro\n" + block.format(new)
    assert not sync._replace_note(raw, old, new)  # nothing left to move
    squash: dict[str, Any] = {"details": block.format(new) + "\n" + block.format(old)}
    assert sync._replace_note(squash, old, new)
    assert squash["details"] == block.format(new)
    listed: dict[str, Any] = {"details": ["x", block.format(old)]}
    assert sync._replace_note(listed, old, new)
    assert listed["details"] == ["x", block.format(new)]


def test_watch_dir_is_the_spool_folder_shared_by_worktrees(project: Path) -> None:
    wt = project.parent / "wt2"
    git(project, "worktree", "add", "-q", str(wt), "-b", "w2")
    assert sync.watch_dir(project) == sync.watch_dir(wt) == (project / ".git" / "tmxd").resolve()


def test_killed_syncs_never_lose_or_double_a_note(project: Path) -> None:
    """kill -9 `tmxd sync` at random moments during a burst of commits."""
    rng = random.Random(20261126)
    shas: list[str] = []
    lock = tasks_path(project).with_name("tasks.json.lock")
    for burst in range(6):
        shas += [
            commit(project, f"Work {burst}.{i} [2]", name=f"w{burst}{i}.txt") for i in range(3)
        ]
        proc = subprocess.Popen(
            tmxd_argv("sync", "--no-metrics", "-p", str(project)),
            env=subprocess_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.05, 0.8))  # a random moment to kill it, not a timing assertion
        proc.kill()
        proc.wait()
        if lock.exists():
            os.utime(lock, (0, 0))  # the killed writer's lock: let it be as stale as it will be
    run_sync(project)
    noted = notes(project, "2")
    for sha in shas:
        assert sum(f"({sha[:7]})" in note for note in noted) == 1, sha
    assert len(noted) == len(shas)


def test_an_unwritable_ledger_is_one_clear_error(project: Path) -> None:
    commit(project, "One [1.1]")
    (project / ".git" / "tmxd" / sync.LEDGER_NAME).mkdir()  # writes to it fail, even as root
    out = run_tmxd("sync", "--no-metrics", cwd=project)
    assert out.returncode == 1
    assert out.stderr.startswith("error: ") and "cannot process the hook spool" in out.stderr
    assert "Traceback" not in out.stderr


def test_an_amended_commit_counts_once(project: Path, tmp_path: Path) -> None:
    """The old sha leaves the metrics with the history: one commit, not two."""
    from tmxd.metrics.prometheus import exposition_for

    db = tmp_path / "m.db"
    with Recorder.open(db) as recorder:
        commit(project, "Draft [1.1]")
        run_sync(project, recorder)
        git(project, "commit", "-q", "--amend", "-m", "Final wording [1.1]")
        new = git(project, "rev-parse", "HEAD").strip()
        run_sync(project, recorder)
    assert rows(db, "SELECT sha FROM commits") == [(new,)]
    assert rows(db, "SELECT c.sha, t.task_id FROM commit_tasks t JOIN commits c "
                "ON c.id = t.commit_id") == [(new, "1.1")]  # fmt: skip
    assert 'tmxd_commits_total{project="proj"} 1.0' in exposition_for(db)


def test_every_spool_line_is_one_hook_run(project: Path, tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    # a commit naming no task stays unlinked (not given to the one task in progress)
    (project / ".taskmaster" / "tmxd.toml").write_text("[links]\ninfer_in_progress = false\n")
    linked = commit(project, "Named [1.1]")
    unlinked = commit(project, "No task here")
    git(project, "checkout", "-q", "-b", "side")
    with Recorder.open(db) as recorder:
        run_sync(project, recorder)
        runs = rows(db, "SELECT hook, sha, linked, ok, duration_ms FROM hook_runs ORDER BY id")
        assert runs == [
            ("post-commit", linked, 1, 1, None),
            ("post-commit", unlinked, 0, 1, None),
            ("post-checkout", runs[2][1], None, 1, None),
        ]
        # the same lines read again (a crash before they were acknowledged): no new rows
        for pos in (project / ".git" / "tmxd").glob("batch-*.pos"):
            pos.write_text("0")
        run_sync(project, recorder)
    assert len(rows(db, "SELECT id FROM hook_runs")) == 3
    assert len(rows(db, "SELECT id FROM events WHERE kind = 'checkout'")) == 1


BURST_TASKS, BURST_SUBTASKS = 10, 4  # 40 closable subtasks; each parent cascades once


def burst_project(root: Path) -> Path:
    init_repo(root, commit=False)
    tasks = [
        {
            "id": t,
            "title": f"Task {t}",
            "description": "",
            "status": "in-progress",
            "dependencies": [],
            "priority": "medium",
            "details": "",
            "testStrategy": "",
            "subtasks": [
                {"id": s, "title": f"Step {t}.{s}", "description": "", "status": "in-progress",
                 "dependencies": [], "details": ""}
                for s in range(1, BURST_SUBTASKS + 1)
            ],
        }
        for t in range(1, BURST_TASKS + 1)
    ]  # fmt: skip
    path = tasks_path(root)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"master": {"tasks": tasks, "metadata": {}}}, indent=2))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "plan the work")
    hooks.install(root)
    return root


def done_subtasks(root: Path) -> int:
    try:
        data = json.loads(tasks_path(root).read_text())
    except ValueError:
        return -1  # between the truncate and the write of a non-atomic writer: look again
    return sum(s["status"] == "done" for t in data["master"]["tasks"] for s in t["subtasks"])


@pytest.mark.slow
def test_killed_syncs_record_every_change_exactly_once(tmp_path: Path) -> None:
    """kill -9 of `tmxd sync` at five points of a 40-commit close burst: each change is one
    transition row, each commit one note (the ledger and the transitions move together)."""
    root = burst_project(tmp_path / "burst")
    ids = [f"{t}.{s}" for t in range(1, BURST_TASKS + 1) for s in range(1, BURST_SUBTASKS + 1)]
    run_tmxd("sync", cwd=root)  # the daemon or a sync has seen the project before the burst
    shas = {i: commit(root, f"Finish step {i}\n\nCloses-Task: {i}\n", name=f"{i}.txt") for i in ids}
    lock = tasks_path(root).with_name("tasks.json.lock")
    for point in (3, 11, 19, 27, 35):  # done subtasks seen when the sync is killed
        proc = subprocess.Popen(
            tmxd_argv("sync", "-p", str(root)),
            env=subprocess_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while done_subtasks(root) < point and proc.poll() is None:
            assert time.monotonic() < deadline, f"sync never reached {point} closes"
            time.sleep(0.002)
        proc.kill()
        proc.wait()
        if lock.exists():
            os.utime(lock, (0, 0))  # the killed writer's lock: as stale as it will ever be
    final = run_tmxd("sync", "-p", str(root))
    assert final.returncode == 0, final.stderr
    assert done_subtasks(root) == len(ids)
    for i, sha in shas.items():
        assert notes(root, i) == [
            f"Committed changes: Finish step {i} ({sha[:7]}) — 1 file, +1/-0"
        ], i
    db = Path(os.environ["TMXD_DB"])
    changes = rows(
        db,
        "SELECT task_id, count(*) FROM transitions WHERE source != 'baseline' "
        "GROUP BY task_id ORDER BY task_id",
    )
    parents = [str(t) for t in range(1, BURST_TASKS + 1)]
    assert dict(changes) == dict.fromkeys([*ids, *parents], 1)
    assert rows(db, "SELECT DISTINCT old_status, new_status FROM transitions "
                "WHERE source != 'baseline'") == [("in-progress", "done")]  # fmt: skip
    assert len(rows(db, "SELECT id FROM commits")) == len(ids)  # each commit's row, once


def test_a_commit_link_records_the_tag_its_task_is_in(project: Path, tmp_path: Path) -> None:
    """Task Master's active tag is ``feature``: the commit's 1.1 is that tag's 1.1, and its
    metrics row says so (the same id in master is another task)."""
    data = json.loads(tasks_path(project).read_text())
    data["feature"] = json.loads(json.dumps(data["master"]))
    tasks_path(project).write_text(json.dumps(data, indent=2))
    (project / ".taskmaster" / "state.json").write_text('{"currentTag": "feature"}\n')
    db = tmp_path / "metrics.db"
    with Recorder.open(db) as recorder:
        commit(project, "Lexer\n\nTask: 1.1\n")
        run_sync(project, recorder)
        commit(project, "Release notes")  # names none; feature's 1.1 is the one in progress
        run_sync(project, recorder)
    assert rows(db, "SELECT task_id, tag FROM commit_tasks") == [
        ("1.1", "feature"),
        ("1.1", "feature"),
    ]
    after = json.loads(tasks_path(project).read_text())
    assert after["master"] == data["master"]  # master's 1.1 got no note


def test_a_link_word_from_elsewhere_is_named_with_the_trailer_tmxd_reads(
    project: Path, tmp_path: Path
) -> None:
    """`Closes: 1.2` closes nothing (it is GitHub's keyword); the commit goes where a commit
    naming no task goes, and the result says which trailer would have closed 1.2."""
    with Recorder.open(tmp_path / "m.db") as recorder:
        sha = commit(project, "Grammar\n\nCloses: 1.2\n")
        result = run_sync(project, recorder)
    assert status(project, "1.2") != "done"
    assert [(t.sha, t.written, t.meant) for t in result.misread] == [
        (sha, "Closes: 1.2", "Closes-Task: 1.2")
    ]
    assert [n.task_id for n in result.notes_added] == ["1.1"]  # the one task in progress
    other = commit(project, "Parser\n\nFixes: 2\n")
    out = run_tmxd("sync", cwd=project)
    assert out.returncode == 0, out.stderr
    assert (
        f"  trailer {other[:7]}: 'Fixes: 2' is not read as a task link; 'Fixes-Task: 2' is"
        in out.stdout.splitlines()
    )


# -- a rewrite naming other tasks, merges, commits of tmxd's own notes -----------------


def commit_tasks(db: Path) -> list[tuple[Any, ...]]:
    return rows(
        db,
        "SELECT c.sha, t.task_id FROM commits c LEFT JOIN commit_tasks t ON t.commit_id = c.id "
        "ORDER BY c.id, t.task_id",
    )


@pytest.mark.parametrize("sync_before", [False, True], ids=["one-sync", "synced-before"])
def test_an_amend_naming_another_task_leaves_the_note_where_it_was(
    project: Path, tmp_path: Path, sync_before: bool
) -> None:
    """The user's case: `Task: 1.2` amended to `Task: 2`. The commit now belongs to 2 alone:
    1.2's note stays on the old sha, marked, and the metrics count the commit under 2."""
    db = tmp_path / "m.db"
    with Recorder.open(db) as recorder:
        old = commit(project, "Work\n\nTask: 1.2")
        if sync_before:
            run_sync(project, recorder)
        git(project, "commit", "-q", "--amend", "-m", "Work", "-m", "Task: 2")
        new = git(project, "rev-parse", "HEAD").strip()
        result = run_sync(project, recorder)
    assert result.notes_moved == []
    assert [(k.task_id, k.old_sha, k.new_sha, k.reason) for k in result.notes_kept] == [
        ("1.2", old, new, "unnamed")
    ]
    assert notes(project, "1.2") == [
        f"Committed changes: Work ({old[:7]}) — 1 file, +1/-0"
        f" — rewritten by amend into {new[:7]}, which does not name this task"
    ]
    assert notes(project, "2") == [f"Committed changes: Work ({new[:7]}) — 1 file, +1/-0"]
    assert commit_tasks(db)[-1:] == [(new, "2")]
    assert old not in [sha for sha, _ in commit_tasks(db)]  # it is not history any more
    assert run_sync(project).lines == 0


@pytest.mark.parametrize(
    ("message", "moved", "added"),
    [
        ("Work again\n\nTask: 1.2", ["1.2"], []),  # the same task
        ("Work again\n\nTask: 1.2, 2", ["1.2"], ["2"]),  # and one more
        ("Work again", ["1.2"], []),  # no task at all: the note still follows the amend
    ],
    ids=["same-task", "one-more", "no-trailer"],
)
def test_an_amend_naming_the_task_or_none_moves_the_note(
    project: Path, tmp_path: Path, message: str, moved: list[str], added: list[str]
) -> None:
    db = tmp_path / "m.db"
    with Recorder.open(db) as recorder:
        old = commit(project, "Work\n\nTask: 1.2")
        run_sync(project, recorder)
        git(project, "commit", "-q", "--amend", "-F", "-", input=message)
        new = git(project, "rev-parse", "HEAD").strip()
        result = run_sync(project, recorder)
    assert [(m.task_id, m.old_sha, m.new_sha) for m in result.notes_moved] == [
        (t, old, new) for t in moved
    ]
    assert [n.task_id for n in result.notes_added] == added
    assert result.notes_kept == []
    for task_id in [*moved, *added]:
        assert notes(project, task_id) == [
            f"Committed changes: Work again ({new[:7]}) — 1 file, +1/-0"
        ]
    assert commit_tasks(db)[-len(moved + added) :] == [(new, t) for t in sorted(moved + added)]


def test_an_inferred_note_amended_to_name_its_task_is_no_longer_marked_inferred(
    project: Path,
) -> None:
    old = commit(project, "Draft")
    run_sync(project)
    assert notes(project, "1.1")[0].endswith("(linked: the only task in progress)")
    git(project, "commit", "-q", "--amend", "-m", "Draft", "-m", "Task: 1.1")
    new = git(project, "rev-parse", "HEAD").strip()
    result = run_sync(project)
    assert [(m.task_id, m.old_sha) for m in result.notes_moved] == [("1.1", old)]
    assert notes(project, "1.1") == [f"Committed changes: Draft ({new[:7]}) — 1 file, +1/-0"]


def reword_in_rebase(root: Path, sed: str) -> None:
    """``git rebase -i HEAD~2`` rewording the first commit with ``sed`` (git runs it as the
    editor): a real interactive rebase, whose reword git does as an amend."""
    sequence = root.parent / "seq.sh"
    sequence.write_text("#!/bin/sh\nsed -i -e '1s/^pick/reword/' \"$1\"\n")
    editor = root.parent / "edit.sh"
    editor.write_text(f"#!/bin/sh\nsed -i -e '{sed}' \"$1\"\n")
    for script in (sequence, editor):
        script.chmod(0o755)
    git(root, "-c", f"sequence.editor={sequence}", "-c", f"core.editor={editor}",
        "rebase", "-q", "--autostash", "-i", "HEAD~2")  # fmt: skip


def test_a_reword_naming_another_task_leaves_the_note_where_it_was(
    project: Path, tmp_path: Path
) -> None:
    """The user's `Task: 7` reworded to `Task: 10` in `git rebase -i`."""
    db = tmp_path / "m.db"
    with Recorder.open(db) as recorder:
        old = commit(project, "Step one\n\nTask: 1.2", name="a.txt")
        later = commit(project, "Step two\n\nTask: 1.2", name="b.txt")
        run_sync(project, recorder)
        reword_in_rebase(project, "s/^Task: 1.2$/Task: 2/")
        new, new_later = git(project, "rev-list", "--reverse", "HEAD~2..HEAD").split()
        result = run_sync(project, recorder)
    assert [(k.task_id, k.old_sha, k.new_sha) for k in result.notes_kept] == [("1.2", old, new)]
    assert [(m.task_id, m.old_sha, m.new_sha) for m in result.notes_moved] == [
        ("1.2", later, new_later)  # the commit after it still names 1.2
    ]
    assert notes(project, "2") == [f"Committed changes: Step one ({new[:7]}) — 1 file, +1/-0"]
    assert notes(project, "1.2") == [
        f"Committed changes: Step one ({old[:7]}) — 1 file, +1/-0"
        f" — rewritten by amend into {new[:7]}, which does not name this task",
        f"Committed changes: Step two ({new_later[:7]}) — 1 file, +1/-0",
    ]
    assert commit_tasks(db)[-2:] == [(new, "2"), (new_later, "1.2")]


def test_a_reword_keeping_the_task_moves_the_note(project: Path) -> None:
    old = commit(project, "Step one\n\nTask: 1.2", name="a.txt")
    commit(project, "Step two\n\nTask: 2", name="b.txt")
    run_sync(project)
    reword_in_rebase(project, "s/^Step one$/Step one, reworded/")
    new = git(project, "rev-parse", "HEAD~1").strip()
    result = run_sync(project)
    assert ("1.2", old, new) in [(m.task_id, m.old_sha, m.new_sha) for m in result.notes_moved]
    assert result.notes_kept == []
    assert notes(project, "1.2") == [
        f"Committed changes: Step one, reworded ({new[:7]}) — 1 file, +1/-0"
    ]


def conflicted_merge(root: Path) -> None:
    """``side`` and ``main`` both change a.txt; ``git merge side`` stops on the conflict,
    which is resolved and added (the merge commit is still to be made)."""
    (root / "a.txt").write_text("base\n")
    git(root, "add", "a.txt")
    git(root, "commit", "-q", "-m", "base [2]")
    git(root, "checkout", "-q", "-b", "side")
    commit(root, "side change\n\nTask: 2", name="a.txt")
    git(root, "checkout", "-q", "main")
    commit(root, "main change\n\nTask: 2", name="a.txt", lines=2)
    assert git(root, "merge", "side", check=False) != ""  # CONFLICT (content)
    (root / "a.txt").write_text("resolved\n")
    git(root, "add", "a.txt")


def test_a_merge_finished_after_a_conflict_is_never_inferred(project: Path, tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    with Recorder.open(db) as recorder:
        conflicted_merge(project)
        git(project, "commit", "-q", "--no-edit")
        merge = git(project, "rev-parse", "HEAD").strip()
        result = run_sync(project, recorder)
    assert len(git(project, "rev-list", "--parents", "-1", merge).split()) == 3
    assert notes(project, "1.1") == []  # 1.1 is the only task in progress
    assert merge in result.commits and result.notes_added == [
        sync.NoteAdded("2", sha) for sha in result.commits if sha != merge
    ]
    assert result.unlinked == [] and sync.unlinked_commits(project) == []
    assert (merge, None) in commit_tasks(db)  # recorded, linked to no task


def test_a_clean_merge_is_never_inferred_either(project: Path) -> None:
    git(project, "checkout", "-q", "-b", "side")
    commit(project, "Side [2]", name="side.txt")
    git(project, "checkout", "-q", "main")
    commit(project, "Main [2]", name="main.txt")
    git(project, "merge", "-q", "--no-ff", "--no-edit", "side")
    result = run_sync(project)
    assert notes(project, "1.1") == []
    assert result.unlinked == []


def test_a_merge_naming_a_task_after_a_conflict_is_not_linked_as_a_clean_one(
    project: Path,
) -> None:
    """As `git merge -m "…" -m "Closes-Task: 1.2"` without a conflict (post-merge): the
    branches' commits carry the links; the merge would count their changes twice."""
    conflicted_merge(project)
    git(project, "commit", "-q", "-m", "Merge side", "-m", "Closes-Task: 1.2")
    merge = git(project, "rev-parse", "HEAD").strip()
    result = run_sync(project)
    assert merge in result.commits
    assert notes(project, "1.2") == [] and notes(project, "1.1") == []
    assert status(project, "1.2") == "pending"
    assert result.unknown_ids == [] and result.closed == []


def test_a_clean_merge_naming_a_task_is_not_linked(project: Path) -> None:
    git(project, "checkout", "-q", "-b", "side")
    commit(project, "Side [2]", name="side.txt")
    git(project, "checkout", "-q", "main")
    git(project, "merge", "-q", "--no-ff", "-m", "Merge side", "-m", "Closes-Task: 1.2", "side")
    result = run_sync(project)
    assert notes(project, "1.2") == [] and status(project, "1.2") == "pending"
    assert result.closed == []


@pytest.mark.parametrize("where", [".", "app"], ids=["at-the-top", "in-a-subfolder"])
def test_committing_the_notes_is_not_inferred_and_leaves_tasks_json_clean(
    tmp_path: Path, where: str
) -> None:
    """With one task in progress, committing tasks.json alone (tmxd's notes) must not add a
    note for that commit: tasks.json would never be clean again."""
    repo = init_repo(tmp_path / "repo")
    root = repo / where
    tasks_path(root).parent.mkdir(parents=True)
    tasks_path(root).write_text(json.dumps(TASKS, indent=2))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "plan [2]")
    hooks.install(root)
    run_sync(root)
    sha = commit(root, "Work")
    run_sync(root)
    assert [n for n in notes(root, "1.1") if sha[:7] in n]  # the positive control
    git(repo, "commit", "-qam", "Record tmxd notes")
    result = run_sync(root)
    assert result.notes_added == [] and result.unlinked == []
    assert len(result.commits) == 1
    assert git(repo, "status", "--porcelain") == ""
    assert sync.unlinked_commits(root) == []


def test_a_commit_of_the_notes_and_other_work_is_still_inferred(project: Path) -> None:
    commit(project, "Work")
    run_sync(project)
    (project / "more.txt").write_text("more\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Notes and more work")
    sha = git(project, "rev-parse", "HEAD").strip()
    result = run_sync(project)
    assert [(n.task_id, n.sha, n.inferred) for n in result.notes_added] == [("1.1", sha, True)]


def test_a_commit_of_the_notes_naming_a_task_is_linked(project: Path) -> None:
    commit(project, "Work")
    run_sync(project)
    git(project, "commit", "-qam", "Record notes", "-m", "Task: 2")
    sha = git(project, "rev-parse", "HEAD").strip()
    result = run_sync(project)
    assert [(n.task_id, n.sha, n.inferred) for n in result.notes_added] == [("2", sha, False)]


def test_the_report_counts_commits_as_hooks_status_does(project: Path, tmp_path: Path) -> None:
    """After parallel runs: merges named their task (as the autopilot's do) and the notes
    were committed. Neither could name a task by design, so neither is in "N of M"."""
    db = tmp_path / "m.db"
    with Recorder.open(db) as recorder:
        git(project, "checkout", "-q", "-b", "side")
        commit(project, "Side\n\nTask: 2", name="side.txt")
        git(project, "checkout", "-q", "main")
        commit(project, "Main\n\nTask: 2", name="main.txt")
        git(project, "merge", "-q", "--no-ff", "-m", "Merge side", "-m", "Task: 2", "side")
        commit(project, "Typo in the id\n\nTask: 99", name="main.txt")  # control: counted
        run_sync(project, recorder)
        git(project, "commit", "-qam", "Record tmxd notes")  # tasks.json only
        run_sync(project, recorder)
    assert sync.unlinked_commits(project) == []  # `tmxd hooks status`: nothing unlinked
    kinds = rows(db, "SELECT subject, merge, taskmaster_only FROM commits ORDER BY id")
    assert sorted(kinds) == [
        ("Main", 0, 0),
        ("Merge side", 1, 0),
        ("Record tmxd notes", 0, 1),
        ("Side", 0, 0),
        ("Typo in the id", 0, 0),
    ]
    args = ["report", "--db", str(db), "-p", str(project)]
    out = json.loads(run_tmxd(*args, "--format", "json").stdout)["commits"]
    assert (out["linked"], out["total"], out["merges"], out["taskmaster_only"]) == (2, 3, 1, 1)
    text = run_tmxd(*args).stdout
    assert (
        "2 of 3 commits name a task (not counted: 1 merge, 1 changing only Task Master files)"
        in text
    ), text
