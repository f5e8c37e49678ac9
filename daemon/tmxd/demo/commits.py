"""The git-hooks part of ``tmxd demo``: install the hooks, commit, and watch notes land.

The commits name task 4 ("Write user docs") so that the subtasks of task 3 stay
as the earlier steps left them for the daemon's and the autopilot's steps.
"""

from __future__ import annotations

from tmxd.demo.context import DemoContext


def commit(ctx: DemoContext, name: str, text: str, *message: str) -> None:
    """Append ``text`` to ``name``, stage it and commit with the ``-m`` paragraphs given."""
    with open(ctx.root / name, "a", encoding="utf-8") as fh:
        fh.write(text)
    ctx.git("add", name)
    args: list[str] = []
    for part in message:
        args += ["-m", part]
    ctx.git("commit", "-q", *args)


def step_install(ctx: DemoContext) -> None:
    ctx.say("`tmxd init` installed four POSIX sh hooks: they append one line per commit,")
    ctx.say("checkout, merge or rewrite to a spool in .git/tmxd and exit 0 — no Python while")
    ctx.say("git waits. Hooks already there would keep running first.")
    ctx.tmxd("hooks", "status")


def step_commits(ctx: DemoContext) -> None:
    ctx.say("A commit names its task with [4] in the subject, or a `Task: 4` trailer.")
    commit(ctx, "docs.md", "# User guide\n", "Outline the user guide [4]")
    commit(ctx, "docs.md", "## Install\n\npipx install tmxd\n", "Install", "Task: 4, 99")
    ctx.tmxd("hooks", "status")
    ctx.say("tmxd sync (the daemon does it by itself) turns each commit into one note, in")
    ctx.say("update-subtask's format; id 99 does not exist, so it is reported, not created.")
    ctx.tmxd("sync")
    ctx.tmxd("show", "4")


def step_rewrite(ctx: DemoContext) -> None:
    ctx.say("Amending a commit rewrites its note to the new sha instead of adding another:")
    ctx.git("commit", "-q", "--amend", "-m", "Document installation", "-m", "Task: 4")
    ctx.tmxd("sync")
    ctx.tmxd("show", "4")
    ctx.say("A `Closes-Task:` trailer also sets the task done (a subtask's parent follows):")
    commit(ctx, "docs.md", "## Tutorial\n", "Add the tutorial", "Closes-Task: 4")
    ctx.tmxd("sync")
