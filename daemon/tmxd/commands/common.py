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
from typing import Any, TypeVar

import click

from tmxd.sanitize import printable

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


def echo_formatted(text: str, fmt: str, *, nl: bool = True) -> None:
    """Print a rendered output: JSON as it is (escaping what a terminal would act on, the
    data unchanged), any other format made printable."""
    if fmt == "json":
        click.echo(json_text(text), nl=nl)
    else:
        echo(text, nl=nl)


def json_text(text: str) -> str:
    """JSON text with DEL, C1 controls and lone surrogates written as ``\\u`` escapes."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def use_color(*, err: bool = False) -> bool:
    """Colour only on a terminal, never with ``NO_COLOR`` set."""
    import os

    stream = sys.stderr if err else sys.stdout
    return stream is not None and stream.isatty() and not os.environ.get("NO_COLOR")


def style(text: str, **kwargs: Any) -> str:
    """``text`` coloured on a terminal; made printable first, so data in it cannot add
    escape sequences of its own."""
    return click.style(printable(text), **kwargs) if use_color() else text
