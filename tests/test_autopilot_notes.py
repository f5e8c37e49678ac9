"""The autopilot's own commit notes, written at once, and marked when a commit is undone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autopilot_support import details, make_project, task
from helpers import git
from tmxd.autopilot import notes
from tmxd.commits import hooks
from tmxd.metrics.recorder import Recorder
from tmxd.taskmaster.project import find_project

TASKS = Path(".taskmaster/tasks/tasks.json")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    make_project(root, [task(1, "Write the parser"), task(2, "Document it")])
    hooks.install(root)
    return root


def commit(root: Path, message: str, name: str) -> str:
    (root / name).write_text(f"{name}\n")
    git(root, "add", name)
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def test_link_commits_writes_the_note_now_and_records_it_as_the_commits(
    root: Path, tmp_path: Path
) -> None:
    sha = commit(root, "Write the parser\n\nTask: 1", "parser.py")
    with Recorder.open(tmp_path / "m.db") as recorder:
        assert notes.link_commits(find_project(root), recorder, "master") is None
        (row,) = recorder.db.execute("SELECT sha FROM commits").fetchall()
    assert row[0] == sha
    assert f"Committed changes: Write the parser ({sha[:7]}) — 1 file, +1/-0" in details(root, "1")
    assert "Committed changes" not in details(root, "2")


def test_link_commits_says_why_the_notes_wait(root: Path) -> None:
    commit(root, "Write the parser\n\nTask: 1", "parser.py")
    (root / TASKS).write_text("{ not json")
    why = notes.link_commits(find_project(root), None, "master")
    assert why is not None and why.startswith("commit notes not written now (")
    assert why.endswith("`tmxd sync` writes them")


def test_mark_reverted_marks_each_note_of_the_commits_once(root: Path) -> None:
    sha = commit(root, "Write the parser\n\nTask: 1\nTask: 2", "parser.py")
    other = commit(root, "Unrelated\n\nTask: 2", "other.py")
    project = find_project(root)
    assert notes.link_commits(project, None, "master") is None
    why = "reverted: the attempt failed"
    assert notes.mark_reverted(project, "master", [sha], why) == ["1", "2"]
    assert f"({sha[:7]}) — 1 file, +1/-0 [{why}]" in details(root, "1")
    assert f"({sha[:7]}) — 1 file, +1/-0 [{why}]" in details(root, "2")
    assert f"({other[:7]}) — 1 file, +1/-0\n" in details(root, "2")  # not its commit
    before = (root / TASKS).read_text()
    assert notes.mark_reverted(project, "master", [sha], why) == []  # once
    assert (root / TASKS).read_text() == before


def test_mark_reverted_of_a_commit_never_noted_changes_nothing(root: Path) -> None:
    before = (root / TASKS).read_text()
    head = git(root, "rev-parse", "HEAD").strip()
    assert notes.mark_reverted(find_project(root), "master", [head], "reverted") == []
    assert (root / TASKS).read_text() == before


def test_a_note_in_a_list_of_details_is_marked_in_place(root: Path) -> None:
    sha = commit(root, "Write the parser\n\nTask: 1", "parser.py")
    project = find_project(root)
    assert notes.link_commits(project, None, "master") is None
    data = json.loads((root / TASKS).read_text())
    first = data["master"]["tasks"][0]
    first["details"] = ["kept as it is", first["details"]]  # a hand-edited file's shape
    (root / TASKS).write_text(json.dumps(data, indent=2))
    assert notes.mark_reverted(project, "master", [sha], "reverted") == ["1"]
    marked = json.loads((root / TASKS).read_text())["master"]["tasks"][0]["details"]
    assert marked[0] == "kept as it is"
    assert marked[1].count("[reverted]") == 1 and sha[:7] in marked[1]
