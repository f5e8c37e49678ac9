"""The workflow steps of ``tmxd demo``: the daemon advancing the plan on its own.

Four steps, each with a real daemon started for it (``tmxd start`` … ``tmxd stop``, in
the demo's private state): a commit naming no task goes to the one task in progress
(and to none when two are); an editor finishing the last subtask of a task makes the
parent done (``cascade``); a task made ready runs the project's ``[notify]`` command,
here a script that writes down its arguments; and the one stale rule, seen through
``tmxd report``. They run last: they start and finish tasks of their own, and take
the one subtask left in progress (5.1) to done, so the steps before are not affected.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tmxd import clock, git
from tmxd.demo.commits import commit
from tmxd.demo.context import DemoContext
from tmxd.demo.daemon import add_task, demo_locations, wait_until, watching
from tmxd.errors import TmxdError
from tmxd.fsutil import write_atomic
from tmxd.proc import run_captured
from tmxd.taskmaster.project import find_project
from tmxd.taskmaster.store import TaskStore

NOTIFY_SCRIPT = """\
#!/bin/sh
# tmxd demo: a notify command that writes down each argument it gets, one per line
log="$(dirname "$0")/notified.txt"
printf '%s\\n' '--- a notice:' >> "$log"
for arg in "$@"; do printf '  [%s]\\n' "$arg" >> "$log"; done
"""


def step_unnamed_commits(ctx: DemoContext) -> None:
    ctx.say("A commit that names no task goes to the one task in progress (a subtask, or a")
    ctx.say("task without subtasks), its note saying so; [links] infer_in_progress = false")
    ctx.say("turns that off.")
    with running_daemon(ctx) as log:
        ctx.tmxd("list", "--status", "in-progress", "--with-subtasks")
        only = _leaves_in_progress(ctx)
        # git dates a commit to the second, and a task that left in-progress in the commit's
        # second still counts for it: let the autopilot's last change be a second older
        started = int(clock.now().timestamp())
        wait_until(lambda: int(clock.now().timestamp()) > started, "the next second")
        sha = _commit(ctx, "packaging.md", "# Packaging\n", "Describe the wheel build")
        if len(only) == 1:
            wait_until(lambda: sha[:7] in _details(ctx, only[0]), "the commit's note")
            ctx.say(f"The note on {only[0]}:")
            for line in _details(ctx, only[0]).splitlines():
                if sha[:7] in line:
                    ctx.say(f"    {line}")
        ctx.say("With two tasks in progress tmxd does not guess. An editor starts another one:")
        add_task(ctx.tasks_path, _tag(ctx), title="Sort the imports")
        wait_until(lambda: len(_leaves_in_progress(ctx)) >= 2, "the second task in progress")
        other = _commit(ctx, "packaging.md", "isort\n", "Tidy up")
        wait_until(lambda: f"commit {other[:7]} names no task" in log(), "the unlinked commit")
        ctx.say("The daemon says (from its log):")
        _show_log(ctx, log(), ("note for commit", "names no task"))
        ctx.say("and `tmxd hooks status` counts such commits (the demo's earlier ones too):")
        ctx.tmxd("hooks", "status")


def step_cascade(ctx: DemoContext) -> None:
    ctx.say("`task-master set-status` makes a parent done with its last subtask; an editor or")
    ctx.say("an MCP server may not. tmxd init turned the daemon's cascade on for the project")
    ctx.say("(a project only registered with `tmxd watch add` keeps it off):")
    if "cascade_external = true" not in ctx.config_text():
        ctx.tmxd("init", "--yes")
    for line in ctx.config_text().splitlines():
        if "cascade_external" in line and not line.startswith("# when"):
            ctx.say(f"    {line}")
    with running_daemon(ctx) as log:
        parent, sub = _open_parent(ctx)
        ctx.say(f"An editor sets subtask {sub}, the last one open, done, and saves:")
        _edit_status(ctx, sub, "done")
        wait_until(lambda: _status(ctx, parent) == "done", "the parent to follow")
        wait_until(lambda: "(cascade)" in log(), "the cascade in the log")
        ctx.say("The daemon (one locked, minimal write; recorded as source `cascade`):")
        _show_log(ctx, log(), (" -> ",))


def step_notify(ctx: DemoContext) -> None:
    ctx.say("[notify] runs a command of yours on task-ready, task-stale, autopilot-done,")
    ctx.say("autopilot-blocked and breaker-open: an argv list, each {placeholder} replaced")
    ctx.say("inside its own argument, never through a shell. tmxd init put the desktop")
    ctx.say("notifier there if it found one; the demo uses a script that writes down what")
    ctx.say("it gets instead:")
    script = Path(ctx.env["TMXD_STATE_DIR"]).parent / "notify-log.sh"
    write_atomic(script, NOTIFY_SCRIPT)
    script.chmod(0o700)
    ctx.set_option("notify", "command", [str(script), "{event}", "{task}", "{title}", "{message}"])
    for line in ctx.config_text().split("[notify]", 1)[1].splitlines():
        if line.startswith(("command", "on")):
            ctx.say(f"    {line}")
    with running_daemon(ctx):
        first = add_task(ctx.tasks_path, _tag(ctx), title="Write the changelog")
        title = 'Tag the release "v1.0"; $(say hi)'
        second = _add_waiting_task(ctx, title, first)
        ctx.say(f"An editor added task {first} and task {second}, which waits for it.")
        _commit(ctx, "CHANGELOG.md", "## 1.0\n", "Write the changelog", f"Closes-Task: {first}")
        notified = script.with_name("notified.txt")
        wait_until(lambda: notified.exists() and "task-ready" in notified.read_text(), "it")
        ctx.say(f"Task {second} became ready; the script got (a title of quotes and $(...)")
        ctx.say("is one argument, never run):")
        for line in notified.read_text(encoding="utf-8").splitlines():
            ctx.say(f"    {line}")


def step_stale(ctx: DemoContext) -> None:
    ctx.say("Stale work, one rule for the daemon's hourly check and the report: in progress")
    ctx.say("for [metrics] stale_hours (24 by default) with no commit linked to the task (or")
    ctx.say("a subtask) in that time. The daemon logs it once and runs the notify command")
    ctx.say("(task-stale). With 0 hours every task in progress shows, with its last commit:")
    ctx.echo("$ tmxd report --since 1d --stale-hours 0   (its stale section)")
    argv = [sys.executable, "-m", "tmxd", "report", "--since", "1d", "--stale-hours", "0"]
    lines = run_captured(argv, cwd=ctx.root, env=ctx.env).stdout.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Stale in progress"), None)
    if start is None:
        ctx.say("    (no task in progress recorded)")
        return
    for line in lines[start:]:
        if not line.strip():
            break
        ctx.say(f"    {line}")


# -- helpers -------------------------------------------------------------------


@contextlib.contextmanager
def running_daemon(ctx: DemoContext) -> Iterator[Any]:
    """``tmxd start`` … ``tmxd stop`` around the block; yields a reader of the new log lines."""
    from tmxd.commits import hooks
    from tmxd.daemon import registry

    log_file = Path(ctx.env["TMXD_STATE_DIR"]) / "daemon.log"
    with demo_locations(ctx.env):
        hooks.install(ctx.root)  # done by earlier steps; here for a step run on its own
        registry.add_project(ctx.root)
    offset = log_file.stat().st_size if log_file.exists() else 0

    def new_lines() -> str:
        try:
            with open(log_file, "rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", errors="replace")
        except OSError:
            return ""

    ctx.tmxd("start")
    try:
        with demo_locations(ctx.env):
            wait_until(watching, "the daemon to watch the project")
            yield new_lines
    finally:
        ctx.tmxd("stop", check=False)


def _show_log(ctx: DemoContext, text: str, wanted: tuple[str, ...]) -> None:
    root = str(ctx.root.resolve())
    for line in text.splitlines():
        if ": " in line and any(w in line for w in wanted):
            ctx.say("    " + line.split(": ", 1)[1].replace(f"{root}: ", ""))


def _commit(ctx: DemoContext, name: str, text: str, *message: str) -> str:
    """:func:`tmxd.demo.commits.commit`; returns the new commit's sha."""
    commit(ctx, name, text, *message)
    return git.decode(git.run_git(ctx.root, ["rev-parse", "HEAD"], env=ctx.env).stdout).strip()


def _read(ctx: DemoContext) -> Any:
    project = find_project(explicit=ctx.root)
    doc = TaskStore(project).read()
    return doc, project.active_tag(None, doc.tag_names())


def _tag(ctx: DemoContext) -> str:
    return str(_read(ctx)[1])


def _leaves_in_progress(ctx: DemoContext) -> list[str]:
    from tmxd.taskmaster.ops import leaves_in_progress

    with contextlib.suppress(TmxdError):
        doc, tag = _read(ctx)
        return leaves_in_progress(doc, tag)
    return []


def _details(ctx: DemoContext, task_id: str) -> str:
    with contextlib.suppress(TmxdError):
        doc, tag = _read(ctx)
        task = doc.find(task_id, tag)
        return str(task.details) if task is not None else ""
    return ""


def _status(ctx: DemoContext, task_id: str) -> str | None:
    with contextlib.suppress(TmxdError):
        doc, tag = _read(ctx)
        task = doc.find(task_id, tag)
        return task.status if task is not None else None
    return None


def _open_parent(ctx: DemoContext) -> tuple[str, str]:
    """A task not done whose subtasks are all done but one: (its id, that subtask's id)."""
    doc, tag = _read(ctx)
    for task in doc.tasks(tag):
        open_subs = [s for s in task.subtasks if s.status != "done"]
        if task.status != "done" and len(open_subs) == 1:
            return task.id, open_subs[0].id
    raise TmxdError("demo: no task with exactly one open subtask left for the cascade step")


def _edit_status(ctx: DemoContext, task_id: str, status: str) -> None:
    """What an editor does: change one status in the JSON, save (temp file, rename)."""
    data: Any = json.loads(ctx.tasks_path.read_text(encoding="utf-8"))
    tag = _tag(ctx)
    parent_id, _, sub_id = task_id.partition(".")
    tasks = data[tag]["tasks"] if tag in data else data["tasks"]
    task = next(t for t in tasks if str(t["id"]) == parent_id)
    target = next(s for s in task["subtasks"] if str(s["id"]) == sub_id) if sub_id else task
    target["status"] = status
    write_atomic(ctx.tasks_path, json.dumps(data, indent=2, ensure_ascii=False))


def _add_waiting_task(ctx: DemoContext, title: str, depends_on: str) -> str:
    """An editor adds a pending task that waits for ``depends_on``; returns its id."""
    new_id = add_task(ctx.tasks_path, _tag(ctx), title=title)
    data: Any = json.loads(ctx.tasks_path.read_text(encoding="utf-8"))
    tag = _tag(ctx)
    tasks = data[tag]["tasks"] if tag in data else data["tasks"]
    task = next(t for t in tasks if str(t["id"]) == new_id)
    task.update(status="pending", dependencies=[int(depends_on)])
    write_atomic(ctx.tasks_path, json.dumps(data, indent=2, ensure_ascii=False))
    return new_id
