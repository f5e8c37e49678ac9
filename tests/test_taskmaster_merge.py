"""The three-way merge of Task Master documents: every rule, every layout of the corpus."""

from __future__ import annotations

import copy
import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from helpers import CORPUS, init_repo, oracle_missing, run_oracle
from tmxd.taskmaster import jsonedit
from tmxd.taskmaster.document import TasksFile, js_string, parse_tasks, subtask_full_id
from tmxd.taskmaster.jsonedit import Append, Insert, Remove, Replace
from tmxd.taskmaster.merge import (
    MISSING,
    Conflict,
    MergeResult,
    Renumbered,
    merge,
    merge_notes,
    merge_status,
    tag_views,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW_ISO = "2026-03-01T12:00:00.000Z"


def doc(data: Any) -> TasksFile:
    return TasksFile(json.dumps(data), data, Path("tasks.json"))


def run(
    base: Any, ours: Any, theirs: Any, *, ours_text: str | None = None
) -> tuple[MergeResult, Any]:
    """Merge, check nothing was mutated, splice the edits into ours' text (Task Master's
    format unless given) and return the result and the merged document."""
    before = copy.deepcopy((base, ours, theirs))
    result = merge(None if base is None else doc(base), doc(ours), doc(theirs), now=NOW)
    assert (base, ours, theirs) == before, "merge changed its inputs"
    text = json.dumps(ours, indent=2, ensure_ascii=False) if ours_text is None else ours_text
    merged_text = jsonedit.apply(text, result.edits)
    parse_tasks(merged_text, Path("merged.json"))  # still a Task Master file
    return result, json.loads(merged_text.removeprefix("\ufeff"))


def task(tid: Any, status: str = "pending", **extra: Any) -> dict[str, Any]:
    return {
        "id": tid,
        "title": f"Task {tid}",
        "description": f"About {tid}",
        "status": status,
        "dependencies": [],
        "priority": "medium",
        "details": "",
        "subtasks": [],
        **extra,
    }


def sub(sid: Any, status: str = "pending", **extra: Any) -> dict[str, Any]:
    return {"id": sid, "title": f"Sub {sid}", "status": status, "dependencies": [], **extra}


def tagged(*tasks: dict[str, Any], tag: str = "master") -> dict[str, Any]:
    return {
        tag: {
            "tasks": list(tasks),
            "metadata": {
                "created": "2026-01-01T00:00:00.000Z",
                "updated": "2026-01-01T00:00:00.000Z",
                "description": "Tasks for master context",
            },
        }
    }


def tasks_of(data: Any, tag: str = "master") -> list[dict[str, Any]]:
    return tag_views(doc(data))[tag].tasks


def find(data: Any, full_id: str, tag: str = "master") -> dict[str, Any]:
    found = doc(data).locate(full_id, tag)
    assert found is not None, f"{full_id} not in {tag}"
    return found[1]


def corpus(name: str) -> Any:
    return json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))


def block(text: str, stamp: str) -> str:
    return f"<info added on {stamp}>\n{text}\n</info added on {stamp}>"


# -- the rules, one by one -----------------------------------------------------------------


def test_identical_sides_and_one_sided_changes() -> None:
    base = tagged(task(1), task(2))
    ours = copy.deepcopy(base)
    ours["master"]["tasks"][0]["status"] = "done"
    assert run(base, ours, ours)[0].edits == []
    assert run(base, ours, base)[0].edits == []
    result, merged = run(base, base, ours)
    assert result.clean and result.edits == [Replace(("master", "tasks", 0, "status"), "done")]
    assert merged == ours


def test_different_fields_of_one_task_merge_cleanly() -> None:
    base = tagged(task(1))
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    ours["master"]["tasks"][0]["title"] = "Ours' title"
    theirs["master"]["tasks"][0]["priority"] = "high"
    theirs["master"]["tasks"][0]["testStrategy"] = "run it"
    result, merged = run(base, ours, theirs)
    assert result.clean
    assert merged["master"]["tasks"][0] == {
        **task(1),
        "title": "Ours' title",
        "priority": "high",
        "testStrategy": "run it",
    }
    assert Insert(("master", "tasks", 0), "testStrategy", "run it") in result.edits


@pytest.mark.parametrize(
    ("ours", "theirs", "winner"),
    [
        ("done", "review", "done"),
        ("review", "done", "done"),
        ("in-progress", "review", "review"),
        ("pending", "in-progress", "in-progress"),
        ("done", "pending", "done"),
        ("cancelled", "done", None),
        ("done", "deferred", None),
        ("deferred", "cancelled", None),
        ("blocked", "in-progress", None),
        ("completed", "done", None),
    ],
)
def test_status_changed_on_both_sides(ours: str, theirs: str, winner: str | None) -> None:
    assert merge_status(ours, theirs) == (MISSING if winner is None else winner)
    base = tagged(task(1, "in-progress" if "in-progress" not in (ours, theirs) else "pending"))
    o, t = copy.deepcopy(base), copy.deepcopy(base)
    o["master"]["tasks"][0]["status"] = ours
    t["master"]["tasks"][0]["status"] = theirs
    result, merged = run(base, o, t)
    if winner is None:
        [conflict] = result.conflicts
        assert (conflict.tag, conflict.task_id, conflict.field_name) == ("master", "1", "status")
        assert (conflict.ours, conflict.theirs) == (ours, theirs)
        assert merged["master"]["tasks"][0]["status"] == ours
    else:
        assert result.clean
        assert merged["master"]["tasks"][0]["status"] == winner


def test_notes_appended_on_both_sides_are_kept_in_time_order_each_once() -> None:
    first = block("ours, earlier", "2026-02-01T10:00:00.000Z")
    second = block("theirs, later", "2026-02-01T11:00:00.000Z")
    third = block("ours, latest", "2026-02-02T09:00:00.000Z")
    shared = block("both", "2026-02-01T10:30:00.000Z")
    base = "Plan the work."
    ours = f"{base}\n{first}\n{shared}\n{third}"
    theirs = f"{base}\n{shared}\n{second}"
    merged = merge_notes(base, ours, theirs)
    assert merged == f"{base}\n{first}\n{shared}\n{second}\n{third}"
    # Empty details: blocks joined without a leading newline, as update-subtask writes them.
    assert merge_notes("", first, second) == f"{first}\n{second}"
    assert merge_notes(MISSING, second, first) == f"{first}\n{second}"
    # One side already has the other's notes: take the longer text as it is.
    assert merge_notes(base, f"{base}\n{first}", f"{base}\n{first}\n{second}") == (
        f"{base}\n{first}\n{second}"
    )
    # The list form of details.
    assert merge_notes(["a"], ["a", second], ["a", first]) == ["a", first, second]


def test_notes_appended_on_one_side_join_text_edited_on_the_other() -> None:
    note = block("n", "2026-02-01T10:00:00.000Z")
    older = block("o", "2026-01-01T10:00:00.000Z")
    assert merge_notes("Plan.", "Rewritten.", f"Plan.\n{note}") == f"Rewritten.\n{note}"
    assert merge_notes("Plan.", f"Plan.\n{note}\n{older}", "") == f"{older}\n{note}"
    # A note the edited side already holds is not added twice.
    assert merge_notes("Plan.", f"New.\n{note}", f"Plan.\n{note}") == f"New.\n{note}"
    # The list form.
    assert merge_notes(["a"], ["b"], ["a", "c"]) == ["b", "c"]
    b, o = tagged(task(1, details="Plan.")), tagged(task(1, details="Plan. More."))
    t = tagged(task(1, details=f"Plan.\n{note}"))
    result, merged = run(b, o, t)
    assert result.clean and find(merged, "1")["details"] == f"Plan. More.\n{note}"


@pytest.mark.parametrize(
    ("base", "ours", "theirs"),
    [
        ("Plan.", "Plan. More words.", "Plan. Other words."),
        ("Plan.", "Rewritten.", "Also rewritten."),
        ("Plan.", ["Plan."], "Plan. x"),
        ("Plan.", "Plan.\n" + block("n", "2026-02-01T10:00:00.000Z"), None),
    ],
)
def test_details_edited_on_both_sides_beyond_notes_is_a_conflict(
    base: Any, ours: Any, theirs: Any
) -> None:
    assert merge_notes(base, ours, theirs) is MISSING
    b = tagged(task(1, details=base))
    o, t = tagged(task(1, details=ours)), tagged(task(1, details=theirs))
    result, merged = run(b, o, t)
    assert [c.field_name for c in result.conflicts] == ["details"]
    assert merged == o


def test_notes_on_subtasks_and_statuses_of_siblings_merge_in_a_task() -> None:
    base = tagged(task(1, "in-progress", subtasks=[sub(1), sub(2), sub(3)]))
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    note_a = block("Committed changes: a (abc1234)", "2026-02-01T10:00:00.000Z")
    note_b = block("Committed changes: b (def5678)", "2026-02-01T09:00:00.000Z")
    find(ours, "1.1")["status"] = "done"
    find(ours, "1.3")["details"] = note_a
    find(theirs, "1.2")["status"] = "done"
    find(theirs, "1.3")["details"] = note_b
    result, merged = run(base, ours, theirs)
    assert result.clean
    assert [s["status"] for s in merged["master"]["tasks"][0]["subtasks"]] == [
        "done",
        "done",
        "pending",
    ]
    assert find(merged, "1.3")["details"] == f"{note_b}\n{note_a}"


def test_dependencies_changed_on_both_sides_merge_as_a_set() -> None:
    base = tagged(task(1), task(2), task(3), task(4, dependencies=[1, 2]))
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    find(ours, "4")["dependencies"] = [1, 2, 3]
    find(theirs, "4")["dependencies"] = ["1"]  # removes 2, keeps 1 (as a string)
    result, merged = run(base, ours, theirs)
    assert result.clean
    assert find(merged, "4")["dependencies"] == [1, 3]


def test_last_change_stamps_take_the_later_one() -> None:
    base = tagged(task(1, updatedAt="2026-01-01T00:00:00.000Z"))
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    find(ours, "1").update(status="done", updatedAt="2026-02-01T00:00:00.000Z")
    find(theirs, "1").update(title="T", updatedAt="2026-02-03T00:00:00.000Z")
    ours["master"]["metadata"]["updated"] = "2026-02-05T00:00:00.000Z"
    theirs["master"]["metadata"]["updated"] = "2026-02-04T00:00:00.000Z"
    result, merged = run(base, ours, theirs)
    assert result.clean
    assert find(merged, "1")["updatedAt"] == "2026-02-03T00:00:00.000Z"
    assert merged["master"]["metadata"]["updated"] == "2026-02-05T00:00:00.000Z"
    theirs["master"]["metadata"]["updated"] = "yesterday"
    result, _ = run(base, ours, theirs)
    assert [(c.tag, c.task_id, c.field_name) for c in result.conflicts] == [
        ("master", None, "metadata.updated")
    ]


def test_any_other_field_changed_differently_is_a_conflict_keeping_ours() -> None:
    base = tagged(task(1, metadata={"owner": "ann", "size": 1}))
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    find(ours, "1").update(title="Ours", metadata={"owner": "bob", "size": 1})
    find(theirs, "1").update(title="Theirs", metadata={"owner": "ann", "size": 2})
    result, merged = run(base, ours, theirs)
    assert [(c.task_id, c.field_name, c.ours, c.theirs) for c in result.conflicts] == [
        ("1", "title", "Ours", "Theirs")
    ]
    assert find(merged, "1")["title"] == "Ours"
    assert find(merged, "1")["metadata"] == {"owner": "bob", "size": 2}


def test_deletions_against_edits_are_conflicts_and_plain_deletions_apply() -> None:
    base = tagged(task(1), task(2, subtasks=[sub(1), sub(2)]), task(3))
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    del ours["master"]["tasks"][0]  # ours deletes 1, theirs edits it
    find(theirs, "1")["status"] = "done"
    del theirs["master"]["tasks"][2]  # theirs deletes 3, ours edits it
    find(ours, "3")["title"] = "kept"
    del find(theirs, "2")["subtasks"][1]  # theirs deletes 2.2, nobody else touched it
    result, merged = run(base, ours, theirs)
    assert sorted((c.task_id, c.field_name) for c in result.conflicts) == [
        ("1", "task"),
        ("3", "task"),
    ]
    by_id = {c.task_id: c for c in result.conflicts}
    assert by_id["1"].ours is MISSING and by_id["1"].theirs["status"] == "done"
    assert by_id["3"].theirs is MISSING and by_id["3"].ours["title"] == "kept"
    assert [js_string(t["id"]) for t in tasks_of(merged)] == ["2", "3"]
    assert [s["id"] for s in find(merged, "2")["subtasks"]] == [1]
    # A field deleted on one side and changed on the other.
    b, o, t = tagged(task(1, testStrategy="a")), tagged(task(1)), tagged(task(1, testStrategy="b"))
    result, merged = run(b, o, t)
    [conflict] = result.conflicts
    assert (conflict.field_name, conflict.ours, conflict.theirs) == ("testStrategy", MISSING, "b")
    assert "testStrategy" not in find(merged, "1")


def test_additions_on_both_sides_are_all_kept() -> None:
    base = tagged(task(1, subtasks=[sub(1)]))
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    tasks_of(ours).append(task(2))
    tasks_of(theirs).append(task(3, dependencies=[1]))
    find(ours, "1")["subtasks"].append(sub(2))
    find(theirs, "1")["subtasks"].append(sub(3, dependencies=[1]))
    result, merged = run(base, ours, theirs)
    assert result.clean and result.renumbered == []
    assert [t["id"] for t in tasks_of(merged)] == [1, 2, 3]
    assert [s["id"] for s in find(merged, "1")["subtasks"]] == [1, 2, 3]
    assert Append(("master", "tasks"), task(3, dependencies=[1])) in result.edits


def test_the_same_addition_on_both_sides_is_one_task() -> None:
    base = tagged(task(1))
    ours = tagged(task(1), task(2))
    result, merged = run(base, ours, copy.deepcopy(ours))
    assert result.edits == [] and merged == ours


def test_same_id_added_on_both_sides_renumbers_theirs_and_rewrites_its_dependents() -> None:
    base = tagged(*(task(i) for i in range(1, 12)), task(20, dependencies=[3]))
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    tasks_of(ours).append(task(12, title="Ours' 12"))
    tasks_of(theirs).append(task(12, title="Theirs' 12", subtasks=[sub(1, parentTaskId=12)]))
    tasks_of(theirs).append(task(21, dependencies=[12, "12.1"], subtasks=[sub(1)]))
    find(theirs, "21")["subtasks"][0]["dependencies"] = ["12.1"]
    find(theirs, "20")["dependencies"] = [3, 12]  # an existing task now depends on theirs' 12
    find(ours, "5")["dependencies"] = [12]  # and one of ours on ours' 12
    result, merged = run(base, ours, theirs)
    assert result.clean
    assert result.renumbered == [Renumbered("master", "12", "22")]
    ids = [js_string(t["id"]) for t in tasks_of(merged)]
    assert ids == [*(str(i) for i in range(1, 12)), "20", "12", "21", "22"]
    assert find(merged, "12")["title"] == "Ours' 12"
    renumbered = find(merged, "22")
    assert renumbered["title"] == "Theirs' 12" and renumbered["id"] == 22
    assert renumbered["subtasks"][0]["parentTaskId"] == 22
    assert renumbered["details"] == block(
        "Renumbered from 12 to 22 by tmxd merge-driver: 12 was also added on the other branch.",
        NOW_ISO,
    )
    assert find(merged, "21")["dependencies"] == [22, "22.1"]
    assert find(merged, "21.1")["dependencies"] == ["22.1"]
    assert find(merged, "20")["dependencies"] == [3, 22]
    assert find(merged, "5")["dependencies"] == [12]


def test_same_subtask_id_added_on_both_sides_renumbers_theirs_and_its_siblings_follow() -> None:
    base = tagged(task(1, subtasks=[sub(1)]), task(2))
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    find(ours, "1")["subtasks"].append(sub(2, title="ours"))
    find(theirs, "1")["subtasks"] += [sub(2, title="theirs"), sub(3, dependencies=[2, 1])]
    find(theirs, "2")["dependencies"] = ["1.2"]
    result, merged = run(base, ours, theirs)
    assert result.clean
    assert result.renumbered == [Renumbered("master", "1.2", "1.4")]
    subs = find(merged, "1")["subtasks"]
    assert [(s["id"], s["title"]) for s in subs] == [
        (1, "Sub 1"),
        (2, "ours"),
        (3, "Sub 3"),
        (4, "theirs"),
    ]
    assert find(merged, "1.3")["dependencies"] == [4, 1]
    assert find(merged, "2")["dependencies"] == ["1.4"]
    assert "Renumbered from 1.2 to 1.4" in find(merged, "1.4")["details"]


def test_ids_are_compared_as_strings_and_each_side_keeps_its_id_type() -> None:
    base = tagged(task(5), task(6))
    ours = tagged(task(5, "done"), task(6))
    theirs = tagged(task("5"), task("6", "review"), task("7"))
    result, merged = run(base, ours, theirs)
    assert result.clean
    assert [t["id"] for t in tasks_of(merged)] == [5, 6, "7"]
    assert [t["status"] for t in tasks_of(merged)] == ["done", "review", "pending"]
    # A renumbered string id stays a string, a float-typed subtask id stays a float.
    base = tagged(task("1", subtasks=[sub(1.1)]))
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    tasks_of(ours).append(task("2"))
    tasks_of(theirs).append(task("2", title="other"))
    find(ours, "1")["subtasks"].append(sub(1.2))
    find(theirs, "1")["subtasks"].append(sub(1.2, title="other"))
    result, merged = run(base, ours, theirs)
    assert [t["id"] for t in tasks_of(merged)] == ["1", "2", "3"]
    assert [s["id"] for s in find(merged, "1")["subtasks"]] == [1.1, 1.2, 1.3]


def test_tags_added_and_deleted() -> None:
    base = {**tagged(task(1)), **tagged(task(1), tag="old")}
    ours = copy.deepcopy(base)
    theirs = {**copy.deepcopy(base), **tagged(task(9), tag="feature")}
    del theirs["old"]
    result, merged = run(base, ours, theirs)
    assert result.clean
    assert result.edits == [Remove(("old",)), Insert((), "feature", theirs["feature"])]
    assert list(merged) == ["master", "feature"]
    # A tag cannot be added to an untagged file without migrating it: a conflict.
    result, merged = run({"tasks": [task(1)]}, {"tasks": [task(1)]}, theirs)
    assert [(c.tag, c.field_name) for c in result.conflicts] == [("feature", "tag")]
    assert doc(merged).layout == "untagged" and merged["tasks"] == [task(1)]


def test_no_common_ancestor() -> None:
    ours = tagged(task(1), task(2, "done"))
    theirs = tagged(task(1), task(2, "pending"), task(3))
    result, merged = run(None, ours, theirs)
    # Task 2 was "added" on both sides with different content: theirs' is renumbered.
    assert result.renumbered == [Renumbered("master", "2", "4")]
    assert [t["id"] for t in tasks_of(merged)] == [1, 2, 3, 4]


# -- every layout of the corpus ---------------------------------------------------------------


def corpus_files() -> list[str]:
    names = []
    for path in sorted(CORPUS.glob("[0-9][0-9][0-9].json")):
        names.append(path.stem)
    return names


def _two_sides(data: Any) -> tuple[Any, Any, list[str]]:
    """Ours sets the first task done and notes the last; theirs reviews the second, adds one."""
    ours, theirs = copy.deepcopy(data), copy.deepcopy(data)
    tag = doc(data).tag_names()[0]
    o_tasks, t_tasks = tasks_of(ours, tag), tasks_of(theirs, tag)
    ids = [js_string(t.get("id")) for t in o_tasks if isinstance(t, dict)]
    if len(o_tasks) >= 2:
        o_tasks[0]["status"] = "done"
        o_tasks[-1]["details"] = block("ours", "2026-02-01T10:00:00.000Z")
        t_tasks[1]["status"] = "review"
    t_tasks.append(task(10_000, title="theirs' new task"))
    return ours, theirs, [*ids, "10000"]


@pytest.mark.parametrize("name", corpus_files())
def test_every_corpus_file_merges_two_sides_cleanly(name: str) -> None:
    text = (CORPUS / f"{name}.json").read_text(encoding="utf-8")
    data = parse_tasks(text, Path(f"{name}.json")).data
    assert run(data, data, data)[0].edits == []
    ours, theirs, ids = _two_sides(data)
    result, merged = run(data, ours, theirs)
    assert result.clean, result.conflicts
    tag = doc(data).tag_names()[0]
    out = tasks_of(merged, tag)
    assert [js_string(t.get("id")) for t in out] == ids
    if len(out) >= 3:
        assert (out[0]["status"], out[1]["status"]) == ("done", "review")
        assert out[-2]["details"] == tasks_of(ours, tag)[-1]["details"]
    # The other tags are untouched.
    for other in doc(data).tag_names()[1:]:
        assert tasks_of(merged, other) == tasks_of(data, other)


def test_ids_rewritten_as_strings_by_the_cli_are_no_change() -> None:
    """Task Master's set-status writes every id back as a string; that alone changes nothing."""
    data = corpus("001")
    theirs = copy.deepcopy(data)
    for item in tasks_of(theirs):
        item["id"] = js_string(item["id"])
        item["dependencies"] = [js_string(d) for d in item["dependencies"]]
        for subtask in item.get("subtasks") or []:
            subtask["id"] = js_string(subtask["id"])
    tasks_of(theirs)[3]["status"] = "review"
    result, _ = run(data, data, theirs)
    assert result.edits == [Replace(("master", "tasks", 3, "status"), "review")]


# -- properties: random edit scripts on two sides ---------------------------------------------
#
# An edit script is a list of operations on one tag of a corpus file, each on a task or
# subtask named by id. Scripts of the two sides are drawn interleaved, one clock for both,
# so "applying both" is well defined: every operation of both sides, in the drawn order.

OpTarget = tuple[str, str | None]  # (task id, subtask full id or None)
STATUSES = ["pending", "in-progress", "done", "review", "deferred", "cancelled", "blocked"]
WORDS = st.text(alphabet="abcdefghij klmnoé中🙂", min_size=1, max_size=12).map(lambda s: "x" + s)
_BASES: dict[str, Any] = {}


def base_of(name: str) -> Any:
    if name not in _BASES:
        _BASES[name] = parse_tasks(text_of(name), Path(name)).data
    return _BASES[name]


def text_of(name: str) -> str:
    return (CORPUS / f"{name}.json").read_text(encoding="utf-8")


def written(name: str, data: Any) -> str:
    """The corpus file's text after a tmxd write that left it holding ``data``."""
    return jsonedit.apply(text_of(name), jsonedit.diff(base_of(name), data))


@dataclass(frozen=True)
class Op:
    side: str  # "ours" or "theirs"
    kind: str
    target: OpTarget
    value: Any = None

    def slots(self) -> set[tuple[str, str | None, str]]:
        """What the operation touches, to keep two sides' scripts apart when asked to."""
        task_id, sub_id = self.target
        if self.kind in ("delete", "add_task", "add_subtask"):
            return {(task_id, sub_id, "*")}
        if self.kind in ("add_dep", "remove_dep"):
            return {(task_id, sub_id, f"dep:{js_string(self.value)}")}
        if self.kind == "note":
            return {(task_id, sub_id, "note")}
        return {(task_id, sub_id, self.kind)}


def _overlap(a: tuple[str, str | None, str], b: tuple[str, str | None, str]) -> bool:
    if a[0] != b[0]:
        return False
    if (a[1] is None and a[2] == "*") or (b[1] is None and b[2] == "*"):
        return True  # a whole task deleted or added
    if a[1] != b[1]:
        return False
    if "*" in (a[2], b[2]):
        return True
    return a[2] == b[2] and a[2] != "note"


def _unique_targets(tasks: list[Any]) -> list[OpTarget]:
    counts: dict[str, int] = {}
    for item in tasks:
        if isinstance(item, dict):
            counts[js_string(item.get("id"))] = counts.get(js_string(item.get("id")), 0) + 1
    out: list[OpTarget] = []
    for item in tasks:
        if not isinstance(item, dict) or counts[js_string(item.get("id"))] > 1:
            continue
        tid = js_string(item.get("id"))
        out.append((tid, None))
        subs = [s for s in item.get("subtasks") or [] if isinstance(s, dict)]
        full = [doc_sub_id(tid, s) for s in subs]
        out += [(tid, f) for f in full if full.count(f) == 1]
    return out


def doc_sub_id(task_id: str, raw: dict[str, Any]) -> str:
    return subtask_full_id(task_id, raw.get("id"))


def _highest(ids: list[str]) -> int:
    numbers = [int(float(i)) for i in ids if i.replace(".", "", 1).isdigit()]
    return max(numbers, default=0)


@st.composite
def scenarios(
    draw: st.DrawFn, names: list[str], *, apart: bool, min_ops: int = 0, max_ops: int = 10
) -> tuple[str, str, list[Op]]:
    """(corpus file, tag, operations of both sides in the order they happen)."""
    name = draw(st.sampled_from(names))
    data = base_of(name)
    tag = draw(st.sampled_from(doc(data).tag_names()))
    tasks = tasks_of(data, tag)
    targets = _unique_targets(tasks)
    if targets and draw(st.booleans()):
        # A few places only, so the two sides often meet.
        targets = draw(st.lists(st.sampled_from(targets), min_size=1, max_size=4, unique=True))
    task_targets = [t for t in targets if t[1] is None]
    top = _highest([js_string(t.get("id")) for t in tasks if isinstance(t, dict)])
    ops: list[Op] = []
    claimed: dict[str, list[tuple[str, str | None, str]]] = {"ours": [], "theirs": []}
    for _ in range(draw(st.integers(min_ops, max_ops))):
        side = draw(st.sampled_from(["ours", "theirs"]))
        kinds = ["add_task"] + (
            ["status", "title", "description", "priority", "note", "delete"] if targets else []
        )
        kinds += ["add_dep", "remove_dep", "add_subtask"] if task_targets else []
        kind = draw(st.sampled_from(kinds))
        if kind == "add_task":
            op = Op(side, kind, (str(draw(st.integers(top + 1, top + 4))), None))
        elif kind == "add_subtask":
            tid = draw(st.sampled_from(task_targets))[0]
            op = Op(side, kind, (tid, f"{tid}.{draw(st.integers(1, 30))}"))
        elif kind in ("add_dep", "remove_dep"):
            target = draw(st.sampled_from(task_targets))
            op = Op(side, kind, target, draw(st.sampled_from(task_targets))[0])
        else:
            target = draw(st.sampled_from(targets))
            value = {
                "status": st.sampled_from(STATUSES),
                "priority": st.sampled_from(["low", "medium", "high", "critical"]),
                "delete": st.none(),
            }.get(kind, WORDS)
            op = Op(side, kind, target, draw(value))
        other = claimed["theirs" if side == "ours" else "ours"]
        if apart and any(_overlap(a, b) for a in op.slots() for b in other):
            continue
        claimed[side] += op.slots()
        ops.append(op)
    return name, tag, ops


def _find_target(data: Any, tag: str, target: OpTarget) -> tuple[list[Any], int] | None:
    """(the list holding it, its index), or None when it is gone."""
    tasks = tasks_of(data, tag)
    for index, item in enumerate(tasks):
        if isinstance(item, dict) and js_string(item.get("id")) == target[0]:
            if target[1] is None:
                return tasks, index
            subs = item.get("subtasks")
            for sub_index, raw in enumerate(subs if isinstance(subs, list) else []):
                if isinstance(raw, dict) and doc_sub_id(target[0], raw) == target[1]:
                    return subs, sub_index
            return None
    return None


def apply_op(data: Any, tag: str, op: Op, stamp: str) -> None:
    """Carry out ``op`` on ``data`` in place, the way a person or Task Master would."""
    if op.kind == "add_task":
        if _find_target(data, tag, op.target) is None:
            tasks_of(data, tag).append(task(int(op.target[0]), title=f"{op.side} {stamp}"))
        return
    if op.kind == "add_subtask":
        assert op.target[1] is not None
        parent = _find_target(data, tag, (op.target[0], None))
        if parent is None or _find_target(data, tag, op.target) is not None:
            return
        raw = parent[0][parent[1]]
        if not isinstance(raw.get("subtasks"), list):
            raw["subtasks"] = []
        raw["subtasks"].append(sub(int(op.target[1].split(".")[1]), title=f"{op.side} {stamp}"))
        return
    found = _find_target(data, tag, op.target)
    if found is None:
        return
    holder, index = found
    item = holder[index]
    if op.kind == "delete":
        del holder[index]
    elif op.kind == "note":
        note = block(op.value, stamp)
        details = item.get("details")
        if isinstance(details, list):
            details.append(note)
        else:
            item["details"] = f"{details}\n{note}" if isinstance(details, str) and details else note
    elif op.kind in ("add_dep", "remove_dep"):
        deps = item.get("dependencies")
        deps = deps if isinstance(deps, list) else []
        have = [js_string(d) for d in deps]
        if op.kind == "add_dep" and op.value not in have:
            item["dependencies"] = [*deps, int(op.value) if op.value.isdigit() else op.value]
        elif op.kind == "remove_dep" and op.value in have:
            item["dependencies"] = [d for d in deps if js_string(d) != op.value]
    else:
        item[op.kind] = op.value


def play(data: Any, tag: str, ops: list[Op], sides: tuple[str, ...]) -> Any:
    out = copy.deepcopy(data)
    for number, op in enumerate(ops):
        if op.side in sides:
            apply_op(out, tag, op, f"2030-01-01T00:00:{number:02d}.000Z")
    return out


def canonical(data: Any) -> str:
    """``data`` with the order of tasks, subtasks and dependencies set aside (and key order)."""
    out = copy.deepcopy(data)
    for view in tag_views(doc(out)).values():
        view.tasks.sort(key=lambda t: js_string(t.get("id")) if isinstance(t, dict) else "")
        for item in view.tasks:
            subs = item.get("subtasks") if isinstance(item, dict) else None
            for raw in [item, *(subs if isinstance(subs, list) else [])]:
                if isinstance(raw, dict) and isinstance(raw.get("dependencies"), list):
                    raw["dependencies"].sort(key=js_string)
            if isinstance(subs, list):
                subs.sort(key=lambda s: js_string(s.get("id")) if isinstance(s, dict) else "")
    return json.dumps(out, sort_keys=True, ensure_ascii=False)


def merged_sides(scenario: tuple[str, str, list[Op]]) -> tuple[Any, Any, Any, MergeResult, Any]:
    """(base, ours, theirs, the merge, the merged document) for a drawn scenario."""
    name, tag, ops = scenario
    data = base_of(name)
    ours, theirs = play(data, tag, ops, ("ours",)), play(data, tag, ops, ("theirs",))
    result, merged = run(data, ours, theirs, ours_text=written(name, ours))
    return data, ours, theirs, result, merged


PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY_SETTINGS
@given(scenarios(corpus_files(), apart=True))
def test_scripts_apart_merge_cleanly_into_what_applying_both_gives(
    scenario: tuple[str, str, list[Op]],
) -> None:
    name, tag, ops = scenario
    data, ours, theirs, result, merged = merged_sides(scenario)
    assert result.clean, result.conflicts
    assert result.renumbered == []
    assert canonical(merged) == canonical(play(data, tag, ops, ("ours", "theirs")))
    # Merging the other way round gives the same document.
    swapped = run(data, theirs, ours, ours_text=written(name, theirs))[1]
    assert canonical(swapped) == canonical(merged)


def _ids(tasks: list[Any], parent: str | None) -> list[str]:
    return [
        js_string(t.get("id")) if parent is None else doc_sub_id(parent, t)
        for t in tasks
        if isinstance(t, dict)
    ]


def _duplicates(data: Any) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for tag, view in tag_views(doc(data)).items():
        ids = _ids(view.tasks, None)
        out |= {(tag, i) for i in ids if ids.count(i) > 1}
        for item in view.tasks:
            if isinstance(item, dict) and isinstance(item.get("subtasks"), list):
                subs = _ids(item["subtasks"], js_string(item.get("id")))
                out |= {(tag, i) for i in subs if subs.count(i) > 1}
    return out


def _value_at(data: Any, conflict: Conflict) -> Any:
    if conflict.task_id is None:
        node: Any = tag_views(doc(data))[conflict.tag].container if conflict.tag else data
    else:
        assert conflict.tag is not None
        found = doc(data).locate(conflict.task_id, conflict.tag)
        if found is None:
            return MISSING
        node = found[1]
    for step in conflict.field:
        if not isinstance(node, dict) or step not in node:
            return MISSING
        node = node[step]
    return node


@PROPERTY_SETTINGS
@given(scenarios(corpus_files(), apart=False))
def test_any_scripts_merge_into_a_valid_file_holding_ours_where_they_conflict(
    scenario: tuple[str, str, list[Op]],
) -> None:
    data, ours, theirs, result, merged = merged_sides(scenario)
    assert _duplicates(merged) <= _duplicates(ours) | _duplicates(theirs)
    for conflict in result.conflicts:
        assert _same_json(_value_at(merged, conflict), conflict.ours)
        assert _same_json(_value_at(ours, conflict), conflict.ours)
    if result.renumbered:
        return
    # Conflicts do not depend on which side is "ours"...
    swapped, _ = run(data, theirs, ours)
    assert sorted(_where(c) for c in swapped.conflicts) == sorted(
        _where(c) for c in result.conflicts
    )
    # ...and a merged file already holds everything theirs changed.
    if result.clean:
        assert run(data, merged, theirs)[0].edits == []


def _where(conflict: Conflict) -> tuple[str, str, str]:
    return (conflict.tag or "", conflict.task_id or "", conflict.field_name)


def _same_json(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


#: Corpus files the real CLI lists (its goldens): tagged and untagged, string ids, string and
#: float subtask ids, several tags.
ORACLE_FILES = ["004", "016", "025", "061", "068"]


@pytest.mark.slow
@pytest.mark.skipif(oracle_missing() is not None, reason=str(oracle_missing()))
@settings(max_examples=3, deadline=None, phases=[Phase.generate])
@given(scenarios(ORACLE_FILES, apart=False, min_ops=3, max_ops=8))
def test_the_real_task_master_cli_reads_merged_files(scenario: tuple[str, str, list[Op]]) -> None:
    """A handful of merges only: each ``task-master list`` takes seconds."""
    name, tag, ops = scenario
    data = base_of(name)
    ours, theirs = play(data, tag, ops, ("ours",)), play(data, tag, ops, ("theirs",))
    result = merge(doc(data), doc(ours), doc(theirs), now=NOW)
    merged_text = jsonedit.apply(written(name, ours), result.edits)
    merged = json.loads(merged_text)
    with tempfile.TemporaryDirectory() as folder:
        project = init_repo(Path(folder) / "project", commit=False)
        tasks_dir = project / ".taskmaster" / "tasks"
        tasks_dir.mkdir(parents=True)
        (tasks_dir / "tasks.json").write_text(merged_text, encoding="utf-8")
        (project / ".taskmaster" / "state.json").write_text(
            json.dumps({"currentTag": tag, "migrationNoticeShown": True})
        )
        proc = run_oracle("list", "--with-subtasks", "--format", "json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    listed = json.JSONDecoder().raw_decode(proc.stdout.lstrip())[0]
    merged_tasks = tasks_of(merged, tag)
    assert [t["id"] for t in listed["tasks"]] == _ids(merged_tasks, None)
    assert [[js_string(s["id"]) for s in t["subtasks"]] for t in listed["tasks"]] == [
        [js_string(s.get("id")) for s in t.get("subtasks") or []] for t in merged_tasks
    ]


def test_a_side_that_migrated_the_layout_merges_its_task_changes_only() -> None:
    """Task Master rewrites an untagged file as {"master": {"tasks", "metadata"}}, dropping
    keys it does not know; that is a change of format, not a deletion to merge."""
    base = corpus("041")
    assert doc(base).layout == "untagged" and {"version", "project"} <= set(base)
    ours = copy.deepcopy(base)
    ours["tasks"][0]["status"] = "done"
    theirs = {
        "master": {
            "tasks": copy.deepcopy(base["tasks"]),
            "metadata": {"created": "2026-01-01T00:00:00.000Z", "description": "migrated"},
        }
    }
    theirs["master"]["tasks"][1]["status"] = "review"
    result, merged = run(base, ours, theirs)
    assert result.clean
    assert list(merged) == list(base)  # still untagged, every key kept, nothing added
    assert [t["status"] for t in merged["tasks"][:2]] == ["done", "review"]
    # And the other way round: ours migrated, theirs edited the untagged file.
    result, merged = run(base, theirs, ours)
    assert result.clean and list(merged) == ["master"]
    assert [t["status"] for t in merged["master"]["tasks"][:2]] == ["done", "review"]
