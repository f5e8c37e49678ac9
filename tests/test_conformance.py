"""tmxd against the real Task Master CLI's answers on every corpus file (``expected/``)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from corpus_tools import (
    corpus_file,
    corpus_stem,
    golden_statuses,
    goldens,
    unstable_keys,
)
from helpers import CORPUS, copy_corpus
from tmxd.errors import InputError
from tmxd.taskmaster import cli_json
from tmxd.taskmaster.dependencies import validate_dependencies
from tmxd.taskmaster.document import parse_tasks
from tmxd.taskmaster.ops import next_task, set_status
from tmxd.taskmaster.project import find_project
from tmxd.taskmaster.store import TaskStore

GOLDENS = goldens()
pytestmark = pytest.mark.skipif(not GOLDENS, reason=f"corpus goldens not found at {CORPUS}")

# Files where the CLI sees no tasks at all (extra top-level keys next to an untagged list,
# or the {"master": [...]} layout); tmxd reads them, so its answer differs by design.
CLI_BLIND = {"041.json", "054.json", "078.json", "085.json", "126.json"}


def _ids(kind: str) -> list[Any]:
    """One case per golden; only ``next`` also covers the files that are not valid JSON."""
    return [
        pytest.param(g, id=g["file"])
        for g in GOLDENS
        if kind == "next" or ".invalid." not in g["file"]
    ]


def _project(tmp_path: Path, golden: dict[str, Any]) -> tuple[Path, TaskStore]:
    tasks_path = copy_corpus(corpus_stem(golden), tmp_path)
    return tasks_path, TaskStore(find_project(tmp_path))


@pytest.mark.parametrize("golden", _ids("next"))
def test_next_matches_cli(tmp_path: Path, golden: dict[str, Any]) -> None:
    path = corpus_file(golden)
    if ".invalid." in golden["file"]:
        text = path.read_text(encoding="utf-8")
        where = r"the file is empty;" if not text.strip() else r"line \d+ column \d+"
        with pytest.raises(InputError, match=where):
            parse_tasks(text, path)
        return
    _tasks, store = _project(tmp_path, golden)
    assert store.project is not None
    doc = store.read()
    tag = store.project.active_tag(None, doc.tag_names())
    assert tag == (golden["active_tag"] or "master")
    found = next_task(doc, tag)
    cli = golden["next"]
    if cli["exit"] != 0 or cli["json"] is None:
        # The CLI aborted (e.g. a task with status "completed"); tmxd still answers.
        assert found is None or doc.find(found.id, tag) is not None
        return
    if golden["file"] in CLI_BLIND:
        assert cli["json"]["hasAnyTasks"] is False
        assert found is not None
        return
    want = (cli["json"]["task"] or {}).get("id")
    got = found.id if found else None
    if want is not None and got is not None and found is not None and found.parent_id:
        # The CLI composes "<task>.<stored subtask id>" even when the stored id is "29.1".
        want_local = want[len(found.parent_id) + 1 :]
        assert want_local in (found.local_id, f"{found.parent_id}.{found.local_id}")
        return
    assert got == want


def _set_status_cases() -> list[Any]:
    cases = []
    for g in GOLDENS:
        for index, op in enumerate(g.get("set_status") or []):
            cases.append(pytest.param(g, op, id=f"{g['file']}#{index}:{op['id']}={op['status']}"))
    return cases


@pytest.mark.parametrize(("golden", "op"), _set_status_cases())
def test_set_status_leaves_same_statuses_as_cli(
    tmp_path: Path, golden: dict[str, Any], op: dict[str, Any]
) -> None:
    tasks_path, store = _project(tmp_path, golden)
    tag = golden["active_tag"]
    unstable = unstable_keys(tasks_path, tag)
    before = golden_statuses(tasks_path, tag)
    assert before == op["statuses_before"] or unstable
    if op["exit"] != 0 or op["statuses_after"] is None:
        # The CLI failed (unaddressable id, invisible tasks). tmxd either does the job or
        # says why, and never damages the file.
        original = tasks_path.read_bytes()
        try:
            changes = set_status(store, [op["id"]], op["status"])
        except InputError:
            assert tasks_path.read_bytes() == original
            return
        assert changes[0].task_id == op["id"]
        assert store.read().find(op["id"], store.project.active_tag() if store.project else "")
        return
    set_status(store, [op["id"]], op["status"])
    after = golden_statuses(tasks_path, tag)
    want = op["statuses_after"]
    for key, old in before.items():
        if key in unstable:
            expected = op["status"] if key == op["id"] else old
            assert after[key] == expected, key
        else:
            assert after.get(key, "<missing>") == want.get(key, "<missing>"), key


def _with_report(tmp_path: Path, golden: dict[str, Any]) -> TaskStore:
    """The project as the golden harness built it (complexity report under the master name)."""
    _tasks, store = _project(tmp_path, golden)
    report = CORPUS / f"{corpus_stem(golden)}.complexity.json"
    if golden["inputs"]["complexity_report"]:
        target = tmp_path / ".taskmaster" / "reports" / "task-complexity-report.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(report, target)
    return store


@pytest.mark.parametrize("golden", _ids("list"))
def test_list_and_next_json_match_cli(tmp_path: Path, golden: dict[str, Any]) -> None:
    store = _with_report(tmp_path, golden)
    assert store.project is not None
    doc = store.read()
    tag = store.project.active_tag(None, doc.tag_names())
    complexity = cli_json.load_complexity(store.project.complexity_report_path(tag))
    cli_list = golden["list"]
    if cli_list["exit"] == 0 and cli_list["json"] and cli_list["json"]["tasks"]:
        mine = cli_json.list_json(doc, tag, with_subtasks=True, complexity=complexity)
        if golden["active_tag"] is None and cli_list["json"]["metadata"]["tag"] != tag:
            # An untagged file whose state.json names another tag: the CLI echoes that
            # name; tmxd names the tag it really read.
            mine["metadata"]["tag"] = cli_list["json"]["metadata"]["tag"]
        assert mine == cli_list["json"]
    cli_next = golden["next"]
    if cli_next["exit"] == 0 and cli_next["json"] and cli_next["json"]["hasAnyTasks"]:
        task = next_task(doc, tag)
        mine = cli_json.next_json(task, tag, bool(doc.task_dicts(tag)), complexity)
        if mine["task"] and task is not None and task.parent_id:
            mine["task"]["id"] = cli_next["json"]["task"]["id"]  # "29.29.1", see above
        mine["tag"] = cli_next["json"]["tag"]
        assert mine == cli_next["json"]


_ISSUE = re.compile(r"^\[ERROR\]   \[(\w+)\] Task (\S+): (.*)$")


@pytest.mark.parametrize("golden", _ids("validate"))
def test_validate_dependencies_findings_match_cli(golden: dict[str, Any]) -> None:
    path = corpus_file(golden)
    doc = parse_tasks(path.read_text(encoding="utf-8"), path)
    tag = golden["active_tag"] or "master"
    cli = [
        (m.group(2), m.group(1).lower(), m.group(3))
        for line in golden["validate"]["stdout"].splitlines()
        if (m := _ISSUE.match(line))
    ]
    exact = validate_dependencies(doc, tag, cli_quirks=True)
    assert [(i.task_id, i.kind, i.cli_line().split(": ", 1)[1]) for i in exact] == cli
    # tmxd's own reading only drops the CLI's false "missing" findings: sibling numbers it
    # read as task ids, and ids that are not numbers (parseInt turns them into NaN).
    # Duplicate ids are a tmxd addition the CLI does not check (docs/compatibility.md).
    mine = {(i.task_id, i.kind) for i in validate_dependencies(doc, tag) if i.kind != "duplicate"}
    theirs = {(i.task_id, i.kind) for i in exact}
    assert mine <= theirs
    assert {kind for _task, kind in theirs - mine} <= {"missing"}
