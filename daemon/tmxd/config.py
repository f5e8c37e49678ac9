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
own checks of the values (``check``), run by every load.
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
        return self.from_mapping(table, path)

    def from_mapping(self, table: dict[str, Any], path: Path) -> T:
        fields = {f.name: f for f in dataclasses.fields(self.cls)}  # type: ignore[arg-type]
        hints = typing.get_type_hints(self.cls)
        for key, value in table.items():
            if key not in fields:
                known = ", ".join(sorted(fields))
                raise InputError(f"{path}: unknown key {self.name}.{key}; known keys: {known}")
            if not _type_ok(value, hints[key]):
                raise InputError(
                    f"{path}: {self.name}.{key} = {value!r} is not a valid "
                    f"{_type_name(hints[key])}; fix or remove the line"
                )
        loaded = self.cls(**table)
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
