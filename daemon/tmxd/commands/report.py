"""``tmxd report``: how the work really went, from the metrics database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tmxd.commands.common import echo, echo_formatted, format_option, tag_option
from tmxd.sanitize import printable


def db_option(func: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--db",
        "db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Metrics database to read (default: $TMXD_DB or metrics.db in the state dir); "
        "it must exist.",
    )(func)


def readable_db(db: Path | None) -> Path:
    """The database a read command reads: ``--db`` (which must exist: exit 2), else the default.

    The default may not exist yet (nothing recorded): readers then see an empty
    database, and no file is created.
    """
    from tmxd.errors import InputError
    from tmxd.paths import db_path

    if db is None:
        return db_path()
    if not db.is_file():
        raise InputError(
            f"{db}: no such metrics database; check --db (tmxd creates its database "
            "at $TMXD_DB or in the state dir when it first records)"
        )
    return db


_ROLES: dict[str, dict[str, Any]] = {
    "heading": {"bold": True},
    "title": {"bold": True, "fg": "cyan"},
    "header": {"bold": True},
    "rule": {"dim": True},
    "trend": {"fg": "green"},
    "note": {"dim": True},
}


def _terminal(output: Path | None) -> tuple[int | None, Any]:
    """(width to fit, paint) for text going to this terminal; none for a file."""
    import os
    import shutil
    import sys

    from tmxd.commands.common import use_color
    from tmxd.metrics.render import no_paint

    if output is not None:
        return None, no_paint
    columns = None
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        columns = shutil.get_terminal_size((100, 24)).columns
    if not use_color():
        return columns, no_paint
    return columns, lambda role, text: click.style(printable(text), **_ROLES.get(role, {}))


@click.command("report")
@click.option("--since", default=None, help="Start: a span back from now (7d, 12h) or a date.")
@click.option("--until", default=None, help="End (default: now); a date includes that day.")
@click.option(
    "-p",
    "--project",
    "project",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Only this project (default: the project found from the current directory).",
)
@click.option(
    "--all-projects",
    is_flag=True,
    help="Every project in the database (the default outside any project).",
)
@tag_option
@click.option("--task", "task", default=None, help="Only this task and its subtasks.")
@format_option("text", "json", "markdown", "html")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output (its folder must exist).",
)
@click.option(
    "--stale-hours",
    type=float,
    default=None,
    help="In progress this long without a commit counts as stale "
    "(default: [metrics] stale_hours of --project, else 24).",
)
@db_option
def report_command(
    since: str | None,
    until: str | None,
    project: Path | None,
    all_projects: bool,
    tag: str | None,
    task: str | None,
    fmt: str,
    output: Path | None,
    stale_hours: float | None,
    db: Path | None,
) -> None:
    """Summarise transitions, commits and agent runs.

    Covers the project found from the current directory (or -p), or every
    project with --all-projects. Shows the summary (total tasks = agent
    executions, success rate, average execution time, average tool calls,
    total time; tasks in project, changed and done), tasks done per day,
    status now vs at --since, lead and cycle time, time per status, slowest
    and most-retried tasks, failure reasons, commits per task, stale work,
    tokens and cost. Times are shown in local time; docs/metrics.md defines
    every figure.
    """
    from tmxd import clock
    from tmxd.metrics.files import check_folder, write_report
    from tmxd.metrics.render import no_paint, render_report
    from tmxd.metrics.report import ReportQuery, load_report
    from tmxd.metrics.timespec import parse_window

    scope = report_scope(project, all_projects)
    if stale_hours is None:
        from tmxd.metrics.settings import METRICS

        stale_hours = METRICS.load(scope).stale_hours if scope else 24.0
    now = clock.now()
    start, end = parse_window(since, until, now=now)
    if output is not None:
        check_folder(output)  # before the work, not after it
    query = ReportQuery(
        since=start,
        until=end,
        project=scope,
        tag=tag,
        task=task,
        stale_hours=stale_hours,
        now=now,
    )
    columns, paint = _terminal(output)
    text = render_report(load_report(readable_db(db), query), fmt, columns=columns, paint=paint)
    if output is None:
        echo_formatted(text, fmt, nl=False, coloured=paint is not no_paint)
    else:
        write_report(output, text)
        echo(f"wrote {output}", err=True)


def report_scope(project: Path | None, all_projects: bool) -> Path | None:
    """The project a report covers: ``-p``, else the one around the current directory;
    None (every project) with ``--all-projects`` or outside any project."""
    from tmxd.errors import InputError
    from tmxd.taskmaster.project import find_project

    if all_projects:
        if project is not None:
            raise InputError("-p/--project and --all-projects exclude each other; pick one")
        return None
    if project is not None:
        try:
            return find_project(explicit=project).root
        except InputError:
            return project.resolve()  # e.g. a project folder since removed: its records
    try:
        return find_project().root
    except InputError:
        return None
