"""Three-way merge of Task Master ``tasks.json`` documents, by tag, id and field.

Git merges text; two branches that set two different subtasks to ``done`` and each append a
task leave conflict markers in a JSON file no reader accepts. This module merges the
documents instead. It is pure: it reads three parsed files (the common ancestor, "ours" and
"theirs") and returns the *edits* that turn "ours" into the merged document, plus the
conflicts it could not decide. Applying edits to ours' text (not re-serialising the merged
document) keeps ours' format, so the merge commit's diff is only what really changed.

The rules, per task and subtask field (``docs/merge.md`` has them as a table):

* changed on one side only → that side; the same change on both sides → one change;
* ``details``: notes (``<info added on …>`` blocks) appended on both sides → both, in time
  order, each once; notes appended on one side, text edited on the other → the edited text
  followed by the notes;
* ``status`` changed on both sides → the one further along
  (done > review > in-progress > pending); any other pair (``cancelled``, ``deferred``,
  ``blocked``…) is a conflict;
* ``dependencies`` changed on both sides → ours, minus what theirs removed, plus what theirs
  added;
* last-change stamps (``updatedAt``, tag ``metadata.updated``…) changed on both sides → the
  later one;
* objects changed on both sides merge member by member, so only a leaf can conflict;
* tasks (or subtasks) added on both sides with the same id and different content: theirs'
  is renumbered to the next free id, the dependencies theirs added on it follow, and a note
  in its details says so;
* a deletion against an edit, or any other value changed differently on both sides: a
  conflict — ours is kept, and the conflict is reported.

Ids are compared as strings (``1``, ``"1"`` and ``1.0`` are one task) and written back with
the type each side stored.
"""

from __future__ import annotations

import copy
import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tmxd.taskmaster import jsonedit
from tmxd.taskmaster.document import TasksFile, js_string, subtask_full_id
from tmxd.taskmaster.jsonedit import Append, Insert, Remove, Replace
from tmxd.taskmaster.ops import note_block, with_note

Path_ = jsonedit.Path_


class _Missing(enum.Enum):
    MISSING = "(deleted)"


#: A value one side does not have (deleted, or never added).
MISSING = _Missing.MISSING

#: Statuses ordered by progress: when both sides change a status, the higher one wins.
PROGRESS: dict[str, int] = {"pending": 0, "in-progress": 1, "review": 2, "done": 3}

#: Members that stamp the last change: when both sides change one, the later one wins.
STAMPS = frozenset({"updatedAt", "updated", "lastModified", "lastUpdated"})

#: Fields of a task or subtask with their own rule.
_SUBTASKS, _STATUS, _DETAILS, _DEPENDENCIES = "subtasks", "status", "details", "dependencies"

#: Fields holding ids: a change of type only (``5`` → ``"5"``, as Task Master's CLI writes
#: them) is no change, so each side's id types stay as they are.
_ID_FIELDS = frozenset({"id", _DEPENDENCIES, "parentTaskId", "parentId"})


# The edits are the JSON editor's (:mod:`tmxd.taskmaster.jsonedit`); every path names a
# place in ours' document as it was before any edit.
Edit = jsonedit.Edit


@dataclass(frozen=True)
class Conflict:
    """A value both sides changed in ways no rule decides; the merge kept ours.

    ``tag`` is ``None`` for top-level members outside any tag; ``task_id`` is the full id
    (``"5"``, ``"5.2"``) or ``None`` outside tasks. ``field`` names the member relative to
    the task, or to the tag (dotted for nested members); ``()`` is the whole task (or tag).
    ``ours``/``theirs`` are the two values, :data:`MISSING` for a deletion.
    """

    tag: str | None
    task_id: str | None
    field: tuple[str, ...]
    ours: Any
    theirs: Any

    @property
    def field_name(self) -> str:
        if self.field:
            return ".".join(self.field)
        return "task" if self.task_id is not None else "tag"


@dataclass(frozen=True)
class Renumbered:
    """Theirs' task or subtask ``old_id`` now has ``new_id`` (both full ids)."""

    tag: str
    old_id: str
    new_id: str


@dataclass
class MergeResult:
    edits: list[Edit] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    renumbered: list[Renumbered] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.conflicts


def merge(
    base: TasksFile | None, ours: TasksFile, theirs: TasksFile, *, now: datetime
) -> MergeResult:
    """The edits that bring theirs' changes (since ``base``) into ``ours``, and the conflicts.

    ``base`` is ``None`` when the two sides have no common ancestor (both added the file).
    ``now`` stamps the notes on renumbered tasks.
    """
    merger = _Merger(now)
    merger.documents(base, ours, theirs)
    return merger.result


# -- where a value is, for conflicts -------------------------------------------------------


@dataclass(frozen=True)
class _Where:
    tag: str | None
    task_id: str | None = None
    field: tuple[str, ...] = ()

    def child(self, key: str | int) -> _Where:
        return _Where(self.tag, self.task_id, (*self.field, str(key)))

    def task_field(self) -> str | None:
        """The member name when this is a direct member of a task or subtask."""
        if self.task_id is not None and len(self.field) == 1:
            return self.field[0]
        return None


@dataclass(frozen=True)
class TagView:
    """Where one tag's tasks live in one document."""

    container: Any  # the tag's object ({"tasks": [...], ...}) or the task list itself
    container_path: Path_
    tasks: list[Any]
    tasks_path: Path_

    @property
    def layout(self) -> tuple[bool, bool]:
        """How the file holds the tag: at the top or under its name; an object or a list."""
        return (not self.container_path, self.tasks_path == self.container_path)


def tag_views(doc: TasksFile | None) -> dict[str, TagView]:
    """Each tag of ``doc`` with its container, its task list and their paths."""
    if doc is None:
        return {}
    data = doc.data
    views: dict[str, TagView] = {}
    for tag in doc.tag_names():
        if doc.layout == "list":
            views[tag] = TagView(data, (), data, ())
        elif doc.layout == "untagged":
            views[tag] = TagView(data, (), data["tasks"], ("tasks",))
        elif isinstance(data[tag], list):
            views[tag] = TagView(data[tag], (tag,), data[tag], (tag,))
        else:
            views[tag] = TagView(data[tag], (tag,), data[tag]["tasks"], (tag, "tasks"))
    return views


def _same(a: Any, b: Any) -> bool:
    if a is MISSING or b is MISSING:
        return a is b
    return jsonedit.same(a, b)


def _same_ids(a: Any, b: Any) -> bool:
    """Equal as Task Master compares ids: as strings (lists item by item)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same_ids, a, b))
    if a is MISSING or b is MISSING or isinstance(a, list | dict) or isinstance(b, list | dict):
        return _same(a, b)
    return js_string(a) == js_string(b)


def _get(obj: Any, key: str) -> Any:
    return obj.get(key, MISSING) if isinstance(obj, dict) else MISSING


class _Merger:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.result = MergeResult()

    def edit(self, edit: Edit) -> None:
        self.result.edits.append(edit)

    def conflict(self, where: _Where, ours: Any, theirs: Any) -> None:
        self.result.conflicts.append(Conflict(where.tag, where.task_id, where.field, ours, theirs))

    # -- documents and tags ----------------------------------------------------------------

    def documents(self, base: TasksFile | None, ours: TasksFile, theirs: TasksFile) -> None:
        b_tags, o_tags, t_tags = tag_views(base), tag_views(ours), tag_views(theirs)
        all_tags = set(b_tags) | set(o_tags) | set(t_tags)
        if ours.layout == theirs.layout == "tagged":
            b_top = base.data if base is not None and base.layout == "tagged" else {}
            keys = [k for k in (*ours.data, *theirs.data) if k not in all_tags]
            self.members_of(b_top, ours.data, theirs.data, (), _Where(None), dict.fromkeys(keys))
        for tag in [*o_tags, *(t for t in t_tags if t not in o_tags)]:
            b, o, t = b_tags.get(tag), o_tags.get(tag), t_tags.get(tag)
            if o is not None and t is not None:
                self.tag(tag, b, o, t)
            elif o is not None and b is not None:
                # Theirs deleted the tag; an untagged file cannot lose its only one.
                if _same(b.container, o.container) and o.container_path:
                    self.edit(Remove(o.container_path))
                else:
                    self.conflict(_Where(tag), o.container, MISSING)
            elif t is not None and b is None:
                # Theirs added the tag: ours can take it only if it is a tagged file.
                if ours.layout in ("tagged", "empty"):
                    self.edit(Insert((), tag, t.container))
                else:
                    self.conflict(_Where(tag), MISSING, t.container)
            elif t is not None and b is not None and not _same(b.container, t.container):
                self.conflict(_Where(tag), MISSING, t.container)  # ours deleted, theirs edited

    def tag(self, tag: str, b: TagView | None, o: TagView, t: TagView) -> None:
        where = _Where(tag)
        b_tasks = b.tasks if b is not None else []
        # The tag's own members (metadata, an untagged file's other keys) are merged only when
        # every side holds the tag the same way: a side that migrated the file's layout (Task
        # Master rewrites {"tasks": [...], "project": ...} as {"master": {"tasks", "metadata"}})
        # did not delete or add those members, it changed the format, and ours' is kept.
        if isinstance(o.container, dict) and all(
            v.layout == o.layout for v in (b, o, t) if v is not None
        ):
            b_container = b.container if b is not None else {}
            keys = dict.fromkeys(k for k in (*o.container, *t.container) if k != "tasks")
            self.members_of(b_container, o.container, t.container, o.container_path, where, keys)
        theirs = _Renumbering(tag, b_tasks, o.tasks, t.tasks, self.now).run()
        self.result.renumbered.extend(theirs.renumbered)
        self.items(b_tasks, o.tasks, theirs.tasks, o.tasks_path, where, parent=None)

    # -- keyed lists of tasks / subtasks ---------------------------------------------------

    def items(
        self,
        base: list[Any],
        ours: list[Any],
        theirs: list[Any],
        path: Path_,
        where: _Where,
        parent: str | None,
    ) -> None:
        """Merge two lists of tasks (``parent`` None) or subtasks, matching items by id."""
        b_keyed = dict(_keyed(base, parent))
        t_keyed = dict(_keyed(theirs, parent))
        seen: set[tuple[str, int]] = set()
        renumbered = {r.new_id for r in self.result.renumbered if r.tag == where.tag}
        for index, key in _keyed_indices(ours, parent):
            seen.add(key)
            item_where = _Where(where.tag, key[0])
            o = ours[index]
            self.value(
                b_keyed.get(key, MISSING), o, t_keyed.get(key, MISSING), (*path, index), item_where
            )
        # Theirs' additions in theirs' order, the renumbered ones (the highest ids) last.
        for key, t in sorted(t_keyed.items(), key=lambda kv: kv[0][0] in renumbered):
            if key in seen:
                continue
            b = b_keyed.get(key, MISSING)
            if b is MISSING:
                self.edit(Append(path, t))
            elif not _same(b, t):
                self.conflict(_Where(where.tag, key[0]), MISSING, t)  # ours deleted it

    # -- values ----------------------------------------------------------------------------

    def value(self, b: Any, o: Any, t: Any, path: Path_, where: _Where) -> None:
        """Merge one value; ``o`` sits at ``path`` in ours (or would, when MISSING)."""
        same = _same_ids if where.task_field() in _ID_FIELDS else _same
        if same(o, t) or same(b, t):
            return
        if same(b, o):
            self.take(o, t, path, where)
        else:
            self.both(b, o, t, path, where)

    def take(self, o: Any, t: Any, path: Path_, where: _Where) -> None:
        """Only theirs changed: bring its change in, as finely as the structure allows."""
        if t is MISSING:
            self.edit(Remove(path))
        elif o is MISSING:
            key = path[-1]
            assert isinstance(key, str)
            self.edit(Insert(path[:-1], key, t))
        elif isinstance(o, dict) and isinstance(t, dict):
            self.members_of(o, o, t, path, where, dict.fromkeys([*o, *t]))
        elif where.task_field() == _SUBTASKS and isinstance(o, list) and isinstance(t, list):
            self.items(o, o, t, path, where, parent=where.task_id)
        else:
            self.edit(Replace(path, t))

    def both(self, b: Any, o: Any, t: Any, path: Path_, where: _Where) -> None:
        """Both sides changed ``b``, differently."""
        if o is MISSING or t is MISSING:
            self.conflict(where, o, t)
            return
        name = where.task_field()
        merged: Any = MISSING
        if name == _SUBTASKS and isinstance(o, list) and isinstance(t, list):
            self.items(b if isinstance(b, list) else [], o, t, path, where, where.task_id)
            return
        if name == _STATUS:
            merged = merge_status(o, t)
        elif name == _DETAILS:
            merged = merge_notes(b, o, t)
        elif name == _DEPENDENCIES:
            merged = merge_set(b, o, t)
        elif where.field and where.field[-1] in STAMPS:
            merged = later(o, t)
        elif isinstance(o, dict) and isinstance(t, dict):
            b_obj = b if isinstance(b, dict) else {}
            self.members_of(b_obj, o, t, path, where, dict.fromkeys([*o, *t]))
            return
        if merged is MISSING:
            self.conflict(where, o, t)
        elif not _same(merged, o):
            self.edit(Replace(path, merged))

    def members_of(
        self,
        b: dict[str, Any],
        o: dict[str, Any],
        t: dict[str, Any],
        path: Path_,
        where: _Where,
        keys: dict[str, None],
    ) -> None:
        """Merge the members ``keys`` of three objects (ours' order first)."""
        for key in keys:
            self.value(_get(b, key), _get(o, key), _get(t, key), (*path, key), where.child(key))


# -- identities -----------------------------------------------------------------------------


def _item_id(item: dict[str, Any], parent: str | None) -> str:
    raw = item.get("id")
    return js_string(raw) if parent is None else subtask_full_id(parent, raw)


def _keyed_indices(items: list[Any], parent: str | None) -> Iterator[tuple[int, tuple[str, int]]]:
    """(index, (full id, occurrence)) of each object in ``items``; duplicates stay apart."""
    counts: dict[str, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        item_id = _item_id(item, parent)
        seen = counts.get(item_id, 0)
        counts[item_id] = seen + 1
        yield index, (item_id, seen)


def _keyed(items: list[Any], parent: str | None) -> Iterator[tuple[tuple[str, int], Any]]:
    for index, key in _keyed_indices(items, parent):
        yield key, items[index]


# -- field rules -----------------------------------------------------------------------------


def merge_status(ours: Any, theirs: Any) -> Any:
    """The status further along, or :data:`MISSING` when the pair is a decision (conflict)."""
    if ours in PROGRESS and theirs in PROGRESS:
        return ours if PROGRESS[ours] >= PROGRESS[theirs] else theirs
    return MISSING


_BLOCK = re.compile(r"\n?(<info added on ([^>\n]+)>\n.*?\n</info added on \2>)", re.S)


def _blocks(text: str) -> list[str] | None:
    """The ``<info added on …>`` blocks ``text`` consists of, or None if it has other text."""
    blocks: list[str] = []
    pos = 0
    while pos < len(text):
        match = _BLOCK.match(text, pos)
        if match is None:
            return None
        blocks.append(match.group(1))
        pos = match.end()
    return blocks


def _stamp(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _in_time_order(notes: list[Any]) -> list[Any]:
    """``notes`` each once, sorted by their block's timestamp when every one has one."""
    unique: list[Any] = []
    for note in notes:
        if not any(_same(note, have) for have in unique):
            unique.append(note)
    stamps = []
    for note in unique:
        match = _BLOCK.fullmatch(note) if isinstance(note, str) else None
        moment = _stamp(match.group(2)) if match else None
        if moment is None:
            return unique
        stamps.append(moment)
    order = sorted(range(len(unique)), key=lambda i: stamps[i])
    return [unique[i] for i in order]


def _appended_notes(base: Any, side: Any) -> list[Any] | None:
    """The notes ``side`` appended to ``base`` when that is all it changed, else None.

    In the string form a note is an ``<info added on …>`` block; in the list form, any item.
    """
    if isinstance(side, str):
        start = base if isinstance(base, str) else "" if base is MISSING or base is None else None
        if start is None or not side.startswith(start):
            return None
        return _blocks(side[len(start) :])
    if isinstance(side, list):
        items = base if isinstance(base, list) else [] if base is MISSING or base is None else None
        if items is None or not _same(side[: len(items)], items):
            return None
        return side[len(items) :]
    return None


def _with_notes(details: Any, notes: list[Any]) -> Any:
    """``details`` with each of ``notes`` it does not hold yet appended, as Task Master does."""
    for note in notes:
        held = (
            any(_same(note, d) for d in details) if isinstance(details, list) else note in details
        )
        if not held:
            details = with_note(details, note)
    return details


def merge_notes(base: Any, ours: Any, theirs: Any) -> Any:
    """``details`` changed on both sides, where at least one side only appended notes.

    Both appended notes: the common text, then every new note in time order, each once.
    One side appended notes, the other edited the text: the edited text, then the notes.
    Works on Task Master's string form (blocks joined by ``\\n``) and on a list of notes.
    :data:`MISSING` when neither side only appended notes (a conflict), unless one side's
    text simply extends the other's.
    """
    if not (isinstance(ours, str) and isinstance(theirs, str)) and not (
        isinstance(ours, list) and isinstance(theirs, list)
    ):
        return MISSING
    ours_new, theirs_new = _appended_notes(base, ours), _appended_notes(base, theirs)
    if ours_new is not None and theirs_new is not None:
        start = base if isinstance(base, type(ours)) else type(ours)()
        return _with_notes(start, _in_time_order(ours_new + theirs_new))
    if theirs_new is not None:
        return _with_notes(ours, _in_time_order(theirs_new))
    if ours_new is not None:
        return _with_notes(theirs, _in_time_order(ours_new))
    if isinstance(ours, str) and isinstance(theirs, str):
        if theirs.startswith(ours):
            return theirs
        if ours.startswith(theirs):
            return ours
    return MISSING


def merge_set(base: Any, ours: Any, theirs: Any) -> Any:
    """A list both sides changed as a set: ours, minus theirs' removals, plus theirs' additions.

    Items are compared as strings (``3`` and ``"3"`` are one dependency).
    """
    if not (isinstance(ours, list) and isinstance(theirs, list)):
        return MISSING
    before = {js_string(x) for x in base} if isinstance(base, list) else set()
    theirs_keys = {js_string(x) for x in theirs}
    removed = before - theirs_keys
    merged = [x for x in ours if js_string(x) not in removed]
    have = {js_string(x) for x in merged}
    for item in theirs:
        key = js_string(item)
        if key not in before and key not in have:
            merged.append(item)
            have.add(key)
    return merged


def later(ours: Any, theirs: Any) -> Any:
    """The later of two ISO timestamps (ours on a tie), :data:`MISSING` if either is not one."""
    a = _stamp(ours) if isinstance(ours, str) else None
    b = _stamp(theirs) if isinstance(theirs, str) else None
    if a is None or b is None:
        return MISSING
    return theirs if b > a else ours


# -- renumbering same-id additions ----------------------------------------------------------


def _number(text: str) -> int | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def _typed_like(old: Any, text: str) -> Any:
    """``text`` (a new id) stored with the type ``old`` had, when that type can say it."""
    if isinstance(old, bool) or not isinstance(old, int | float):
        return text
    candidate: int | float = int(text) if isinstance(old, int) and text.isdigit() else float(text)
    return candidate if js_string(candidate) == text else text


class _Renumbering:
    """Theirs' tasks of one tag, with same-id additions renumbered.

    The list is copied, and each task in it that changes, when anything is renumbered;
    theirs' document itself is never changed.
    """

    def __init__(
        self, tag: str, base: list[Any], ours: list[Any], theirs: list[Any], now: datetime
    ) -> None:
        self.tag = tag
        self.base, self.ours, self.tasks = base, ours, theirs
        self.now = now
        self.renumbered: list[Renumbered] = []
        self.renames: dict[str, str] = {}  # full id → full id
        self._owned: set[int] = set()

    def run(self) -> _Renumbering:
        tasks = self._collisions(self.base, self.ours, self.tasks, None)
        o_keyed, b_keyed = dict(_keyed(self.ours, None)), dict(_keyed(self.base, None))
        subtask_plan: list[tuple[int, dict[str, str]]] = []
        for index, key in _keyed_indices(self.tasks, None):
            o = o_keyed.get(key)
            if key[0] in tasks or not isinstance(o, dict):
                continue
            b_subs, o_subs = _subtask_list(b_keyed.get(key)), _subtask_list(o)
            t_subs = _subtask_list(self.tasks[index])
            if o_subs == b_subs or t_subs == b_subs:
                continue  # one side added no subtask here (a quick test; ``==`` is enough)
            subs = self._collisions(b_subs, o_subs, t_subs, key[0])
            if subs:
                subtask_plan.append((index, subs))
        if not tasks and not subtask_plan:
            return self
        self.tasks = list(self.tasks)
        for index, key in _keyed_indices(self.tasks, None):
            if key[0] in tasks and not key[1]:
                self._renumber_task(self._own(index), tasks[key[0]])
        for index, subs in subtask_plan:
            task = self._own(index)
            parent = js_string(task.get("id"))
            for sub_index, sub_key in _keyed_indices(_subtask_list(task), parent):
                if sub_key[0] in subs and not sub_key[1]:
                    self._renumber_subtask(_subtask_list(task)[sub_index], parent, subs[sub_key[0]])
        self._rewrite_references()
        return self

    def _own(self, index: int) -> dict[str, Any]:
        """Theirs' task at ``index``, copied the first time it is about to change."""
        if index not in self._owned:
            self.tasks[index] = copy.deepcopy(self.tasks[index])
            self._owned.add(index)
        task: dict[str, Any] = self.tasks[index]
        return task

    def _collisions(
        self, base: list[Any], ours: list[Any], theirs: list[Any], parent: str | None
    ) -> dict[str, str]:
        """Full ids of items added on both sides with different content → their new ids."""
        b_ids = {key[0] for key, _ in _keyed(base, parent)}
        o_keyed = dict(_keyed(ours, parent))
        taken = [
            key[0].removeprefix(f"{parent}.") if parent is not None else key[0]
            for items in (base, ours, theirs)
            for key, _ in _keyed(items, parent)
        ]
        numbers = [n for n in map(_number, taken) if n is not None]
        next_free = max(numbers, default=0) + 1
        renames: dict[str, str] = {}
        for key, t in _keyed(theirs, parent):
            o = o_keyed.get(key)
            if key[1] or key[0] in b_ids or o is None or _same(o, t) or key[0] in renames:
                continue
            local = str(next_free)
            next_free += 1
            renames[key[0]] = local if parent is None else f"{parent}.{local}"
        return renames

    def _note(self, item: dict[str, Any], old: str, new: str) -> None:
        block = note_block(
            f"Renumbered from {old} to {new} by tmxd merge-driver: {old} was also added "
            "on the other branch.",
            self.now,
        )
        item["details"] = with_note(item.get("details"), block)
        self.renumbered.append(Renumbered(self.tag, old, new))
        self.renames[old] = new

    def _renumber_task(self, task: dict[str, Any], new: str) -> None:
        old = js_string(task.get("id"))
        task["id"] = _typed_like(task.get("id"), new)
        for sub in _subtask_list(task):
            if not isinstance(sub, dict):
                continue  # a null or a number where a subtask should be: not ours to move
            stored = sub.get("id")
            if js_string(stored).startswith(old + "."):
                sub["id"] = _typed_like(stored, new + js_string(stored)[len(old) :])
            for name in ("parentTaskId", "parentId"):
                if name in sub and js_string(sub[name]) == old:
                    sub[name] = _typed_like(sub[name], new)
        self._note(task, old, new)

    def _renumber_subtask(self, sub: dict[str, Any], parent: str, new: str) -> None:
        old = subtask_full_id(parent, sub.get("id"))
        stored = sub.get("id")
        dotted = js_string(stored).startswith(parent + ".")
        sub["id"] = _typed_like(stored, new if dotted else new[len(parent) + 1 :])
        self._note(sub, old, new)

    def _rewrite_references(self) -> None:
        """Point the dependencies theirs added on a renumbered item at its new id."""
        b_keyed = dict(_keyed(self.base, None))
        for index, key in _keyed_indices(self.tasks, None):
            task, b_task = self.tasks[index], b_keyed.get(key)
            tid = js_string(task.get("id"))
            own = _rewritten_deps(task, b_task, self.renames, sibling_of=None)
            b_subs = dict(_keyed(_subtask_list(b_task), tid))
            subs = [
                (sub_index, deps)
                for sub_index, sub_key in _keyed_indices(_subtask_list(task), tid)
                if (
                    deps := _rewritten_deps(
                        _subtask_list(task)[sub_index],
                        b_subs.get(sub_key),
                        self.renames,
                        sibling_of=tid,
                    )
                )
                is not None
            ]
            if own is None and not subs:
                continue
            task = self._own(index)
            if own is not None:
                task["dependencies"] = own
            for sub_index, deps in subs:
                _subtask_list(task)[sub_index]["dependencies"] = deps


def _subtask_list(task: Any) -> list[Any]:
    subs = task.get("subtasks") if isinstance(task, dict) else None
    return subs if isinstance(subs, list) else []


def _renamed(full: str, renames: dict[str, str]) -> str | None:
    """The new full id of ``full`` when it, or the task it belongs to, was renumbered."""
    if full in renames:
        return renames[full]
    task, dot, rest = full.partition(".")
    return f"{renames[task]}.{rest}" if dot and task in renames else None


def _rewritten_deps(
    item: dict[str, Any], base_item: Any, renames: dict[str, str], sibling_of: str | None
) -> list[Any] | None:
    """``item``'s dependencies with those it gained since ``base_item`` that name a
    renumbered id pointed at the new id; None when there are none to rewrite."""
    deps = item.get("dependencies")
    if not isinstance(deps, list):
        return None
    before_raw = base_item.get("dependencies") if isinstance(base_item, dict) else None
    before = {js_string(d) for d in before_raw} if isinstance(before_raw, list) else set()
    out = list(deps)
    for index, dep in enumerate(deps):
        text = js_string(dep)
        if text in before:
            continue
        # A bare number in a subtask's dependencies names a sibling.
        bare = sibling_of is not None and "." not in text
        new = _renamed(f"{sibling_of}.{text}" if bare else text, renames)
        if new is not None:
            out[index] = _typed_like(dep, new.rsplit(".", 1)[1] if bare else new)
    return out if out != deps else None
