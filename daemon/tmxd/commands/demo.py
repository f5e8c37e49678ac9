"""``tmxd demo``: a throwaway Task Master project and the whole loop, end to end."""

from __future__ import annotations

import click

from tmxd.commands.common import style


@click.command("demo", short_help="A throwaway project that shows the whole loop.")
@click.option("--keep", is_flag=True, help="Keep the demo project folder and print its path.")
@click.option(
    "--only",
    multiple=True,
    metavar="WORD",
    help="Run only the steps whose title contains WORD (repeatable).",
)
def demo_cmd(keep: bool, only: tuple[str, ...]) -> None:
    """Build a throwaway Task Master project in a temp folder and show what tmxd does.

    Runs real commands (list, next, set-status and its cascade, update-subtask, the git
    diff, and the steps of every other part of tmxd), then removes the folder.
    Needs git; no Node, network or AI key.
    """
    from tmxd.demo.runner import run_demo

    run_demo(
        click.echo,
        keep=keep,
        heading=lambda text: style(text, bold=True),
        only=list(only) or None,
    )
