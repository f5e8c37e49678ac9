"""Options and output helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

F = TypeVar("F", bound=Callable[..., Any])


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
                items.append(CompletionItem(prefix + item.id, help=item.title))
    return items


def complete_statuses(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion: the statuses Task Master accepts."""
    from click.shell_completion import CompletionItem

    from tmxd.taskmaster.status import VALID_STATUSES

    prefix, last = _comma_prefix(incomplete)
    return [CompletionItem(prefix + status) for status in VALID_STATUSES if status.startswith(last)]


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


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


def use_color() -> bool:
    """Colour on a terminal, unless the environment says otherwise (:func:`color_override`)."""
    forced = color_override()
    return sys.stdout.isatty() if forced is None else forced


def style(text: str, **kwargs: Any) -> str:
    return click.style(text, **kwargs) if use_color() else text
