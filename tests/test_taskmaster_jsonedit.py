from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tmxd.errors import InputError
from tmxd.taskmaster import jsonedit
from tmxd.taskmaster.jsonedit import Insert, JsonEditor, Replace, new_text


def _roundtrip(text: str, mutate: object) -> str:
    old = json.loads(text)
    new = json.loads(text)
    mutate(new)  # type: ignore[operator]
    out = jsonedit.apply(text, jsonedit.diff(old, new))
    assert json.loads(out) == new
    return out


def test_replace_scalar_keeps_everything_else() -> None:
    text = '{\n  "a": [1, 2],\n  "b": "x",\n  "c": "\\u00e9"\n}\n'
    out = _roundtrip(text, lambda d: d.__setitem__("b", "y"))
    assert out == text.replace('"x"', '"y"')


def test_canonical_file_matches_json_stringify() -> None:
    data = {"t": [{"id": 1, "status": "pending", "deps": []}]}
    text = json.dumps(data, indent=2, ensure_ascii=False)
    new = json.loads(text)
    new["t"][0]["status"] = "done"
    new["t"][0]["details"] = {"x": [1, "é"]}
    out = jsonedit.apply(text, jsonedit.diff(data, new))
    assert out == json.dumps(new, indent=2, ensure_ascii=False)


def test_insert_into_empty_and_inline_objects() -> None:
    text = '{"a": {}, "b": {"k": 1}}'
    out = _roundtrip(text, lambda d: (d["a"].__setitem__("n", 1), d["b"].__setitem__("m", 2)))
    assert '"b": {"k": 1, "m": 2}' in out


def test_duplicate_keys_edit_the_last_one() -> None:
    text = '{"a": 1, "a": 2}'
    assert jsonedit.locate(text, ("a",)) == (14, 15)
    out = jsonedit.apply(text, [Replace(("a",), 3)])
    assert out == '{"a": 1, "a": 3}'


def test_removed_key_rewrites_the_object() -> None:
    old = {"a": {"x": 1, "y": 2}}
    new = {"a": {"x": 1}}
    assert jsonedit.diff(old, new) == [Replace(("a",), {"x": 1})]


def test_type_changes_are_seen() -> None:
    assert jsonedit.diff({"a": 1}, {"a": 1.0}) == [Replace(("a",), 1.0)]
    assert jsonedit.diff({"a": [1]}, {"a": [True]}) == [Replace(("a", 0), True)]
    assert jsonedit.diff({"a": 1}, {"a": 1, "b": 2}) == [Insert((), "b", 2)]


def test_ascii_escaping_files_stay_ascii() -> None:
    text = '{\n    "a": "caf\\u00e9",\n    "b": "x"\n}'
    out = _roundtrip(text, lambda d: d.__setitem__("b", "é"))
    assert out.isascii()
    assert '"b": "\\u00e9"' in out


def test_indent_unit_is_detected() -> None:
    assert jsonedit.indent_unit('{\n    "a": 1\n}') == "    "
    assert jsonedit.indent_unit('{\n\t"a": 1\n}') == "\t"
    assert jsonedit.indent_unit("{}") == "  "


def test_bom_is_kept() -> None:
    text = '\ufeff{"a": 1}'
    assert jsonedit.apply(text, [Replace(("a",), 2)]) == '\ufeff{"a": 2}'


def test_missing_path_is_key_error() -> None:
    with pytest.raises(KeyError):
        jsonedit.locate('{"a": 1}', ("b",))


def test_task_master_style_spreads_new_containers_a_config_edit_keeps_inline() -> None:
    text = '{"a": {}, "b": [2]}'
    edits = [Insert(("a",), "k", [1]), jsonedit.Append(("b",), {"c": 3})]
    assert jsonedit.apply(text, edits) == '{"a": {\n  "k": [\n    1\n  ]\n}, "b": [2, {"c": 3}]}'
    assert jsonedit.apply(text, edits, stringify=False) == '{"a": {"k": [1]}, "b": [2, {"c": 3}]}'


def test_crlf_files_get_crlf_in_what_is_added() -> None:
    text = '{\r\n  "a": 1\r\n}\r\n'
    out = jsonedit.apply(text, [Insert((), "b", {"c": 1})])
    assert out == '{\r\n  "a": 1,\r\n  "b": {\r\n    "c": 1\r\n  }\r\n}\r\n'


# -- JsonEditor: users' config files, one change at a time ---------------------------------

P = Path("x.json")


def only_insertions(old: str, new: str) -> bool:
    """True when ``new`` is ``old`` with text inserted and nothing removed."""
    i = 0
    for char in new:
        if i < len(old) and char == old[i]:
            i += 1
    return i == len(old)


def test_adds_member_in_the_files_own_style() -> None:
    old = '{\n    "a" : 1,\n    "b" : {"x": [1,2]}\n}\n'
    ed = JsonEditor(old, P)
    assert ed.ensure(("c",), {"k": "v"})
    assert (
        ed.text
        == '{\n    "a" : 1,\n    "b" : {"x": [1,2]},\n    "c" : {\n        "k": "v"\n    }\n}\n'
    )
    assert only_insertions(old, ed.text)


def test_compact_one_line_file_stays_on_one_line() -> None:
    ed = JsonEditor('{"a":1,"b":{}}', P)
    ed.ensure(("b", "c"), {"d": [1, 2]})
    ed.ensure(("a",), 2)
    assert ed.text == '{"a":2,"b":{"c": {"d": [1, 2]}}}'


def test_tabs_and_crlf_are_kept() -> None:
    old = '{\r\n\t"a": {\r\n\t\t"x": 1\r\n\t}\r\n}\r\n'
    ed = JsonEditor(old, P)
    ed.ensure(("a", "y"), [1])
    assert (
        ed.text == '{\r\n\t"a": {\r\n\t\t"x": 1,\r\n\t\t"y": [\r\n\t\t\t1\r\n\t\t]\r\n\t}\r\n}\r\n'
    )
    assert "\n" not in ed.text.replace("\r\n", "")


def test_ensure_merges_objects_and_keeps_foreign_keys() -> None:
    old = '{\n  "s": {\n    "mine": {"command": "old", "extra": true}\n  }\n}'
    ed = JsonEditor(old, P)
    assert ed.ensure(("s", "mine"), {"command": "new", "args": ["-y"]})
    assert json.loads(ed.text) == {"s": {"mine": {"command": "new", "extra": True, "args": ["-y"]}}}
    assert not ed.ensure(("s", "mine"), {"command": "new", "args": ["-y"]})
    assert not ed.text.endswith("\n")  # no trailing newline added


def test_ensure_items_appends_only_missing() -> None:
    ed = JsonEditor('{"allow": ["A", "B"]}', P)
    assert ed.ensure_items(("allow",), ["B", "C"])
    assert ed.text == '{"allow": ["A", "B", "C"]}'
    assert not ed.ensure_items(("allow",), ["C", "A"])


def test_ensure_items_creates_missing_array_and_parents() -> None:
    ed = JsonEditor("{}\n", P)
    ed.ensure_items(("permissions", "allow"), ["A"])
    assert json.loads(ed.text) == {"permissions": {"allow": ["A"]}}


def test_empty_array_in_pretty_file_becomes_pretty() -> None:
    ed = JsonEditor('{\n  "l": []\n}\n', P)
    ed.append(("l",), {"a": 1})
    assert ed.text == '{\n  "l": [\n    {\n      "a": 1\n    }\n  ]\n}\n'


def test_ensure_default_keeps_existing_value() -> None:
    ed = JsonEditor('{"env": {"K": "${MINE}"}}', P)
    assert not ed.ensure_default(("env", "K"), "${K}")
    assert ed.ensure_default(("env", "J"), "${J}")
    assert json.loads(ed.text) == {"env": {"K": "${MINE}", "J": "${J}"}}


def test_escaped_and_unicode_keys_are_found() -> None:
    old = '{"a\\"b": 1, "é": {"x": "y\\u00e9"}}'
    ed = JsonEditor(old, P)
    ed.ensure(("é", "z"), "ü")
    assert json.loads(ed.text) == {'a"b': 1, "é": {"x": "yé", "z": "ü"}}
    assert only_insertions(old, ed.text)


def test_invalid_json_names_file_line_and_column() -> None:
    with pytest.raises(InputError, match=r"^x\.json: line 2 column 8: Expecting"):
        JsonEditor('{\n  "a": ,\n}', P)


def test_wrong_shape_is_input_error() -> None:
    ed = JsonEditor('{"hooks": []}', P)
    with pytest.raises(InputError, match=r"x\.json: hooks is not an object"):
        ed.ensure(("hooks", "Stop"), [])
    ed2 = JsonEditor('{"allow": "Write"}', P)
    with pytest.raises(InputError, match="allow is not an array"):
        ed2.ensure_items(("allow",), ["Read"])


def test_replacing_scalar_with_container_in_pretty_file() -> None:
    ed = JsonEditor('{\n  "a": 1\n}\n', P)
    ed.ensure(("a",), {"b": 2})
    assert ed.text == '{\n  "a": {\n    "b": 2\n  }\n}\n'


def test_new_text_is_two_space_json_with_newline() -> None:
    assert new_text({"a": ["é"]}) == '{\n  "a": [\n    "é"\n  ]\n}\n'


def test_duplicate_keys_edit_the_last_one_like_json_loads() -> None:
    ed = JsonEditor('{"a": 1, "a": 2}', P)
    ed.ensure(("a",), 3)
    assert ed.text == '{"a": 1, "a": 3}'


# -- properties: any JSON object, any formatting ---------------------------------------------


scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
objects = st.dictionaries(st.text(max_size=4), values, max_size=4)
styles = st.sampled_from(
    [
        {"indent": None, "separators": (",", ":")},
        {"indent": None, "separators": (", ", " : ")},
        {"indent": 2},
        {"indent": 4},
        {"indent": "\t"},
    ]
)


@settings(max_examples=150, deadline=None)
@given(objects, styles, st.text(min_size=1, max_size=4), values, st.sampled_from(["", "\n"]))
def test_ensure_adds_exactly_one_key_and_keeps_every_byte(
    data: dict[str, object], style: dict[str, object], key: str, value: object, tail: str
) -> None:
    assume("tmxd" not in data)
    old = json.dumps(data, ensure_ascii=False, **style) + tail  # type: ignore[arg-type]
    ed = JsonEditor(old, P)
    assert ed.ensure(("tmxd", key), value)
    assert json.loads(ed.text) == {**data, "tmxd": {key: value}}
    assert only_insertions(old, ed.text)
    assert ed.text.endswith(tail)
    assert not JsonEditor(ed.text, P).ensure(("tmxd", key), value)


@settings(max_examples=150, deadline=None)
@given(objects, styles, scalars)
def test_replacing_a_value_changes_only_that_value(
    data: dict[str, object], style: dict[str, object], value: object
) -> None:
    assume(data)
    key = sorted(data)[0]
    old = json.dumps(data, ensure_ascii=False, **style)  # type: ignore[arg-type]
    ed = JsonEditor(old, P)
    ed.ensure((key,), value)
    assert json.loads(ed.text) == {**data, key: value}


# -- removals and many edits at once (the merge driver's edits) ------------------------------

TM = {
    "master": {
        "tasks": [
            {"id": 1, "status": "done", "dependencies": []},
            {"id": 2, "status": "pending", "dependencies": [1]},
            {"id": 3, "status": "pending", "dependencies": [1, 2]},
            {"id": 4, "status": "review", "dependencies": []},
        ],
        "metadata": {"created": "2026-01-01", "updated": "2026-01-02"},
    }
}


def stringify(data: object) -> str:
    """``JSON.stringify(data, null, 2)``: how Task Master writes tasks.json."""
    return json.dumps(data, indent=2, ensure_ascii=False)


@pytest.mark.parametrize(
    "gone",
    [[0], [1], [3], [0, 1], [1, 2], [2, 3], [0, 2], [0, 3], [0, 1, 2]],
    ids=str,
)
def test_removing_items_keeps_the_layout_of_what_stays(gone: list[int]) -> None:
    text = stringify(TM)
    edits = [jsonedit.Remove(("master", "tasks", i)) for i in gone]
    expected = json.loads(text)
    expected["master"]["tasks"] = [t for i, t in enumerate(TM["master"]["tasks"]) if i not in gone]
    assert jsonedit.apply(text, edits) == stringify(expected)


def test_removing_members_replacing_and_appending_in_one_splice() -> None:
    text = stringify(TM)
    edits = [
        jsonedit.Remove(("master", "metadata", "created")),
        jsonedit.Insert(("master", "metadata"), "description", "Tasks"),
        jsonedit.Remove(("master", "tasks", 3)),
        jsonedit.Append(("master", "tasks"), {"id": 5, "status": "pending"}),
        Replace(("master", "tasks", 2, "status"), "done"),
        jsonedit.Remove(("master", "tasks", 1, "dependencies", 0)),
    ]
    expected = json.loads(text)
    meta = expected["master"]["metadata"]
    del meta["created"]
    meta["description"] = "Tasks"
    tasks = expected["master"]["tasks"]
    tasks[2]["status"] = "done"
    tasks[1]["dependencies"] = []
    tasks[3] = {"id": 5, "status": "pending"}
    assert jsonedit.apply(text, edits) == stringify(expected)


def test_emptied_containers_are_written_anew() -> None:
    text = '{"a": [1, 2], "b": {"x": 1}}'
    edits = [
        jsonedit.Remove(("a", 0)),
        jsonedit.Remove(("a", 1)),
        jsonedit.Append(("a",), 3),
        jsonedit.Remove(("b", "x")),
    ]
    assert jsonedit.apply(text, edits, stringify=False) == '{"a": [3], "b": {}}'
    assert jsonedit.apply(stringify({"a": [1]}), [jsonedit.Remove(("a", 0))]) == '{\n  "a": []\n}'


def test_locate_all_agrees_with_locate() -> None:
    text = stringify({**TM, "dup": 1, "dup ": [{"k": "v"}]}).replace('"dup "', '"dup"')
    paths = [
        ("master", "tasks", 2, "dependencies", 1),
        ("master", "metadata"),
        ("master", "tasks"),
        ("dup",),
        ("dup", 0, "k"),
        (),
    ]
    assert jsonedit.locate_all(text, paths) == {p: jsonedit.locate(text, p) for p in paths}
    with pytest.raises(KeyError):
        jsonedit.locate_all(text, [("master", "nope")])
    with pytest.raises(KeyError):
        jsonedit.locate_all(text, [("master", "tasks", 9)])


def model(data: object, edits: list[jsonedit.Edit]) -> object:
    """What :func:`jsonedit.apply` must give, worked out on the parsed data: paths name
    places before any edit, so find every target first, then change them."""
    out = json.loads(json.dumps(data))

    def at(path: jsonedit.Path_) -> Any:
        node: Any = out
        for step in path:
            node = node[step]
        return node

    targets = [
        (e, at(e.path if isinstance(e, jsonedit.Insert | jsonedit.Append) else e.path[:-1]))
        for e in edits
    ]
    removals = []
    for edit, target in targets:
        if isinstance(edit, Replace):
            target[edit.path[-1]] = edit.value
        elif isinstance(edit, Insert):
            target[edit.key] = edit.value
        elif isinstance(edit, jsonedit.Append):
            target.append(edit.value)
        else:
            removals.append((target, edit.path[-1]))
    for target, step in sorted(removals, key=lambda r: -r[1] if isinstance(r[1], int) else 0):
        del target[step]
    return out


@st.composite
def edit_sets(draw: st.DrawFn) -> tuple[dict[str, object], list[jsonedit.Edit]]:
    """An object and edits that do not overlap: nothing edited inside what is replaced or
    removed, additions only to containers that stay."""
    data = draw(st.dictionaries(st.text("xyz", min_size=1, max_size=2), values, min_size=1))
    containers: list[jsonedit.Path_] = []

    def walk(value: object, path: jsonedit.Path_) -> None:
        if isinstance(value, dict | list):
            containers.append(path)
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in pairs:
                walk(child, (*path, key))

    walk(data, ())
    edits: list[jsonedit.Edit] = []
    taken: list[jsonedit.Path_] = []
    for _ in range(draw(st.integers(0, 6))):
        path = draw(st.sampled_from(containers))
        node: Any = data
        for step in path:
            node = node[step]
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        kind = draw(st.sampled_from(["replace", "remove", "add"]))
        if kind != "add" and keys:
            place = (*path, draw(st.sampled_from(keys)))
            if any(place[: len(t)] == t or t[: len(place)] == place for t in taken):
                continue
            taken.append(place)
            edits.append(
                Replace(place, draw(values)) if kind == "replace" else jsonedit.Remove(place)
            )
        elif kind == "add":
            if any(path[: len(t)] == t for t in taken):
                continue
            if isinstance(node, dict):
                key = draw(st.text("pq", min_size=1, max_size=2))
                if key in node or any(
                    isinstance(e, Insert) and e.path == path and e.key == key for e in edits
                ):
                    continue
                edits.append(Insert(path, key, draw(values)))
            else:
                edits.append(jsonedit.Append(path, draw(values)))
            taken.append((*path, "\0addition"))
    return data, edits


@settings(max_examples=300, deadline=None)
@given(edit_sets(), styles, st.booleans())
def test_any_edits_at_once_give_what_the_model_gives(
    case: tuple[dict[str, object], list[jsonedit.Edit]], style: dict[str, object], spread: bool
) -> None:
    data, edits = case
    text = json.dumps(data, ensure_ascii=False, **style)  # type: ignore[arg-type]
    out = jsonedit.apply(text, edits, stringify=spread)
    expected = model(data, edits)
    assert json.loads(out) == expected
    if style == {"indent": 2} and spread:
        assert out == stringify(expected)  # a Task Master file stays what JSON.stringify writes
