"""Project configuration: ``.taskmaster/tmxd.toml``.

Each area of tmxd owns one table of the file and describes it with a frozen
dataclass whose fields carry their help text::

    @dataclass(frozen=True)
    class LinkConfig:
        link_unnamed: str = option("off", "link commits that name no task to ...")

    LINKS = section("links", LinkConfig, "How commits are linked to tasks.")

    cfg = LINKS.load(project_root)      # -> LinkConfig, validated

Unknown keys and wrong types are input errors naming the file, the key and
the fix; a missing file or table means every default. A section may add its
own checks of the values (``check``), run by every load. A key that an earlier
tmxd read under another name (:func:`renamed`) is still honoured under its new
name, so an upgrade never makes a working file invalid; :func:`renamed_in`
lists them for ``tmxd doctor``.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from tmxd.errors import InputError

CONFIG_NAME = "tmxd.toml"

T = TypeVar("T")


def option(default: Any, help: str) -> Any:
    """A config field with a default and a one-line help text."""
    if isinstance(default, list | dict):

        def factory(template: Any = default) -> Any:
            return json.loads(json.dumps(template))

        return dataclasses.field(default_factory=factory, metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def config_path(project_root: Path) -> Path:
    return project_root / ".taskmaster" / CONFIG_NAME


@dataclass(frozen=True)
class Section(Generic[T]):
    name: str
    cls: type[T]
    doc: str
    check: Callable[[T, Path], None] | None = None  # raises InputError naming the file

    def defaults(self) -> T:
        return self.cls()

    def load(self, project_root: Path | None) -> T:
        """The table for this section from the project's config, validated."""
        if project_root is None:
            return self.defaults()
        raw = read_config(config_path(project_root))
        table = raw.get(self.name, {})
        path = config_path(project_root)
        if not isinstance(table, dict):
            raise InputError(f"{path}: [{self.name}] must be a table; see `tmxd init --dry-run`")
        return self.from_mapping(_with_renamed(raw, self.name, table, path), path)

    def from_mapping(self, table: dict[str, Any], path: Path) -> T:
        fields = {f.name: f for f in dataclasses.fields(self.cls)}  # type: ignore[arg-type]
        hints = typing.get_type_hints(self.cls)
        for key, value in table.items():
            if (self.name, key) in RENAMED:
                continue  # read under its new name (see ``renamed``)
            if key not in fields:
                known = ", ".join(sorted(fields))
                raise InputError(f"{path}: unknown key {self.name}.{key}; known keys: {known}")
            if not _type_ok(value, hints[key]):
                raise InputError(
                    f"{path}: {self.name}.{key} = {value!r} is not a valid "
                    f"{_type_name(hints[key])}; fix or remove the line"
                )
        loaded = self.cls(**{k: v for k, v in table.items() if (self.name, k) not in RENAMED})
        if self.check is not None:
            self.check(loaded, path)
        return loaded


SECTIONS: dict[str, Section[Any]] = {}


def section(
    name: str, cls: type[T], doc: str, check: Callable[[T, Path], None] | None = None
) -> Section[T]:
    """Register the table ``[name]`` described by dataclass ``cls`` (``check``: more checks
    of the loaded values, raising :class:`InputError`)."""
    sec = Section(name, cls, doc, check)
    SECTIONS[name] = sec
    return sec


@dataclass(frozen=True)
class Renamed:
    """An old ``[old_section] old_key``, read now as ``[section] key`` through ``convert``
    (which raises ``ValueError`` with a hint for a value that has no new equivalent)."""

    old_section: str
    old_key: str
    section: str
    key: str
    convert: Callable[[Any], Any]


RENAMED: dict[tuple[str, str], Renamed] = {}


def renamed(
    old: str, new: str, convert: Callable[[Any], Any] = lambda value: value
) -> Renamed:
    """Register that ``old`` (``"section.key"``) is read as ``new`` from now on."""
    old_section, old_key = old.split(".", 1)
    section_name, key = new.split(".", 1)
    entry = Renamed(old_section, old_key, section_name, key, convert)
    RENAMED[(old_section, old_key)] = entry
    return entry


def renamed_in(raw: dict[str, Any]) -> list[Renamed]:
    """The renamed keys a parsed config file still uses."""
    return [
        r
        for r in RENAMED.values()
        if isinstance(raw.get(r.old_section), dict) and r.old_key in raw[r.old_section]
    ]


def _with_renamed(
    raw: dict[str, Any], name: str, table: dict[str, Any], path: Path
) -> dict[str, Any]:
    """``table`` with the values of old keys that now belong to it under their new names
    (a new key set in the file wins over its old name)."""
    merged = dict(table)
    for r in renamed_in(raw):
        if r.section != name or r.key in table:
            continue
        value = raw[r.old_section][r.old_key]
        try:
            merged[r.key] = r.convert(value)
        except ValueError as exc:
            raise InputError(
                f"{path}: {r.old_section}.{r.old_key} = {value!r} (now {r.section}.{r.key}): "
                f"{exc}"
            ) from None
    return merged


def read_config(path: Path) -> dict[str, Any]:
    """The parsed TOML file, or ``{}`` when it does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}; fix the file or remove it") from exc


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if hint is Any:
        return True
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


def render_toml_value(value: Any) -> str:
    """A TOML literal for a default value (strings, numbers, bools, flat lists)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(render_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{k} = {render_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot render {value!r} as TOML")
