"""The task store's steps of ``tmxd demo``: list, next, set-status and its cascade,
update-subtask, and the minimal diff all that left in git."""

from __future__ import annotations

from tmxd import git
from tmxd.demo.context import DemoContext


def step_list(ctx: DemoContext) -> None:
    ctx.say("tmxd reads Task Master's tasks.json directly — no Node, no AI key.")
    ctx.tmxd("list", "--with-subtasks")


def step_next(ctx: DemoContext) -> None:
    ctx.say("Same choice as `task-master next`: ready subtasks of in-progress tasks first.")
    ctx.tmxd("next")


def step_set_status(ctx: DemoContext) -> None:
    ctx.say("Marking the last open subtask of task 2 done also finishes task 2,")
    ctx.say("as Task Master's set-status does.")
    ctx.tmxd("set-status", "2.2", "done")
    ctx.say("Starting a subtask moves its parent to in-progress:")
    ctx.tmxd("set-status", "--id", "3.1", "--status", "in-progress")


def step_update_subtask(ctx: DemoContext) -> None:
    ctx.say("The note lands in the subtask's details in Task Master's own format.")
    ctx.tmxd("update-subtask", "--id", "3.1", "--prompt", "Adjacency lists keyed by full id.")
    ctx.tmxd("show", "3.1")


def step_git_diff(ctx: DemoContext) -> None:
    ctx.say("Only the changed values moved; everything else in tasks.json is byte-identical.")
    ctx.git("diff", "--stat")
    ctx.git("diff", "-U1")
    dirty = git.decode(git.run_git(ctx.root, ["status", "--porcelain"], env=ctx.env).stdout)
    if dirty.strip():
        ctx.git("commit", "-q", "-am", "Finish the config loader, start the graph engine")
        ctx.say("Committed, so the next steps start from a clean tree.")
