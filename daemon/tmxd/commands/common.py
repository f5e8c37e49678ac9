"""Options and output helpers shared by the command modules.

Every command prints through :func:`echo` (text) or :func:`echo_json` (JSON): data from
tasks.json, commits and agents never reaches the terminal with an escape sequence or a
control character in it (:func:`tmxd.sanitize.printable`).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tmxd.sanitize import printable

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

F = TypeVar("F", bound=Callable[..., Any])

# In JSON text: DEL, the C1 controls and lone surrogates, which json.dumps leaves raw
# with ensure_ascii=False; written as \u escapes they are the same data.
_JSON_RAW = re.compile("[\x7f-\x9f\ud800-\udfff]")


def project_option(func: F) -> F:
    """``-p/--project PATH``: the project (default: found from the current directory)."""
    return click.option(
        "-p",
        "--project",
        "project",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Project directory (default: found from the current directory).",
    )(func)


def tag_option(func: F) -> F:
    return click.option("--tag", default=None, help="Task Master tag (default: the active tag).")(
        func
    )


def format_option(*choices: str) -> Callable[[F], F]:
    names = choices or ("text", "json")

    def decorate(func: F) -> F:
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(names),
            default=names[0],
            show_default=True,
            help="Output format.",
        )(func)

    return decorate


def _comma_prefix(incomplete: str) -> tuple[str, str]:
    """``"5.2,7"`` -> (``"5.2,"``, ``"7"``): completion works on the last item of a list."""
    head, sep, last = incomplete.rpartition(",")
    return (head + sep, last)


def complete_task_ids(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion: the ids (and subtask ids) of the project's active tag, with titles."""
    from click.shell_completion import CompletionItem

    from tmxd.errors import TmxdError
    from tmxd.taskmaster.project import find_project
    from tmxd.taskmaster.store import TaskStore

    prefix, last = _comma_prefix(incomplete)
    try:
        found = find_project(ctx.params.get("project"))
        doc = TaskStore(found).read()
        tag = found.active_tag(ctx.params.get("tag"), doc.tag_names())
        tasks = doc.tasks(tag)
    except (TmxdError, OSError):
        return []
    items = []
    for task in tasks:
        for item in (task, *task.subtasks):
            if item.id.startswith(last):
                items.append(CompletionItem(prefix + item.id, help=printable(item.title)))
    return items


def complete_statuses(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion: the statuses Task Master accepts."""
    from click.shell_completion import CompletionItem

    from tmxd.taskmaster.status import VALID_STATUSES

    prefix, last = _comma_prefix(incomplete)
    return [CompletionItem(prefix + status) for status in VALID_STATUSES if status.startswith(last)]


def echo(text: str = "", *, err: bool = False, nl: bool = True, coloured: bool = False) -> None:
    """Print text output (stdout, or stderr with ``err``), made printable.

    A ``coloured`` line keeps its colours on a terminal: every piece of data in it went
    through :func:`style` or :func:`tmxd.sanitize.printable` already (only colour
    sequences survive; nothing else a terminal acts on does).
    """
    keep = coloured and use_color(err=err)
    click.echo(printable(text, keep_colour=keep), err=err, nl=nl)


def echo_json(value: Any) -> None:
    echo_formatted(json.dumps(value, indent=2, ensure_ascii=False), "json")


def echo_formatted(text: str, fmt: str, *, nl: bool = True, coloured: bool = False) -> None:
    """Print a rendered output: JSON as it is (escaping what a terminal would act on, the
    data unchanged), any other format made printable (``coloured``: see :func:`echo`)."""
    if fmt == "json":
        click.echo(json_text(text), nl=nl)
    else:
        echo(text, nl=nl, coloured=coloured)


def json_text(text: str) -> str:
    """JSON text with DEL, C1 controls and lone surrogates written as ``\\u`` escapes."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def color_override() -> bool | None:
    """The user's word on colour: ``FORCE_COLOR`` or ``CLICOLOR_FORCE`` (not empty, not
    ``0``) force it, even into a pipe, and win over ``NO_COLOR`` (not empty), which turns it
    off even on a terminal; None leaves it to whether the output is a terminal."""
    import os

    for key in ("FORCE_COLOR", "CLICOLOR_FORCE"):
        value = os.environ.get(key, "").strip().lower()
        if value and value not in ("0", "false"):
            return True
    if os.environ.get("NO_COLOR"):
        return False
    return None


def use_color(*, err: bool = False) -> bool:
    """Colour on a terminal (stdout, or stderr with ``err``), unless the environment says
    otherwise (:func:`color_override`)."""
    forced = color_override()
    if forced is not None:
        return forced
    stream = sys.stderr if err else sys.stdout
    return stream is not None and stream.isatty()


def style(text: str, **kwargs: Any) -> str:
    """``text`` coloured on a terminal; made printable first, so data in it cannot add
    escape sequences of its own."""
    return click.style(printable(text), **kwargs) if use_color() else text
