from __future__ import annotations

import json

import pytest

from tmxd.taskmaster import jsonedit
from tmxd.taskmaster.jsonedit import Insert, Replace


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
