"""Minimal-change edits of JSON text: add or update keys, keep every other byte.

Configuration files such as ``.mcp.json`` and ``.claude/settings.json`` belong
to the user. tmxd adds its own entries to them without reformatting: a
:class:`JsonEditor` parses the text once into a tree of spans (where each value
starts and ends), and each edit replaces or inserts only the bytes of the value
it changes, in the indentation and separator style the file already uses.
Everything else — foreign keys, key order, odd spacing, the trailing newline —
stays exactly as it was.

Invalid JSON is an :class:`~tmxd.errors.InputError` naming the file, the line
and the column; nothing is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any

from tmxd.errors import InputError

Key = str | int

_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


@dataclass
class Node:
    """One JSON value and where it sits in the text (``text[start:end]``)."""

    start: int
    end: int
    kind: str  # "object", "array" or "scalar"
    keys: list[tuple[str, int]] = field(default_factory=list)  # object: (key, key start)
    children: list[Node] = field(default_factory=list)  # object values or array items

    def child(self, key: Key) -> Node | None:
        if self.kind == "object" and isinstance(key, str):
            found = None
            for (name, _), node in zip(self.keys, self.children, strict=True):
                if name == key:
                    found = node  # the last duplicate wins, as in json.loads
            return found
        if self.kind == "array" and isinstance(key, int) and 0 <= key < len(self.children):
            return self.children[key]
        return None


def loads(text: str, path: Path) -> Any:
    """``json.loads`` with an error that names the file, line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text

    def skip(self, pos: int) -> int:
        match = _WS.match(self.text, pos)
        return match.end() if match else pos

    def value(self, pos: int) -> Node:
        pos = self.skip(pos)
        char = self.text[pos]
        if char == "{":
            return self.container(pos, "object", "}")
        if char == "[":
            return self.container(pos, "array", "]")
        if char == '"':
            _, end = scanstring(self.text, pos + 1)
            return Node(pos, end, "scalar")
        match = _SCALAR.match(self.text, pos)
        if match is None:  # pragma: no cover - the text was validated by json.loads
            raise ValueError(f"unexpected character at {pos}")
        return Node(pos, match.end(), "scalar")

    def container(self, start: int, kind: str, close: str) -> Node:
        node = Node(start, start, kind)
        pos = self.skip(start + 1)
        if self.text[pos] == close:
            node.end = pos + 1
            return node
        while True:
            if kind == "object":
                key, after = scanstring(self.text, pos + 1)
                node.keys.append((key, pos))
                pos = self.skip(after) + 1  # the colon
            child = self.value(pos)
            node.children.append(child)
            pos = self.skip(child.end)
            if self.text[pos] == close:
                node.end = pos + 1
                return node
            pos = self.skip(pos + 1)  # the comma


class JsonEditor:
    """Edit JSON text in place, one minimal change at a time.

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
        self.root = _Parser(text).value(0)
        self.unit = _indent_unit(text)
        self.nl = "\r\n" if "\r\n" in text else "\n"

    # -- queries -----------------------------------------------------------

    def get(self, keys: Sequence[Key]) -> Any:
        """The value at ``keys``, or ``None`` when any part is missing."""
        value = self.data
        for key in keys:
            if isinstance(value, dict) and isinstance(key, str):
                value = value.get(key)
            elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
                value = value[key]
            else:
                return None
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
        if _same(current, value) and self._exists(keys):
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
            if not any(_same(item, have) for have in self.get(keys)):
                self.append(keys, item)
                changed = True
        return changed

    def set(self, keys: Sequence[Key], value: Any) -> None:
        """Replace the value at ``keys``, or add it (creating parent objects)."""
        node, depth = self._deepest(keys)
        if depth == len(keys):
            self._replace(node, value)
            return
        if node.kind != "object" or not isinstance(keys[depth], str):
            raise self._shape_error(keys[:depth], "an object")
        nested: Any = value
        for key in reversed(keys[depth + 1 :]):
            if not isinstance(key, str):
                raise self._shape_error(keys, "an object")
            nested = {key: nested}
        self._insert(node, str(keys[depth]), nested)

    def append(self, keys: Sequence[Key], value: Any) -> None:
        """Append ``value`` to the array at ``keys``."""
        node, depth = self._deepest(keys)
        if depth != len(keys) or node.kind != "array":
            raise self._shape_error(keys, "an array")
        self._insert(node, None, value)

    # -- internals ---------------------------------------------------------

    def _exists(self, keys: Sequence[Key]) -> bool:
        return self._deepest(keys)[1] == len(keys)

    def _deepest(self, keys: Sequence[Key]) -> tuple[Node, int]:
        node = self.root
        for depth, key in enumerate(keys):
            child = node.child(key)
            if child is None:
                return node, depth
            node = child
        return node, len(keys)

    def _shape_error(self, keys: Sequence[Key], expected: str) -> InputError:
        where = ".".join(str(k) for k in keys) or "the top level"
        return InputError(
            f"{self.path}: {where} is not {expected}; fix it by hand (tmxd left the file untouched)"
        )

    def _splice(self, start: int, end: int, replacement: str) -> None:
        self.text = self.text[:start] + replacement + self.text[end:]
        self.data = json.loads(self.text)
        self.root = _Parser(self.text).value(0)

    def _replace(self, node: Node, value: Any) -> None:
        indent = _line_indent(self.text, node.start)
        multiline = "\n" in self.text[node.start : node.end] or (
            "\n" in self.text.strip() and _is_nonempty_container(value)
        )
        self._splice(node.start, node.end, self._render(value, indent, multiline))

    def _insert(self, node: Node, key: str | None, value: Any) -> None:
        """Add a member (``key`` set) or an item (``key`` None) at the end of ``node``."""
        text = self.text
        entry_key = "" if key is None else json.dumps(key, ensure_ascii=False) + self._colon(node)
        if node.children:
            last = node.children[-1]
            if len(node.children) >= 2:
                prev = node.children[-2]
                next_start = node.keys[-1][1] if key is not None else last.start
                sep = text[prev.end : next_start]
            else:
                first_start = node.keys[0][1] if key is not None else last.start
                lead = text[node.start + 1 : first_start]
                sep = "," + lead if "\n" in lead else ", "
            indent = sep.rsplit("\n", 1)[1] if "\n" in sep else _line_indent(text, node.start)
            multiline = "\n" in sep
            rendered = entry_key + self._render(value, indent, multiline)
            self._splice(last.end, last.end, sep + rendered)
            return
        outer = _line_indent(text, node.start)
        close = text[node.end - 1]
        open_ = text[node.start]
        if "\n" in text.strip():
            inner = outer + self.unit
            rendered = entry_key + self._render(value, inner, True)
            body = f"{open_}{self.nl}{inner}{rendered}{self.nl}{outer}{close}"
        else:
            body = f"{open_}{entry_key}{self._render(value, outer, False)}{close}"
        self._splice(node.start, node.end, body)

    def _colon(self, node: Node) -> str:
        """The key/value separator the object already uses (``": "`` by default)."""
        if node.keys:
            _, key_start = node.keys[0]
            _, key_end = scanstring(self.text, key_start + 1)
            return self.text[key_end : node.children[0].start]
        return ": "

    def _render(self, value: Any, indent: str, multiline: bool) -> str:
        if not multiline or not _is_nonempty_container(value):
            return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        rendered = json.dumps(value, ensure_ascii=False, indent=self.unit)
        return rendered.replace("\n", self.nl + indent)


def new_text(value: Any) -> str:
    """The text of a new JSON file: 2-space indent, non-ASCII kept, final newline."""
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _is_nonempty_container(value: Any) -> bool:
    return isinstance(value, dict | list) and bool(value)


def _line_indent(text: str, pos: int) -> str:
    line_start = text.rfind("\n", 0, pos) + 1
    match = re.match(r"[ \t]*", text[line_start:pos])
    return match.group(0) if match else ""


def _indent_unit(text: str) -> str:
    """The smallest indentation step the file uses (two spaces when there is none)."""
    indents = [m.group(1) for m in re.finditer(r"\n([ \t]+)\S", text)]
    if not indents:
        return "  "
    if any(i.startswith("\t") for i in indents):
        return "\t"
    return min(indents, key=len)
