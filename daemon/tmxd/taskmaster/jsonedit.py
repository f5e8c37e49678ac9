"""Format-preserving JSON edits: change values in a JSON text, keep every other byte.

tmxd never re-serialises a file it changes. It finds the bytes of the values an
operation changes and splices new text in their place; keys, order, spacing, escapes,
line endings and the trailing newline of everything else stay as they were. One
editor serves two kinds of file:

- ``tasks.json`` (:meth:`tmxd.taskmaster.document.TasksFile.render`): an operation
  changes the parsed data, :func:`diff` compares old and new into :class:`Replace`
  and :class:`Insert` edits, :func:`apply` splices them in. New containers are
  written the way Task Master's ``JSON.stringify(value, null, indent)`` writes them.
  The merge driver (:mod:`tmxd.taskmaster.merge`) hands :func:`apply` its edits too,
  :class:`Append` and :class:`Remove` among them.
- a user's config file (``.mcp.json``, ``.claude/settings.json``; ``tmxd init``):
  :class:`JsonEditor` makes one change at a time (``ensure``, ``ensure_items``, ...),
  in the file's own style: inline where the file is inline.

Both find a value with :func:`locate` (the last of duplicate keys, as ``json.loads``
takes it; :func:`apply` finds all its edits' places in one pass with :func:`locate_all`)
and add and remove members and items with the same splice, in the file's indent unit,
separators and line endings. Invalid JSON is an :class:`~tmxd.errors.InputError`
naming the file, the line and the column.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from tmxd.errors import InputError

Key = str | int
Path_ = tuple[Key, ...]

_WS = re.compile(r"[ \t\n\r]*")
_INDENT = re.compile(r"\n([ \t]+)\S")
_DECODER = json.JSONDecoder()
_NON_ASCII_ESCAPE = re.compile(r"\\u(?!00[0-7])[0-9a-fA-F]{4}")
_scanstring: Any = json.decoder.scanstring  # type: ignore[attr-defined]


# -- edits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Replace:
    """Put ``value`` where the value at ``path`` is."""

    path: Path_
    value: Any


@dataclass(frozen=True)
class Insert:
    """Add member ``key`` with ``value`` at the end of the object at ``path``."""

    path: Path_
    key: str
    value: Any


@dataclass(frozen=True)
class Append:
    """Add ``value`` at the end of the array at ``path``."""

    path: Path_
    value: Any


@dataclass(frozen=True)
class Remove:
    """Take out the object member or array item at ``path`` (and its separator)."""

    path: Path_


Edit = Replace | Insert | Append | Remove


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values, with ``1``, ``1.0`` and ``true`` kept apart."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        if a == b and _same_scalar_types(a, b):
            return True
        if list(a) != list(b):
            return False
        return all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _same_scalar_types(a: Any, b: Any) -> bool:
    # ``==`` already matched; only int/float/bool confusions can hide behind it.
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_scalar_types(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return all(_same_scalar_types(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b)


def diff(old: Any, new: Any, path: Path_ = ()) -> list[Edit]:
    """The edits that turn ``old`` into ``new``, as small as the structure allows."""
    if type(old) is not type(new):
        return [Replace(path, new)]
    if isinstance(old, dict):
        if old == new and _same_scalar_types(old, new):
            return []
        old_keys = list(old)
        new_keys = list(new)
        if new_keys[: len(old_keys)] != old_keys:
            # A key was removed or the order changed: rewrite this object.
            return [Replace(path, new)]
        edits: list[Edit] = []
        for key in old_keys:
            edits.extend(diff(old[key], new[key], (*path, key)))
        edits.extend(Insert(path, key, new[key]) for key in new_keys[len(old_keys) :])
        return edits
    if isinstance(old, list):
        if len(old) != len(new):
            return [Replace(path, new)]
        edits = []
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            edits.extend(diff(a, b, (*path, index)))
        return edits
    return [] if same(old, new) else [Replace(path, new)]


# -- the file's style -----------------------------------------------------------------


def indent_unit(text: str) -> str:
    """The file's indentation step (two spaces when it cannot be told)."""
    match = _INDENT.search(text)
    if not match:
        return "  "
    ws = match.group(1)
    return "\t" if ws.startswith("\t") else ws


def escapes_non_ascii(text: str) -> bool:
    """True when the file writes non-ASCII characters as ``\\uXXXX`` escapes."""
    return text.isascii() and _NON_ASCII_ESCAPE.search(text) is not None


class Style:
    """How a file writes JSON, read off its text when first needed."""

    def __init__(self, text: str, *, stringify: bool) -> None:
        self.text = text
        # New containers always on several lines, as JSON.stringify(value, null, unit).
        self.stringify = stringify

    @cached_property
    def unit(self) -> str:
        return indent_unit(self.text)

    @cached_property
    def nl(self) -> str:
        return "\r\n" if "\r\n" in self.text else "\n"

    @cached_property
    def ascii_only(self) -> bool:
        return escapes_non_ascii(self.text)

    @cached_property
    def multiline(self) -> bool:
        """The file spans several lines (a trailing newline does not count)."""
        return "\n" in self.text.strip()

    def key(self, name: str) -> str:
        return json.dumps(name, ensure_ascii=self.ascii_only)

    def value(self, value: Any, indent: str, multiline: bool) -> str:
        """``value`` as JSON text placed at ``indent``: spread over lines or inline."""
        if multiline and isinstance(value, dict | list) and value:
            text = json.dumps(value, indent=self.unit, ensure_ascii=self.ascii_only)
            return text.replace("\n", self.nl + indent)
        return json.dumps(value, ensure_ascii=self.ascii_only, separators=(", ", ": "))


# -- finding values -------------------------------------------------------------------


def _skip_ws(text: str, pos: int) -> int:
    match = _WS.match(text, pos)
    assert match is not None
    return match.end()


def _value_end(text: str, pos: int) -> int:
    _value, end = _DECODER.raw_decode(text, pos)
    return int(end)


def _entries(text: str, start: int) -> list[tuple[int, int, int]]:
    """(entry start, value start, value end) of each member of the object, or each item
    of the array, at ``start`` (for an item the entry and its value start together)."""
    close = "}" if text[start] == "{" else "]"
    out: list[tuple[int, int, int]] = []
    pos = _skip_ws(text, start + 1)
    if text[pos] == close:
        return out
    while True:
        entry_start = pos
        if close == "}":
            _key, pos = _scanstring(text, pos + 1)
            pos = _skip_ws(text, pos)
            pos = _skip_ws(text, pos + 1)  # past ':'
        value_end = _value_end(text, pos)
        out.append((entry_start, pos, value_end))
        pos = _skip_ws(text, value_end)
        if text[pos] == close:
            return out
        pos = _skip_ws(text, pos + 1)  # past ','


def locate(text: str, path: Path_) -> tuple[int, int]:
    """Start and end offsets of the value at ``path`` (the last one for duplicate keys)."""
    pos = _skip_ws(text, 1 if text.startswith("\ufeff") else 0)
    for step in path:
        if isinstance(step, str):
            if text[pos] != "{":
                raise KeyError(step)
            found = -1
            for key_start, value_start, _end in _entries(text, pos):
                key, _ = _scanstring(text, key_start + 1)
                if key == step:
                    found = value_start
            if found < 0:
                raise KeyError(step)
            pos = found
        else:
            if text[pos] != "[":
                raise KeyError(step)
            pos = _skip_ws(text, pos + 1)
            for _ in range(step):
                pos = _skip_ws(text, _value_end(text, pos))
                pos = _skip_ws(text, pos + 1)  # past ','
    return pos, _value_end(text, pos)


class _Want:
    """The part of a document :func:`locate_all` has to look into: a trie of paths."""

    __slots__ = ("children", "span")

    def __init__(self) -> None:
        self.children: dict[Key, _Want] = {}
        self.span: tuple[int, int] | None = None


def _forget(want: _Want) -> None:
    want.span = None
    for child in want.children.values():
        _forget(child)


def locate_all(text: str, paths: Sequence[Path_]) -> dict[Path_, tuple[int, int]]:
    """:func:`locate` for many paths in one pass over ``text``.

    Values off every path are skipped at the JSON decoder's speed, so the cost is about one
    parse of the text however many paths there are. A missing path is a ``KeyError``.
    """
    root = _Want()
    for path in paths:
        node = root
        for step in path:
            node = node.children.setdefault(step, _Want())
    _walk(text, _skip_ws(text, 1 if text.startswith("\ufeff") else 0), root)
    found: dict[Path_, tuple[int, int]] = {}
    for path in paths:
        node = root
        for step in path:
            node = node.children[step]
        if node.span is None:
            raise KeyError(path[-1] if path else "")
        found[path] = node.span
    return found


def _walk(text: str, start: int, want: _Want) -> int:
    """Record where ``want`` and its children are in the value at ``start``; return its end.

    A child the value does not have is left without a place (a duplicate key met later
    may still give it one: the last one wins, as in ``json.loads``).
    """
    _forget(want)
    opener = text[start]
    if not want.children or opener not in "{[":
        end = _value_end(text, start)
        want.span = (start, end)
        return end
    close = "}" if opener == "{" else "]"
    pos = _skip_ws(text, start + 1)
    index = 0
    if text[pos] != close:
        while True:
            if opener == "{":
                key: Key
                key, pos = _scanstring(text, pos + 1)
                pos = _skip_ws(text, _skip_ws(text, pos) + 1)  # past ':'
            else:
                key = index
                index += 1
            child = want.children.get(key)
            end = _walk(text, pos, child) if child is not None else _value_end(text, pos)
            pos = _skip_ws(text, end)
            if text[pos] == close:
                break
            pos = _skip_ws(text, pos + 1)  # past ','
    want.span = (start, pos + 1)
    return pos + 1


# -- splicing -------------------------------------------------------------------------


def apply(text: str, edits: Sequence[Edit], *, stringify: bool = True) -> str:
    """Splice ``edits`` into ``text``; paths name places before any edit, edits must not
    overlap.

    ``stringify`` writes every new container on several lines, as Task Master does;
    without it a container goes inline where the file (or its place) is inline.
    """
    if not edits:
        return text
    style = Style(text, stringify=stringify)
    # Additions and removals change a container: group them by it.
    changes: dict[Path_, tuple[list[tuple[str | None, Any]], set[Key]]] = {}
    replaces: list[Replace] = []
    for edit in edits:
        if isinstance(edit, Replace):
            replaces.append(edit)
        elif isinstance(edit, Remove):
            changes.setdefault(edit.path[:-1], ([], set()))[1].add(edit.path[-1])
        else:
            key = edit.key if isinstance(edit, Insert) else None
            changes.setdefault(edit.path, ([], set()))[0].append((key, edit.value))
    spans = locate_all(text, [*(r.path for r in replaces), *changes])
    patches = [_replace_patch(text, *spans[r.path], r.value, style) for r in replaces]
    for path, (added, removed) in changes.items():
        patches += _container_patches(text, *spans[path], added, removed, style)
    patches.sort(key=lambda p: (p[0], p[1]))
    out: list[str] = []
    cursor = 0
    for start, end, replacement in patches:
        if start < cursor:
            raise ValueError("overlapping JSON edits")
        out.append(text[cursor:start])
        out.append(replacement)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


def _line_indent(text: str, pos: int) -> str:
    """The blanks that start the line ``pos`` is on, up to ``pos``."""
    line_start = text.rfind("\n", 0, pos) + 1
    match = re.match(r"[ \t]*", text[line_start:pos])
    return match.group(0) if match else ""


def _replace_patch(
    text: str, start: int, end: int, value: Any, style: Style
) -> tuple[int, int, str]:
    multiline = (
        style.stringify
        or "\n" in text[start:end]
        or (style.multiline and isinstance(value, dict | list) and bool(value))
    )
    return start, end, style.value(value, _line_indent(text, start), multiline)


def _container_patches(
    text: str,
    start: int,
    end: int,
    added: list[tuple[str | None, Any]],
    removed: set[Key],
    style: Style,
) -> list[tuple[int, int, str]]:
    """Remove entries from, and add members (``key`` set) or items (``key`` None) at the end
    of, the container at ``start``..``end``, the way its existing entries are laid out."""
    is_object = text[start] == "{"
    if text[start] not in "{[" or any((key is not None) != is_object for key, _ in added):
        raise ValueError("an edit does not fit the container it goes to")
    present = _entries(text, start)
    if is_object:
        names = [_scanstring(text, entry[0] + 1)[0] for entry in present]
        gone = [i for i, name in enumerate(names) if name in removed]
        missing = removed - set(names)
    else:
        gone = sorted(i for i in removed if isinstance(i, int) and 0 <= i < len(present))
        missing = removed - set(gone)
    if missing:
        raise KeyError(next(iter(missing)))
    colon = _colon(text, present) if is_object else ""

    def entry(key: str | None, value: Any, indent: str, multiline: bool) -> str:
        head = "" if key is None else style.key(key) + colon
        return head + style.value(value, indent, multiline)

    if len(gone) == len(present):
        # Nothing of the old content stays: write the container anew.
        outer = _line_indent(text, start)
        if added and (style.stringify or style.multiline):
            inner = outer + style.unit
            body = ("," + style.nl).join(inner + entry(k, v, inner, True) for k, v in added)
            return [(start, end, f"{text[start]}{style.nl}{body}{style.nl}{outer}{text[end - 1]}")]
        body = ", ".join(entry(k, v, outer, False) for k, v in added)
        return [(start, end, f"{text[start]}{body}{text[end - 1]}")]
    patches = _removal_patches(present, gone)
    if added:
        if len(present) >= 2:
            sep = text[present[-2][2] : present[-1][0]]  # the comma and blanks before the last
        else:
            lead = text[start + 1 : present[0][0]]
            sep = "," + lead if "\n" in lead else ", "
        indent = sep.rsplit("\n", 1)[1] if "\n" in sep else _line_indent(text, start)
        multiline = "\n" in sep
        last_end = present[-1][2]
        patches.append(
            (last_end, last_end, "".join(sep + entry(k, v, indent, multiline) for k, v in added))
        )
    return patches


def _removal_patches(
    present: list[tuple[int, int, int]], gone: list[int]
) -> list[tuple[int, int, str]]:
    """Cut each run of consecutive removed entries with the separator before it (after it,
    for a run at the start), so what stays keeps its layout."""
    patches: list[tuple[int, int, str]] = []
    run_start = 0
    for pos, index in enumerate(gone):
        if pos + 1 < len(gone) and gone[pos + 1] == index + 1:
            continue
        first = gone[run_start]
        if first > 0:
            patches.append((present[first - 1][2], present[index][2], ""))
        else:
            patches.append((present[0][0], present[index + 1][0], ""))
        run_start = pos + 1
    return patches


def _colon(text: str, members: list[tuple[int, int, int]]) -> str:
    """The key/value separator the object already uses (``": "`` by default)."""
    if not members:
        return ": "
    key_start, value_start, _ = members[0]
    _, key_end = _scanstring(text, key_start + 1)
    return text[key_end:value_start]


# -- one change at a time: users' config files ----------------------------------------


def loads(text: str, path: Path) -> Any:
    """``json.loads`` with an error that names the file, line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc


def new_text(value: Any) -> str:
    """The text of a new JSON file: 2-space indent, non-ASCII kept, final newline."""
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


class JsonEditor:
    """Edit a JSON text in place, one minimal change at a time, in the file's own style.

    >>> ed = JsonEditor('{"a": 1}\\n', Path("x.json"))
    >>> ed.ensure(("b",), [1, 2])
    True
    >>> ed.text
    '{"a": 1, "b": [1, 2]}\\n'
    """

    def __init__(self, text: str, path: Path) -> None:
        self.path = path
        self.text = text
        try:
            self.data: Any = loads(text, path)
        except InputError as exc:
            raise InputError(
                f"{exc.message}; fix the JSON by hand (tmxd left the file untouched)"
            ) from exc

    # -- queries -----------------------------------------------------------

    def get(self, keys: Sequence[Key]) -> Any:
        """The value at ``keys``, or ``None`` when any part is missing."""
        value = self.data
        for key in keys:
            if not _has(value, key):
                return None
            value = value[key]
        return value

    # -- edits -------------------------------------------------------------

    def ensure(self, keys: Sequence[Key], value: Any) -> bool:
        """Make the value at ``keys`` equal ``value``; objects are merged key by key.

        Keys of an existing object that ``value`` does not mention are kept.
        Returns whether the text changed.
        """
        current = self.get(keys)
        if isinstance(value, dict) and isinstance(current, dict):
            changed = False
            for name, item in value.items():
                changed = self.ensure((*keys, name), item) or changed
            return changed
        if same(current, value) and self._exists(keys):
            return False
        self.set(keys, value)
        return True

    def ensure_default(self, keys: Sequence[Key], value: Any) -> bool:
        """Set ``keys`` to ``value`` only when nothing is there yet."""
        if self._exists(keys):
            return False
        self.set(keys, value)
        return True

    def ensure_items(self, keys: Sequence[Key], items: Sequence[Any]) -> bool:
        """Append each of ``items`` missing from the array at ``keys`` (created if absent)."""
        current = self.get(keys)
        if current is None and not self._exists(keys):
            self.set(keys, list(items))
            return True
        if not isinstance(current, list):
            raise self._shape_error(keys, "an array")
        changed = False
        for item in items:
            if not any(same(item, have) for have in self.get(keys)):
                self.append(keys, item)
                changed = True
        return changed

    def set(self, keys: Sequence[Key], value: Any) -> None:
        """Replace the value at ``keys``, or add it (creating parent objects)."""
        depth = self._depth(keys)
        if depth == len(keys):
            self._apply(Replace(tuple(keys), value))
            return
        if not isinstance(self.get(keys[:depth]), dict) or not isinstance(keys[depth], str):
            raise self._shape_error(keys[:depth], "an object")
        nested: Any = value
        for key in reversed(keys[depth + 1 :]):
            if not isinstance(key, str):
                raise self._shape_error(keys, "an object")
            nested = {key: nested}
        self._apply(Insert(tuple(keys[:depth]), str(keys[depth]), nested))

    def append(self, keys: Sequence[Key], value: Any) -> None:
        """Append ``value`` to the array at ``keys``."""
        if self._depth(keys) != len(keys) or not isinstance(self.get(keys), list):
            raise self._shape_error(keys, "an array")
        self._apply(Append(tuple(keys), value))

    # -- internals ---------------------------------------------------------

    def _apply(self, edit: Edit) -> None:
        self.text = apply(self.text, [edit], stringify=False)
        self.data = json.loads(self.text)

    def _exists(self, keys: Sequence[Key]) -> bool:
        return self._depth(keys) == len(keys)

    def _depth(self, keys: Sequence[Key]) -> int:
        """How many of ``keys`` lead to a value that is there."""
        value = self.data
        for depth, key in enumerate(keys):
            if not _has(value, key):
                return depth
            value = value[key]
        return len(keys)

    def _shape_error(self, keys: Sequence[Key], expected: str) -> InputError:
        where = ".".join(str(k) for k in keys) or "the top level"
        return InputError(
            f"{self.path}: {where} is not {expected}; fix it by hand (tmxd left the file untouched)"
        )


def _has(container: Any, key: Key) -> bool:
    if isinstance(container, dict):
        return isinstance(key, str) and key in container
    return isinstance(container, list) and isinstance(key, int) and 0 <= key < len(container)
