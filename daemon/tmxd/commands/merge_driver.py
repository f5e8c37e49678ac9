"""``tmxd merge-driver``: git's merge driver for tasks.json, and settling its conflicts."""

from __future__ import annotations

from pathlib import Path

import click

from tmxd.commands.common import echo, project_option
from tmxd.errors import EXIT_FAILED, TmxdError

USAGE = "%O %A %B %P | --resolve ID FIELD ours|theirs"


@click.command("merge-driver")
@click.option(
    "--resolve",
    "resolving",
    is_flag=True,
    help="Settle one conflict the last merge reported: ID FIELD ours|theirs.",
)
@project_option
@click.option(
    "--tag", default=None, help="With --resolve: the conflict's tag, when several tags list it."
)
@click.argument("args", nargs=-1, metavar=USAGE)
def merge_driver_cmd(
    resolving: bool, project: Path | None, tag: str | None, args: tuple[str, ...]
) -> None:
    """Merge tasks.json as tasks, not lines (git's merge driver); settle its conflicts.

    Git runs `tmxd merge-driver %O %A %B %P` for the paths .gitattributes routes to
    `merge=tmxd-tasks` (`tmxd init` and `tmxd hooks install` set that up, falling
    back to git's own text merge when tmxd cannot run; `tmxd hooks uninstall`
    removes it). It merges
    by tag, id and field, writes the result into %A keeping its format, and exits 0;
    on conflicts the file holds ours for each, `<file>.conflicts` lists them (tag,
    id, field, both values) and it exits 1, so git stops. Invalid JSON on any side:
    exit 1, %A untouched.

    `tmxd merge-driver --resolve ID FIELD ours|theirs` keeps ours or writes theirs
    for one listed conflict (FIELD `task` for a whole task); docs/merge.md has the rules.
    """
    if resolving:
        if len(args) != 3 or args[2] not in ("ours", "theirs"):
            raise click.UsageError(
                "--resolve takes ID FIELD ours|theirs, e.g. --resolve 12 status ours"
            )
        _resolve(project, tag, *args)
        return
    if len(args) != 4:
        raise click.UsageError(f"expected {USAGE} (git passes %O %A %B %P)")
    _drive(*args)


def _drive(ancestor: str, ours: str, theirs: str, path: str) -> None:
    from tmxd.commits import merge_driver

    try:
        run = merge_driver.run(Path(ancestor), Path(ours), Path(theirs), path, workdir=Path.cwd())
    except merge_driver.SideError as exc:  # names the side; ours is untouched
        echo(f"tmxd merge-driver: {exc.message}", err=True)
        raise click.exceptions.Exit(EXIT_FAILED) from None
    except TmxdError as exc:
        echo(f"tmxd merge-driver: {exc.message}; {path} left as ours", err=True)
        raise click.exceptions.Exit(EXIT_FAILED) from None
    for moved in run.result.renumbered:
        echo(
            f"tmxd merge-driver: {path}: tag {moved.tag}: theirs' task {moved.old_id} is now "
            f"{moved.new_id} ({moved.old_id} was added on both sides)",
            err=True,
        )
    if run.result.clean:
        return
    count = len(run.result.conflicts)
    where = run.report if run.report is not None else f"{path}{merge_driver.REPORT_SUFFIX}"
    echo(
        f"tmxd merge-driver: {count} conflict(s) in {path}, which holds ours for each; "
        f"see {where}, then `tmxd merge-driver --resolve ID FIELD ours|theirs`",
        err=True,
    )
    raise click.exceptions.Exit(EXIT_FAILED)


def _resolve(project: Path | None, tag: str | None, task_id: str, field: str, choice: str) -> None:
    from tmxd.commits import merge_driver
    from tmxd.taskmaster.document import display_path
    from tmxd.taskmaster.project import find_project

    found = find_project(project)
    done = merge_driver.resolve(found, task_id, field, choice, tag)
    what = f"{done.conflict.tag or '-'} {task_id} {field}"
    tasks = display_path(found.tasks_path)
    echo(f"{what}: theirs written to {tasks}" if choice == "theirs" else f"{what}: ours kept")
    if done.remaining:
        echo(f"{done.remaining} conflict(s) left in {display_path(done.report)}")
    else:
        echo(f"no conflicts left; mark the file resolved: git add {tasks}")
