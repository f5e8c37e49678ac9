"""Reading the corpus goldens as they were written (corpus/taskmaster/expected/README.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import CORPUS, EXPECTED
from tmxd.taskmaster.document import js_string


def goldens() -> list[dict[str, Any]]:
    """Every golden file, parsed; empty when the corpus is not beside the checkout."""
    if not EXPECTED.is_dir():
        return []
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(EXPECTED.glob("*.json"))]


def golden_ids() -> list[str]:
    return [g["file"] for g in goldens()]


def corpus_stem(golden: dict[str, Any]) -> str:
    """``"076.invalid.json"`` → ``"076.invalid"``, ``"001.json"`` → ``"001"``."""
    return str(golden["file"])[: -len(".json")]


def golden_lists(data: Any) -> dict[str, list[Any]]:
    """Tags → task lists, with the golden harness's definition of a tag."""
    if isinstance(data, list):
        return {"": data}
    if isinstance(data.get("tasks"), list) and not any(
        isinstance(v, dict) and isinstance(v.get("tasks"), list) for v in data.values()
    ):
        return {"": data["tasks"]}
    out: dict[str, list[Any]] = {}
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(value.get("tasks"), list):
            out[key] = value["tasks"]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            out[key] = value
    return out


def golden_statuses(path: Path, tag: str | None) -> dict[str, Any]:
    """Every task and ``P.S`` subtask status, keyed as the goldens key them (last one wins)."""
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    lists = golden_lists(data)
    tasks = lists.get(tag or "", lists.get("", []))
    out: dict[str, Any] = {}
    for task in tasks:
        if not isinstance(task, dict):
            continue
        tid = js_string(task.get("id"))
        out[tid] = task.get("status")
        for sub in task.get("subtasks") or []:
            if isinstance(sub, dict):
                out[f"{tid}.{js_string(sub.get('id'))}"] = sub.get("status")
    return out


def corpus_file(golden: dict[str, Any]) -> Path:
    return CORPUS / str(golden["file"])


def is_plain_int_id(value: Any) -> bool:
    """Ids the CLI writes back unchanged (others become ``null`` or another number)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and value.isdigit() and str(int(value)) == value


def unstable_keys(path: Path, tag: str | None) -> set[str]:
    """Golden keys of subtasks whose ids the CLI rewrites when it saves the file."""
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    lists = golden_lists(data)
    tasks = lists.get(tag or "", lists.get("", []))
    out: set[str] = set()
    for task in tasks:
        if not isinstance(task, dict):
            continue
        tid = js_string(task.get("id"))
        for sub in task.get("subtasks") or []:
            if isinstance(sub, dict) and not is_plain_int_id(sub.get("id")):
                out.add(f"{tid}.{js_string(sub.get('id'))}")
    return out
