"""``tmxd hooks install|uninstall|status`` and ``tmxd sync``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tmxd.commands.common import echo, echo_json, format_option, project_option, style, tag_option
from tmxd.errors import InputError


def _where(project: Path | None) -> Path:
    return project if project is not None else Path.cwd()


@click.group("hooks")
def hooks_group() -> None:
    """Git hooks that put every commit on its task.

    post-commit, post-merge, post-checkout and post-rewrite append one line to
    a spool in the repository's git dir and exit 0; `tmxd sync` (or the
    daemon) turns the lines into task notes. Hooks already there keep running.
    """


@hooks_group.command("install")
@project_option
@click.option(
    "--force",
    is_flag=True,
    help="Install even into a core.hooksPath folder shared with other repositories.",
)
@click.option(
    "--suggest-trailer",
    is_flag=True,
    help="Also install prepare-commit-msg: offer a commented `# Task: <id>` line "
    "for the single task in progress.",
)
def install_cmd(project: Path | None, force: bool, suggest_trailer: bool) -> None:
    """Install the hooks (chaining any hook already there). Safe to repeat.

    Also routes tasks.json to `tmxd merge-driver` (a .gitattributes line and the
    repository's git config), so branches merge it by task instead of by line.
    """
    from tmxd.commits import hooks, merge_driver
    from tmxd.taskmaster.project import find_project

    changes = hooks.install(_where(project), force=force, suggest_trailer=suggest_trailer)
    for change in changes:
        note = {
            "chained": f"installed; the previous hook is kept as {change.hook}"
            f"{hooks.CHAINED_SUFFIX} and runs first",
        }.get(change.action, change.action)
        echo(f"{change.hook:<19} {note}")
    if changes:
        echo(f"hooks folder: {changes[0].path.parent}")
    try:
        found = find_project(cwd=_where(project))
    except InputError:
        echo("merge driver: not set up: no Task Master project here")
    else:
        echo(f"merge driver: {merge_driver.register(found).summary}")


@hooks_group.command("uninstall")
@project_option
def uninstall_cmd(project: Path | None) -> None:
    """Remove tmxd's hooks; put back the hooks that were there before.

    Also removes the merge driver: the merge.tmxd-tasks section of the repository's
    git config, and the line routing tasks.json to it from .gitattributes (only that
    line; commit the change, or `git checkout .gitattributes` to keep it for others)
    and from the repository's info/attributes.
    """
    from tmxd.commits import hooks, merge_driver

    for change in hooks.uninstall(_where(project)):
        note = {
            "foreign": "not tmxd's; left alone",
            "restored": "removed; the previous hook is back",
            "absent": "not installed",
        }.get(change.action, change.action)
        echo(f"{change.hook:<19} {note}")
    try:
        removed = merge_driver.unregister(_where(project))
    except InputError as exc:
        echo(f"merge driver: left alone: {exc.message}")
    else:
        echo(f"merge driver: {removed.summary}")


@hooks_group.command("status")
@project_option
@format_option("text", "json")
def status_cmd(project: Path | None, fmt: str) -> None:
    """Show each hook's state and how many events wait in the spool.

    States: installed, chained (a previous hook runs first), outdated (re-run
    install), foreign (another tool's hook; ours is not installed), missing.
    Also counts the commits that named no task and found none or several
    tasks in progress, so went to no task.
    """
    from tmxd.commits import hooks
    from tmxd.commits.sync import unlinked_commits

    st = hooks.status(_where(project))
    unlinked = [entry.unlinked for entry in unlinked_commits(_where(project))]
    if fmt == "json":
        echo_json(
            {
                **_status_json(st),
                "unlinked": {
                    "total": len(unlinked),
                    "none_in_progress": unlinked.count(0),
                    "several_in_progress": len(unlinked) - unlinked.count(0),
                },
            }
        )
        return
    echo(f"hooks folder: {st.hooks_dir}")
    if st.hooks_path is not None:
        shared = " (shared with other repositories)" if st.shared else ""
        echo(f"core.hooksPath: {st.hooks_path.value} [{st.hooks_path.scope}]{shared}")
    colours = {"installed": "green", "chained": "green", "outdated": "yellow", "foreign": "red"}
    for h in st.hooks:
        label = style(h.state, fg=colours.get(h.state, "red" if not h.optional else None))
        extra = " (optional: --suggest-trailer)" if h.optional and h.state == "missing" else ""
        echo(f"{h.hook:<19} {label}{extra}", coloured=True)  # hook names and states are ours
    echo(f"spool: {st.spool_dir} — {st.pending} unprocessed line(s)")
    if st.pending:
        echo(_pending_advice(project))
    if unlinked:
        none = unlinked.count(0)
        echo(
            f"unlinked: {len(unlinked)} commit(s) named no task while not exactly one task "
            f"was in progress ({none} with none, {len(unlinked) - none} with several); "
            "name the task with a `Task: <id>` trailer"
        )
    if any(h.state in ("missing", "outdated") and not h.optional for h in st.hooks):
        echo("run `tmxd hooks install` to install or refresh the hooks")


def _pending_advice(project: Path | None) -> str:
    """What to do about hook events waiting in the spool."""
    from tmxd.daemon import control
    from tmxd.errors import TmxdError
    from tmxd.taskmaster.project import find_project
    from tmxd.taskmaster.store import TaskStore

    try:
        found = find_project(project)
    except TmxdError:
        found = None
    if found is not None and found.tasks_path.exists():
        try:
            TaskStore(found).read()
        except TmxdError as exc:
            return f"they wait for tasks.json: {exc.message}; they are noted once it reads again"
    if control.is_running(timeout=2.0):
        return "the running daemon processes them in a moment (`tmxd sync` does it now)"
    return "run `tmxd sync` (or start the daemon) to process them"


def _status_json(st: Any) -> dict[str, Any]:
    return {
        "hooks_dir": str(st.hooks_dir),
        "core_hooks_path": None
        if st.hooks_path is None
        else {"value": st.hooks_path.value, "scope": st.hooks_path.scope, "shared": st.shared},
        "hooks": {h.hook: h.state for h in st.hooks},
        "spool_dir": str(st.spool_dir),
        "pending": st.pending,
        "fallback_spool": str(st.fallback),
    }


@click.command("sync")
@project_option
@tag_option
@click.option("--no-metrics", is_flag=True, help="Do not record commits and events in metrics.db.")
@format_option("text", "json")
def sync_cmd(project: Path | None, tag: str | None, no_metrics: bool, fmt: str) -> None:
    """Process pending hook events now: commits become task notes (no daemon needed).

    Closes-Task:/Fixes-Task: trailers also set the tasks done. Ids that do not
    exist are reported, never created. Safe to run any time: each commit counts once.
    """
    from tmxd.commits.sync import sync_project
    from tmxd.taskmaster.project import find_project

    found = find_project(project)
    if no_metrics:
        result = sync_project(found, tag=tag)
    else:
        from tmxd.history.observe import attributed
        from tmxd.metrics.recorder import Recorder

        # sync records its own (commit) transitions, each with the snapshot ledger's step,
        # so neither a running daemon nor a crash mid-pass counts the same write again
        with (
            Recorder.open() as recorder,
            attributed(
                found.root, found.tasks_path, "commit", recorder, others="external"
            ) as scope,
        ):
            result = sync_project(found, recorder, tag=tag, record_status=scope.record)
    if fmt == "json":
        echo_json(result.to_json())
        return
    _print_sync(result)


def _print_sync(result: Any) -> None:
    if not result.lines:
        echo("nothing to sync: no hook events waiting")
        return
    echo(f"{result.lines} hook event(s); {len(result.commits)} new commit(s)")
    for n in result.notes_added:
        only = " (the only task in progress)" if n.inferred else ""
        echo(f"  note   {n.task_id:<8} {n.sha[:7]}{only}")
    for m in result.notes_moved:
        echo(f"  moved  {m.task_id:<8} {m.old_sha[:7]} -> {m.new_sha[:7]}")
    for k in result.notes_kept:
        echo(f"  kept   {k.task_id:<8} {k.old_sha[:7]}: {k.why}")
    for c in result.closed:
        echo(f"  status {c.task_id:<8} {c.old_status} -> {c.new_status} ({c.sha[:7]})")
    for n in result.unlinked:
        echo(f"  no task {n.sha[:7]}: named none, and {n.in_progress} tasks are in progress")
    for t in result.misread:
        echo(f"  trailer {t.sha[:7]}: {t.written!r} is not read as a task link; {t.meant!r} is")
    for u in result.unknown_ids:
        echo(f"  unknown task id {u.task_id!r} in {u.sha[:7]}: not created")
    for e in result.events:
        what = e.get("operation") or e["kind"]
        echo(f"  event  {what}" + (f" ({e['branch']})" if e.get("branch") else ""))
    for err in result.errors:
        echo(f"warning: {err}", err=True)
