"""Minimal-diff JSON editing: change values in a JSON text without reformatting the rest.

Task Master writes ``JSON.stringify(data, null, 2)``; people and other tools write
other layouts (inline arrays, escaped non-ASCII, a trailing newline). tmxd must
change only what an operation changes, so instead of re-serialising a whole file
it compares the old and the new document and splices the changed values into
the original text. Every byte outside the changed values stays as it was.

New values are written the way ``JSON.stringify(value, null, indent)`` writes
them, indented to where they land, with the file's own indent unit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

Path_ = tuple[str | int, ...]

_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()
_NON_ASCII_ESCAPE = re.compile(r"\\u(?!00[0-7])[0-9a-fA-F]{4}")
_scanstring: Any = json.decoder.scanstring  # type: ignore[attr-defined]


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


Edit = Replace | Insert


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


def indent_unit(text: str) -> str:
    """The file's indentation step (two spaces when it cannot be told)."""
    match = re.search(r"\n([ \t]+)\S", text)
    if not match:
        return "  "
    ws = match.group(1)
    return "\t" if ws.startswith("\t") else ws


def escapes_non_ascii(text: str) -> bool:
    """True when the file writes non-ASCII characters as ``\\uXXXX`` escapes."""
    return text.isascii() and _NON_ASCII_ESCAPE.search(text) is not None


def dumps(value: Any, *, indent: str, base: str, ascii_only: bool = False) -> str:
    """``JSON.stringify(value, null, indent)``, continued lines prefixed with ``base``."""
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    return text.replace("\n", "\n" + base) if base else text


def apply(text: str, edits: list[Edit]) -> str:
    """Splice ``edits`` into ``text``; edits must not overlap."""
    if not edits:
        return text
    unit = indent_unit(text)
    ascii_only = escapes_non_ascii(text)
    patches: list[tuple[int, int, str]] = []
    inserts: dict[Path_, list[tuple[str, Any]]] = {}
    for edit in edits:
        if isinstance(edit, Insert):
            inserts.setdefault(edit.path, []).append((edit.key, edit.value))
            continue
        start, end = locate(text, edit.path)
        base = _line_indent(text, start)
        patches.append(
            (start, end, dumps(edit.value, indent=unit, base=base, ascii_only=ascii_only))
        )
    for path, members in inserts.items():
        start, end = locate(text, path)
        patches.append(_insert_patch(text, start, end, members, unit, ascii_only))
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
    line_start = text.rfind("\n", 0, pos) + 1
    match = _WS.match(text, line_start)
    assert match is not None
    return text[line_start : match.end()].replace("\n", "").replace("\r", "")


def _insert_patch(
    text: str,
    start: int,
    end: int,
    new_members: list[tuple[str, Any]],
    unit: str,
    ascii_only: bool,
) -> tuple[int, int, str]:
    """Add ``new_members`` at the end of the object spanning ``start``..``end``."""
    members = _members(text, start)

    def key(name: str) -> str:
        return json.dumps(name, ensure_ascii=ascii_only)

    if not members:
        base = _line_indent(text, start)
        inner = base + unit
        body = ",\n".join(
            inner + key(k) + ": " + dumps(v, indent=unit, base=inner, ascii_only=ascii_only)
            for k, v in new_members
        )
        return (start, end, "{\n" + body + "\n" + base + "}")
    last_key_start, _value_start, last_value_end = members[-1]
    if "\n" in text[start + 1 : members[0][0]]:
        indent = _line_indent(text, last_key_start)
        added = "".join(
            ",\n"
            + indent
            + key(k)
            + ": "
            + dumps(v, indent=unit, base=indent, ascii_only=ascii_only)
            for k, v in new_members
        )
    else:
        added = "".join(
            ", " + key(k) + ": " + json.dumps(v, ensure_ascii=ascii_only) for k, v in new_members
        )
    return (last_value_end, last_value_end, added)


def _skip_ws(text: str, pos: int) -> int:
    match = _WS.match(text, pos)
    assert match is not None
    return match.end()


def _value_end(text: str, pos: int) -> int:
    _value, end = _DECODER.raw_decode(text, pos)
    return int(end)


def _members(text: str, start: int) -> list[tuple[int, int, int]]:
    """(key start, value start, value end) of each member of the object at ``start``."""
    out: list[tuple[int, int, int]] = []
    pos = _skip_ws(text, start + 1)
    if text[pos] == "}":
        return out
    while True:
        key_start = pos
        _key, pos = _scanstring(text, pos + 1)
        pos = _skip_ws(text, pos)
        pos = _skip_ws(text, pos + 1)  # past ':'
        value_start = pos
        value_end = _value_end(text, pos)
        out.append((key_start, value_start, value_end))
        pos = _skip_ws(text, value_end)
        if text[pos] == "}":
            return out
        pos = _skip_ws(text, pos + 1)  # past ','


def locate(text: str, path: Path_) -> tuple[int, int]:
    """Start and end offsets of the value at ``path`` (the last one for duplicate keys)."""
    pos = _skip_ws(text, 1 if text.startswith("\ufeff") else 0)
    for step in path:
        if isinstance(step, str):
            found = -1
            for key_start, value_start, _end in _members(text, pos):
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
