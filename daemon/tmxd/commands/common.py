"""Options and output helpers shared by the command modules."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

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


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def use_color() -> bool:
    """Colour only on a terminal, never with ``NO_COLOR`` set."""
    import os

    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def style(text: str, **kwargs: Any) -> str:
    return click.style(text, **kwargs) if use_color() else text
