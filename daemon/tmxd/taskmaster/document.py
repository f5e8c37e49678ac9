"""A Task Master ``tasks.json`` held in memory: every layout, read views, minimal-diff render.

Layouts met in real files (see ``docs/compatibility.md``):

* tagged — ``{"master": {"tasks": [...], "metadata": {...}}, "feature": {...}}``, possibly next
  to keys that are not tags (``"version"``, a ``"tags"`` wrapper without tasks);
* the ``{"master": [...]}`` dialect — a tag whose value is the task list itself;
* untagged — ``{"tasks": [...], "metadata": {...}}`` plus any other keys: one tag, ``master``;
* a bare list ``[...]``: one tag, ``master``.

Ids are compared as strings, the way JavaScript's ``String(id)`` writes them. A subtask is
addressed as ``"<task>.<subtask>"`` unless its stored id already starts with ``"<task>."``.
The raw JSON (``TasksFile.data``) is what operations change; :meth:`TasksFile.render` then
splices only the changed values into the original text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tmxd.errors import InputError

DEFAULT_TAG = "master"
_BOM = "\ufeff"


def js_string(value: Any) -> str:
    """``String(value)`` as JavaScript writes it (ids and dependencies)."""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    if isinstance(value, list):
        return ",".join("" if v is None else js_string(v) for v in value)
    return "[object Object]"


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value)
    if value is None:
        return ""
    return js_string(value)


def subtask_full_id(parent_id: str, raw_id: Any) -> str:
    """``"5.2"`` for subtask 2 of task 5; an id stored as ``"5.2"`` (or ``5.2``) is kept."""
    local = js_string(raw_id)
    return local if local.startswith(parent_id + ".") else f"{parent_id}.{local}"


def subtask_dep_id(parent_id: str, dep: Any) -> str:
    """A subtask dependency as a full id: dotted strings as they are, anything else a sibling."""
    if isinstance(dep, str) and "." in dep:
        return dep
    return f"{parent_id}.{js_string(dep)}"


def raw_status(raw: dict[str, Any]) -> str:
    """The stored status, ``pending`` when missing or not a string (as Task Master reads it)."""
    status = raw.get("status")
    return status if isinstance(status, str) and status else "pending"


def raw_subtasks(raw: dict[str, Any]) -> list[dict[str, Any]]:
    subs = raw.get("subtasks")
    if not isinstance(subs, list):
        return []
    return [s for s in subs if isinstance(s, dict)]


def raw_dependencies(raw: dict[str, Any]) -> list[Any]:
    deps = raw.get("dependencies")
    return deps if isinstance(deps, list) else []


@dataclass(frozen=True, slots=True)
class Task:
    """A read view of one task or subtask.

    ``id`` is the full id (``"5"`` or ``"5.2"``); ``dependencies`` are full ids (a subtask's
    bare ``2`` becomes ``"5.2"``). ``status`` is ``pending`` when the file has none.
    ``priority`` falls back like ``task-master next`` does: a subtask without one takes its
    parent's, then ``medium``. ``raw`` is the stored JSON object itself.
    """

    id: str
    title: str
    status: str
    dependencies: list[str]
    priority: str
    details: str
    description: str
    test_strategy: str
    parent_id: str | None
    subtasks: list[Task]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def is_subtask(self) -> bool:
        return self.parent_id is not None

    @property
    def local_id(self) -> str:
        """The subtask's own id (``"2"`` of ``"5.2"``); the task id for a top-level task."""
        return js_string(self.raw.get("id")) if self.parent_id is not None else self.id


def _priority(raw: dict[str, Any]) -> str | None:
    value = raw.get("priority")
    return value if isinstance(value, str) and value else None


def build_task(raw: dict[str, Any]) -> Task:
    """The read view of a top-level task and its subtasks."""
    task_id = js_string(raw.get("id"))
    priority = _priority(raw) or "medium"
    subtasks = [build_subtask(sub, task_id, priority) for sub in raw_subtasks(raw)]
    return Task(
        id=task_id,
        title=_text(raw.get("title")),
        status=raw_status(raw),
        dependencies=[js_string(d) for d in raw_dependencies(raw)],
        priority=priority,
        details=_text(raw.get("details")),
        description=_text(raw.get("description")),
        test_strategy=_text(raw.get("testStrategy")),
        parent_id=None,
        subtasks=subtasks,
        raw=raw,
    )


def build_subtask(raw: dict[str, Any], parent_id: str, parent_priority: str) -> Task:
    return Task(
        id=subtask_full_id(parent_id, raw.get("id")),
        title=_text(raw.get("title")),
        status=raw_status(raw),
        dependencies=[subtask_dep_id(parent_id, d) for d in raw_dependencies(raw)],
        priority=_priority(raw) or parent_priority,
        details=_text(raw.get("details")),
        description=_text(raw.get("description")),
        test_strategy=_text(raw.get("testStrategy")),
        parent_id=parent_id,
        subtasks=[],
        raw=raw,
    )


def _is_task_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


_TM_STATUSES = frozenset(
    {"pending", "in-progress", "done", "deferred", "cancelled", "blocked", "review"}
)


def _looks_like_task_master(tasks: list[Any]) -> bool:
    """Task Master tasks carry ``dependencies``/``subtasks`` or one of its statuses.

    Other tools' ``tasks/tasks.json`` files (``depends_on``, ``todo``, ``in_progress``) do not.
    """
    if not tasks:
        return True
    return any(
        isinstance(t, dict)
        and (
            "dependencies" in t
            or "subtasks" in t
            or (isinstance(t.get("status"), str) and t["status"] in _TM_STATUSES)
        )
        for t in tasks
    )


class TasksFile:
    """A parsed ``tasks.json``: tag lookup, read views, and a minimal-diff :meth:`render`."""

    def __init__(self, text: str, data: Any, path: Path) -> None:
        self.path = path
        self.text = text
        self.data = data
        self._views: dict[str, list[Task]] = {}
        self._tags: list[str] = []
        self._list_tags = False
        if isinstance(data, list):
            self.layout = "list"
            self._tags = [DEFAULT_TAG]
        elif isinstance(data, dict):
            self._tags = [
                k
                for k, v in data.items()
                if isinstance(v, dict) and isinstance(v.get("tasks"), list)
            ]
            if self._tags:
                self.layout = "tagged"
            elif isinstance(data.get("tasks"), list):
                self.layout = "untagged"
                self._tags = [DEFAULT_TAG]
            else:
                # The ``{"master": [...]}`` dialect: a tag whose value is the task list.
                self._tags = [k for k, v in data.items() if v and _is_task_list(v)]
                self._list_tags = bool(self._tags)
                self.layout = "tagged" if self._tags else ("empty" if not data else "")
        else:
            self.layout = ""
        if not self.layout:
            raise InputError(
                f"{display_path(path)}: not a Task Master tasks file "
                "(no tag with a task list and no top-level 'tasks' list); "
                "point -p/--project at a Task Master project"
            )
        for tag in self._tags:
            if not _looks_like_task_master(self.task_dicts(tag)):
                raise InputError(
                    f"{display_path(path)}: not a Task Master tasks file (its tasks have no "
                    "'dependencies' or 'subtasks'); it looks like another tool's format"
                )

    def tag_names(self) -> list[str]:
        """Tags in file order; an untagged file or a bare list is the one tag ``master``."""
        return list(self._tags)

    def has_tag(self, tag: str) -> bool:
        return tag in self._tags

    def task_dicts(self, tag: str) -> list[dict[str, Any]]:
        """The stored task objects of ``tag`` (the live list; ``[]`` for an unknown tag)."""
        container: Any
        if self.layout == "list":
            container = self.data if tag == DEFAULT_TAG else []
        elif self.layout == "untagged":
            container = self.data["tasks"] if tag == DEFAULT_TAG else []
        elif self.layout == "tagged" and tag in self._tags:
            value = self.data[tag]
            container = value if isinstance(value, list) else value["tasks"]
        else:
            container = []
        return [t for t in container if isinstance(t, dict)]

    def tasks(self, tag: str) -> list[Task]:
        """Read views of the tag's top-level tasks (with their subtasks)."""
        views = self._views.get(tag)
        if views is None:
            views = [build_task(raw) for raw in self.task_dicts(tag)]
            self._views[tag] = views
        return views

    def iter_all(self, tag: str) -> Iterator[Task]:
        """Every task and subtask of ``tag``, each task followed by its subtasks."""
        for task in self.tasks(tag):
            yield task
            yield from task.subtasks

    def locate(self, task_id: str, tag: str) -> tuple[dict[str, Any] | None, dict[str, Any]] | None:
        """``(parent, object)`` stored for ``task_id`` (parent ``None`` for a task), or None.

        Top-level ids win over subtask ids; among equals the first one wins, as in the CLI.
        """
        wanted = str(task_id).strip()
        tasks = self.task_dicts(tag)
        for raw in tasks:
            if js_string(raw.get("id")) == wanted:
                return None, raw
        for raw in tasks:
            tid = js_string(raw.get("id"))
            if wanted.startswith(tid + "."):
                for sub in raw_subtasks(raw):
                    if subtask_full_id(tid, sub.get("id")) == wanted:
                        return raw, sub
        return None

    def find(self, task_id: str, tag: str) -> Task | None:
        """The task or subtask whose full id is ``task_id`` (compared as strings)."""
        found = self.locate(task_id, tag)
        if found is None:
            return None
        parent, raw = found
        if parent is None:
            return build_task(raw)
        return build_subtask(raw, js_string(parent.get("id")), _priority(parent) or "medium")

    def status_map(self, tag: str) -> dict[str, str]:
        """Flat ``{"5": status, "5.2": status}`` for the tag (first occurrence of an id wins)."""
        out: dict[str, str] = {}
        for raw in self.task_dicts(tag):
            tid = js_string(raw.get("id"))
            out.setdefault(tid, raw_status(raw))
            for sub in raw_subtasks(raw):
                out.setdefault(subtask_full_id(tid, sub.get("id")), raw_status(sub))
        return out

    def invalidate(self) -> None:
        """Forget cached read views after changing :attr:`data`."""
        self._views.clear()

    def render(self) -> str:
        """The file's text with the changes made to :attr:`data`, everything else kept."""
        from tmxd.taskmaster import jsonedit  # only writes need it; reads start faster

        body = self.text[1:] if self.text.startswith(_BOM) else self.text
        original = json.loads(body)
        edits = jsonedit.diff(original, self.data)
        return jsonedit.apply(self.text, edits)


def display_path(path: Path) -> str:
    """``path`` relative to the current directory when it is below it (and that is not
    ``/``, where a daemon runs: a full path then)."""
    try:
        try:
            full = path.resolve()
        except RuntimeError:  # a symlink loop (Python 3.11): name the link itself
            full = path.parent.resolve() / path.name
        here = Path.cwd().resolve()
        if here == Path(here.anchor):
            return str(full)
        return str(full.relative_to(here))
    except (ValueError, OSError, RuntimeError):
        return str(path)


def _json_error(path: Path, text: str, exc: json.JSONDecodeError) -> InputError:
    if not text.strip():
        # no line or column: where the parser gave up (after a lone newline) is no place
        # to fix anything
        return InputError(
            f"{display_path(path)}: the file is empty; restore it (from git or a backup), "
            "or delete it and create tasks with Task Master "
            "(`task-master parse-prd` or `task-master add-task`)"
        )
    reason = exc.msg
    if text[exc.pos : exc.pos + 2] in ("//", "/*"):
        reason = "comments are not allowed in JSON"
    elif reason == "Expecting value" and text[exc.pos : exc.pos + 1] in ("]", "}"):
        reason = "trailing comma"
    return InputError(
        f"{display_path(path)}: line {exc.lineno} column {exc.colno}: {reason}; "
        "fix the JSON and retry"
    )


class _NotJson(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: Python's json reads them, JSON has no such
    values, and Task Master's ``JSON.parse`` rejects the file."""


def _no_constant(name: str) -> Any:
    raise _NotJson(name)


# the first NaN/Infinity outside a string (json.loads accepted everything else)
_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')


def _constant_error(path: Path, text: str, name: str) -> InputError:
    pos = next((m.start(1) for m in _CONSTANT.finditer(text) if m.group(1)), 0)
    line = text.count("\n", 0, pos) + 1
    column = pos - text.rfind("\n", 0, pos)
    return InputError(
        f"{display_path(path)}: line {line} column {column}: {name} is not valid JSON "
        "(Task Master rejects it too; the file was not changed: write a number or null "
        "there and retry)"
    )


def loads_strict(text: str) -> Any:
    """``json.loads`` that refuses ``NaN`` and ``Infinity`` as ``JSON.parse`` does
    (:class:`ValueError`)."""
    return json.loads(text, parse_constant=_no_constant)


def parse_tasks(text: str, path: Path) -> TasksFile:
    """Parse ``tasks.json`` text; invalid JSON or another tool's file is an :class:`InputError`."""
    body = text[1:] if text.startswith(_BOM) else text
    try:
        data = loads_strict(body)
    except json.JSONDecodeError as exc:
        raise _json_error(path, body, exc) from None
    except _NotJson as exc:
        raise _constant_error(path, body, str(exc)) from None
    except RecursionError:
        raise InputError(f"{display_path(path)}: JSON nested too deeply") from None
    return TasksFile(text, data, path)


def decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{display_path(path)}: not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
