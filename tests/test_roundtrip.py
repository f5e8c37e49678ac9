"""Writes keep every corpus file's bytes except the values an operation changes."""

from __future__ import annotations

import difflib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from corpus_tools import corpus_stem, goldens
from helpers import CORPUS, copy_corpus
from tmxd.taskmaster.document import parse_tasks
from tmxd.taskmaster.ops import append_note, set_status
from tmxd.taskmaster.project import find_project
from tmxd.taskmaster.store import TaskStore

VALID = [g for g in goldens() if ".invalid." not in g["file"]]
pytestmark = pytest.mark.skipif(not VALID, reason=f"corpus not found at {CORPUS}")
STATUS_LINE = re.compile(r'^\s*"(status|updatedAt)": "[^"]*",?$')


@pytest.mark.parametrize("name", [corpus_stem(g) for g in VALID])
def test_noop_save_is_byte_identical(name: str) -> None:
    text = (CORPUS / f"{name}.json").read_text(encoding="utf-8")
    doc = parse_tasks(text, Path("tasks.json"))
    assert doc.render() == text
    # A file in JSON.stringify(…, null, 2) form stays in it after a change.
    canonical = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    doc = parse_tasks(canonical, Path("tasks.json"))
    tag = doc.tag_names()[0] if doc.tag_names() else None
    if tag and doc.task_dicts(tag):
        raw = doc.task_dicts(tag)[0]
        raw["status"] = "review" if raw.get("status") != "review" else "pending"
        assert doc.render() == json.dumps(doc.data, indent=2, ensure_ascii=False)


def _ops() -> list[Any]:
    cases = []
    for g in VALID:
        for op in g["set_status"]:
            if op["exit"] == 0:
                cases.append(pytest.param(g, op, id=f"{g['file']}:{op['id']}={op['status']}"))
    return cases


@pytest.mark.parametrize(("golden", "op"), _ops())
def test_set_status_diff_is_only_status_lines(
    tmp_path: Path, golden: dict[str, Any], op: dict[str, Any]
) -> None:
    path = copy_corpus(corpus_stem(golden), tmp_path)
    before = path.read_text(encoding="utf-8").splitlines()
    store = TaskStore(find_project(tmp_path))
    changes = set_status(store, [op["id"]], op["status"])
    after = path.read_text(encoding="utf-8").splitlines()
    changed = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    # A member added at the end of an object puts a comma on the line before it.
    removed = {line[1:].rstrip(",") for line in changed if line[0] == "-"}
    added = {line[1:].rstrip(",") for line in changed if line[0] == "+"}
    changed = [line for line in changed if line[1:].rstrip(",") not in removed & added]
    real = [c for c in changes if c.changed]
    assert len(changed) <= 2 * (len(real) + 2)  # a status (+ parent) and updatedAt lines
    for line in changed:
        assert STATUS_LINE.match(line[1:]), line
    assert bool(changed) == bool(real)
    tail = path.read_bytes()[-1:]
    assert tail == (CORPUS / f"{corpus_stem(golden)}.json").read_bytes()[-1:]


def test_note_is_one_changed_line(tmp_path: Path) -> None:
    path = copy_corpus("016", tmp_path)
    before = path.read_text(encoding="utf-8").splitlines()
    append_note(TaskStore(find_project(tmp_path)), "7.1", "note\nwith two lines")
    after = path.read_text(encoding="utf-8").splitlines()
    changed = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert len(changed) == 2 and '"details": ' in changed[1]
    assert "note\\nwith two lines\\n</info added on " in changed[1]
