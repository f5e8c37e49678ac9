"""The git-hooks part of ``tmxd demo``: install the hooks, commit, and watch notes land."""

from __future__ import annotations

from tmxd.demo import DemoContext, demo_step


def _commit(ctx: DemoContext, name: str, text: str, *message: str) -> None:
    with open(ctx.root / name, "a", encoding="utf-8") as fh:
        fh.write(text)
    ctx.git("add", name)
    args: list[str] = []
    for part in message:
        args += ["-m", part]
    ctx.git("commit", "-q", *args)


@demo_step(100, "Git hooks: install them")
def step_install(ctx: DemoContext) -> None:
    ctx.say("Four POSIX sh hooks append one line per commit, checkout, merge or rewrite to a")
    ctx.say("spool in .git/tmxd and exit 0 — no Python while git waits. Hooks already there")
    ctx.say("would keep running first.")
    ctx.tmxd("hooks", "install")


@demo_step(110, "Commits land on their tasks: tmxd sync")
def step_commits(ctx: DemoContext) -> None:
    ctx.say("A commit names its task with [3.1] in the subject, or a `Task: 3.1` trailer.")
    _commit(ctx, "graph.py", "GRAPH = {}\n", "Add the graph data structure [3.1]")
    _commit(
        ctx,
        "graph.py",
        "def add_edge(a, b):\n    GRAPH.setdefault(a, []).append(b)\n",
        "Add edges",
        "Task: 3.1, 99",
    )
    ctx.tmxd("hooks", "status")
    ctx.say("tmxd sync (the daemon does it by itself) turns each commit into one note, in")
    ctx.say("update-subtask's format; id 99 does not exist, so it is reported, not created.")
    ctx.tmxd("sync")
    ctx.tmxd("show", "3.1")


@demo_step(120, "Amend moves the note; Closes-Task finishes the subtask")
def step_rewrite(ctx: DemoContext) -> None:
    ctx.say("Amending a commit rewrites its note to the new sha instead of adding another:")
    ctx.git("commit", "-q", "--amend", "-m", "Add edges to the graph", "-m", "Task: 3.1")
    ctx.tmxd("sync")
    ctx.tmxd("show", "3.1")
    ctx.say("A `Closes-Task:` trailer also sets the subtask done (the parent follows):")
    _commit(ctx, "graph.py", "# adjacency lists\n", "Document the graph", "Closes-Task: 3.1")
    ctx.tmxd("sync")
    ctx.tmxd("show", "3")
