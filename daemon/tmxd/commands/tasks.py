"""``tmxd list / next / show / set-status / update-subtask / validate-dependencies``.

Native versions of the Task Master CLI commands with the same semantics and, with
``--format json``, the same JSON objects. They need no Node and answer in milliseconds.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tmxd.commands.common import (
    complete_statuses,
    complete_task_ids,
    echo,
    echo_json,
    format_option,
    project_option,
    style,
    tag_option,
)
from tmxd.sanitize import printable

if TYPE_CHECKING:
    from tmxd.taskmaster.document import TasksFile
    from tmxd.taskmaster.project import Project
    from tmxd.taskmaster.store import TaskStore


def _open(project: Path | None, tag: str | None) -> tuple[Project, TaskStore, TasksFile, str]:
    from tmxd.taskmaster.project import find_project
    from tmxd.taskmaster.store import TaskStore

    found = find_project(project)
    store = TaskStore(found)
    doc = store.read()
    return found, store, doc, found.active_tag(tag, doc.tag_names())


def _paint(status: str, text: str) -> str:
    from tmxd.taskmaster.status import COLOURS

    colour = COLOURS.get(status)
    return style(text, fg=colour) if colour else text


def _columns() -> int:
    return shutil.get_terminal_size((100, 24)).columns


def _title_limit() -> int:
    return max(20, min(70, _columns() - 60))


def _complexity(found: Project, tag: str) -> dict[str, dict[str, Any]]:
    from tmxd.taskmaster.cli_json import load_complexity

    return load_complexity(found.complexity_report_path(tag))


def _header(found: Project, tag: str) -> str:
    from tmxd.taskmaster.document import display_path

    return style(f"tag: {tag} · {display_path(found.tasks_path)}", dim=True)


def _complete_id_then_status(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[Any]:
    """``set-status ID STATUS``: ids first, then statuses."""
    if ctx.params.get("args") or ctx.params.get("id_option"):
        return complete_statuses(ctx, param, incomplete)
    return complete_task_ids(ctx, param, incomplete)


@click.command("list", short_help="List tasks with their status and dependencies.")
@click.argument("status_arg", required=False, metavar="[STATUS]", shell_complete=complete_statuses)
@click.option(
    "-s",
    "--status",
    "status",
    default=None,
    help="Only these statuses (comma list).",
    shell_complete=complete_statuses,
)
@click.option("--with-subtasks", is_flag=True, help="Show subtasks under their tasks.")
@tag_option
@project_option
@format_option("text", "json")
def list_cmd(
    status_arg: str | None,
    status: str | None,
    with_subtasks: bool,
    tag: str | None,
    project: Path | None,
    fmt: str,
) -> None:
    """List tasks, as `task-master list` does (STATUS `all` = every task with subtasks)."""
    from tmxd.taskmaster import cli_json, text
    from tmxd.taskmaster.ops import next_task

    found, _store, doc, active = _open(project, tag)
    wanted = status or status_arg
    statuses: list[str] | None = None
    if wanted == "all":
        with_subtasks = True
    elif wanted:
        statuses = [s.strip() for s in wanted.split(",") if s.strip()]
        _check_filter(statuses, doc, active)
    if fmt == "json":
        echo_json(
            cli_json.list_json(
                doc,
                active,
                statuses=statuses,
                with_subtasks=with_subtasks,
                complexity=_complexity(found, active),
            )
        )
        return
    tasks = [t for t in doc.tasks(active) if statuses is None or t.status in statuses]
    echo(_header(found, active), coloured=True)
    if not tasks:
        echo("No tasks" + (f" with status {', '.join(statuses)}" if statuses else "") + ".")
        return
    for line in text.task_table(
        tasks, with_subtasks=with_subtasks, title_limit=_title_limit(), paint=_paint
    ):
        echo(line, coloured=True)
    echo("")
    echo("Progress: " + text.progress_line(doc.tasks(active)))
    upcoming = next_task(doc, active)
    if upcoming is not None:
        echo(f"Next:     {upcoming.id} — {upcoming.title}  (tmxd show {upcoming.id})")


def _check_filter(statuses: list[str], doc: TasksFile, tag: str) -> None:
    """Statuses Task Master knows, or that the file uses, are fine; others are a typo."""
    from tmxd.errors import InputError
    from tmxd.taskmaster.status import VALID_STATUSES

    known = set(VALID_STATUSES) | {"completed"} | {t.status for t in doc.tasks(tag)}
    unknown = [s for s in statuses if s not in known]
    if unknown:
        raise InputError(
            f"unknown status {', '.join(unknown)}; valid statuses: {', '.join(VALID_STATUSES)}"
        )


@click.command("next", short_help="The task to work on next (as task-master next).")
@tag_option
@project_option
@format_option("text", "json")
def next_cmd(tag: str | None, project: Path | None, fmt: str) -> None:
    """The next task to work on, chosen exactly as `task-master next` chooses it."""
    from tmxd.taskmaster.ops import next_task

    found, _store, doc, active = _open(project, tag)
    task = next_task(doc, active)
    has_tasks = bool(doc.task_dicts(active))
    if fmt == "json":
        from tmxd.taskmaster import cli_json

        echo_json(cli_json.next_json(task, active, has_tasks, _complexity(found, active)))
        return
    from tmxd.taskmaster import text

    echo(_header(found, active), coloured=True)
    if task is None:
        if not has_tasks:
            echo(f"No tasks in tag '{active}'.")
        else:
            echo(
                "No task is ready: every task is done, blocked by its dependencies, or in progress."
            )
        return
    statuses = doc.status_map(active)
    for line in text.task_detail(task, status_of=statuses.get, paint=_paint, columns=_columns()):
        echo(line, coloured=True)
    echo("")
    # the commands name the same tag and project as this one did, or they would act elsewhere
    where = "".join(
        [
            f" --tag {shlex.quote(active)}" if tag is not None else "",
            f" -p {shlex.quote(str(project))}" if project is not None else "",
        ]
    )
    if task.status != "in-progress":
        echo(f"Start it: tmxd set-status {task.id} in-progress{where}")
    echo(f"Finish it: tmxd set-status {task.id} done{where}")


@click.command("show", short_help="Show tasks or subtasks in detail.")
@click.argument("ids", required=False, shell_complete=complete_task_ids)
@click.option(
    "-i",
    "--id",
    "id_option",
    default=None,
    help="Task id(s), e.g. 5 or 5.2,7.",
    shell_complete=complete_task_ids,
)
@tag_option
@project_option
@format_option("text", "json")
def show_cmd(
    ids: str | None, id_option: str | None, tag: str | None, project: Path | None, fmt: str
) -> None:
    """Show one or more tasks or subtasks (ID or ID,ID,...)."""
    from tmxd.errors import InputError
    from tmxd.taskmaster import cli_json, text
    from tmxd.taskmaster.ops import split_ids

    wanted = split_ids([ids or id_option or ""])
    if not wanted:
        raise InputError("no task id given; try `tmxd show 5` or `tmxd show 5.2,7`")
    found, _store, doc, active = _open(project, tag)
    results = [(task_id, doc.find(task_id, active)) for task_id in wanted]
    if fmt == "json":
        echo_json(cli_json.show_json(results))
    else:
        statuses = doc.status_map(active)
        echo(_header(found, active), coloured=True)
        for index, (_task_id, task) in enumerate(results):
            if task is None:
                continue
            if index:
                echo("")
            for line in text.task_detail(
                task, status_of=statuses.get, paint=_paint, columns=_columns()
            ):
                echo(line, coloured=True)
    missing = [task_id for task_id, task in results if task is None]
    if missing:
        raise InputError(
            f"task {', '.join(missing)} not found in tag '{active}'; "
            "`tmxd list --with-subtasks` shows the ids"
        )


@click.command("set-status", short_help="Set task statuses; subtasks update their parent.")
@click.argument("args", nargs=-1, metavar="[ID STATUS]", shell_complete=_complete_id_then_status)
@click.option(
    "-i",
    "--id",
    "id_option",
    default=None,
    help="Task id(s): 5, 5.2 or 5,6.1.",
    shell_complete=complete_task_ids,
)
@click.option(
    "-s",
    "--status",
    "status_option",
    default=None,
    help="The new status.",
    shell_complete=complete_statuses,
)
@tag_option
@project_option
@format_option("text", "json")
def set_status_cmd(
    args: tuple[str, ...],
    id_option: str | None,
    status_option: str | None,
    tag: str | None,
    project: Path | None,
    fmt: str,
) -> None:
    """Set the status of tasks (`--id 5,6.1 --status done` or `5 done`).

    A subtask's change recomputes its parent as Task Master does (all subtasks done →
    done; any started → in-progress); a task's change never cascades to its subtasks.
    Statuses: pending, in-progress, done, deferred, cancelled, blocked, review.
    """
    from tmxd.history.observe import recording
    from tmxd.taskmaster import cli_json
    from tmxd.taskmaster.document import display_path
    from tmxd.taskmaster.ops import requested_changes, set_status, split_ids
    from tmxd.taskmaster.project import find_project
    from tmxd.taskmaster.store import TaskStore

    ids, status = _id_and_status(args, id_option, status_option)
    found = find_project(project)
    store = TaskStore(found)
    wanted = split_ids([ids])
    # recorded as source "tmxd"; a running daemon does not count the write again
    with recording(found.root, found.tasks_path, "tmxd"):
        changes = set_status(store, wanted, status, tag=tag)
    requested = requested_changes(wanted, changes)
    if fmt == "json":
        echo_json(
            cli_json.set_status_json([(c.task_id, c.old_status, c.new_status) for c in requested])
        )
        return
    _tag_header(found, store, tag)
    for change in changes:
        is_parent = not any(change is c for c in requested)
        prefix = "  parent " if is_parent else ""
        if change.changed:
            old = printable(f"{prefix}{change.task_id}: {change.old_status} → ")
            echo(old + _paint(change.new_status, change.new_status), coloured=True)
        else:
            echo(f"{change.task_id}: already {change.new_status} (nothing to change)")
    if any(c.changed for c in changes):
        echo(style(f"updated {display_path(found.tasks_path)}", dim=True), coloured=True)


def _tag_header(found: Project, store: TaskStore, tag: str | None) -> None:
    """After a write, ``tag: X · path`` (as ``list`` and ``show`` start) when the tag it
    went to is not obvious: --tag was given or the file has several tags. A file with one
    tag gets no header, so the common case prints what it always did."""
    from tmxd.errors import TmxdError

    try:
        tags = store.read().tag_names()
    except TmxdError:  # gone or broken since the write: the write itself was reported
        return
    if tag is not None or len(tags) > 1:
        echo(_header(found, found.active_tag(tag, tags)), coloured=True)


def _id_and_status(
    args: tuple[str, ...], id_option: str | None, status_option: str | None
) -> tuple[str, str]:
    positional = list(args)
    ids = id_option
    status = status_option
    if ids is None and positional:
        ids = positional.pop(0)
    if status is None and positional:
        status = positional.pop(0)
    usage = "`tmxd set-status ID STATUS` or `tmxd set-status --id ID --status STATUS`"
    if positional:
        extra = " ".join(repr(a) for a in positional)
        noun = "argument" if len(positional) == 1 else "arguments"
        raise click.UsageError(
            f"extra {noun} {extra}: set-status takes one ID and one STATUS "
            f"(several ids go in one comma list: 5,6.1): {usage}"
        )
    missing = [what for what, value in (("an ID", ids), ("a STATUS", status)) if not value]
    if missing:
        raise click.UsageError(f"missing {' and '.join(missing)}: {usage}")
    assert ids and status
    return ids, status


@click.command("update-subtask", short_help="Append a timestamped note to a subtask.")
@click.option(
    "-i", "--id", "task_id", required=True, help="Subtask id P.S.", shell_complete=complete_task_ids
)
@click.option("--prompt", "prompt", required=True, help="The text to append (taken as is).")
@tag_option
@project_option
@format_option("text", "json")
def update_subtask_cmd(
    task_id: str, prompt: str, tag: str | None, project: Path | None, fmt: str
) -> None:
    """Append a timestamped note to a subtask's details, in Task Master's format.

    Writes `<info added on ISO>`, the text, `</info added on ISO>` after the existing
    details, exactly as `task-master update-subtask` does — without calling an AI.
    ID must be a subtask's (`5.2`): Task Master refuses a top-level id, and so
    does tmxd (exit 2, nothing written).
    """
    from tmxd import clock
    from tmxd.errors import InputError
    from tmxd.taskmaster.document import display_path
    from tmxd.taskmaster.ops import append_note
    from tmxd.taskmaster.project import find_project
    from tmxd.taskmaster.store import TaskStore

    if "." not in task_id.strip():
        raise InputError(
            f'invalid subtask id {task_id.strip()!r}: update-subtask takes "parentId.subtaskId" '
            '(e.g. "5.2"), as Task Master does; nothing was written'
        )
    found = find_project(project)
    store = TaskStore(found)
    at = clock.now()
    append_note(store, task_id.strip(), prompt, tag=tag, at=at)
    if fmt == "json":
        echo_json(
            {
                "success": True,
                "taskId": task_id.strip(),
                "addedAt": clock.iso_ms(at),
                "text": prompt.strip(),
            }
        )
        return
    _tag_header(found, store, tag)
    echo(f"{task_id.strip()}: note added ({clock.iso_ms(at)})")
    echo(style(f"updated {display_path(found.tasks_path)}", dim=True), coloured=True)


@click.command(
    "validate-dependencies",
    short_help="Find missing, self and circular dependencies and duplicate ids.",
)
@click.option(
    "--like-cli",
    is_flag=True,
    help="Read a subtask's bare-number dependency as a top-level task id, as the "
    "Task Master CLI's check does (default: as a sibling subtask, as `next` does).",
)
@tag_option
@project_option
@format_option("text", "json")
def validate_dependencies_cmd(
    like_cli: bool, tag: str | None, project: Path | None, fmt: str
) -> None:
    """Report dependencies on missing tasks, on themselves, and cycles (exit 1 if any).

    Also reports ids used twice in the tag (only the first is reachable); the Task Master
    CLI does not, and --like-cli leaves them out.
    """
    from tmxd.taskmaster import text
    from tmxd.taskmaster.dependencies import count_checked, validate_dependencies, validation_json

    found, _store, doc, active = _open(project, tag)
    if fmt == "json":
        findings = validation_json(doc, active, cli_quirks=like_cli)
        echo_json(findings)
        if findings["issues"]:
            raise click.exceptions.Exit(1)
        return
    issues = validate_dependencies(doc, active, cli_quirks=like_cli)
    tasks, subtasks, deps = count_checked(doc, active)
    echo(_header(found, active), coloured=True)
    summary = f"{tasks} tasks, {subtasks} subtasks, {deps} dependencies checked"
    if not issues:
        echo(style("✓ ", fg="green") + f"no invalid dependencies ({summary})", coloured=True)
    else:
        for line in text.issues_table(issues):
            echo(line, coloured=True)
        echo("")
        echo(style("✗ ", fg="red") + f"{len(issues)} problem(s) ({summary})", coloured=True)
    if issues:
        raise click.exceptions.Exit(1)
