"""The ``tmxd init`` and ``tmxd doctor`` steps of ``tmxd demo``.

They run first: the throwaway project is wired to Claude Code and MCP the way a
user would do it (a dry run, the real run, a second run that changes nothing,
a commit of the new files), then ``tmxd start`` and ``tmxd doctor`` show the
checklist; the daemon is stopped again so the hooks' steps can show ``tmxd sync``.
"""

from __future__ import annotations

import sys

from tmxd.demo.context import DemoContext
from tmxd.proc import run_captured

INIT_FILES = (".mcp.json", ".claude", ".taskmaster/tmxd.toml", ".gitattributes")


def step_init(ctx: DemoContext) -> None:
    ctx.say("init merges its own entries into .mcp.json and .claude/settings.json, adds two")
    ctx.say("slash commands and a commented tmxd.toml; --dry-run shows a diff of each file.")
    ctx.echo("$ tmxd init --dry-run   (its summary; the diff of each file is left out)")
    proc = run_captured(
        [sys.executable, "-m", "tmxd", "init", "--dry-run"], cwd=ctx.root, env=ctx.env
    )
    added = sum(
        1 for line in proc.stdout.splitlines() if line.startswith("+") and "+++" not in line
    )
    for line in proc.stdout.splitlines():
        if ": would " in line or line.startswith("tmxd "):
            ctx.echo("    " + line)
    ctx.echo(f"    ({added} lines added in all, no API key value among them)")
    ctx.tmxd("init", "--yes")
    ctx.say("A second run changes nothing:")
    ctx.tmxd("init")
    ctx.git("add", *INIT_FILES)
    ctx.git("commit", "-q", "-m", "Wire the project to Claude Code and MCP (tmxd init)")


def step_doctor(ctx: DemoContext) -> None:
    ctx.say("Start the daemon as `tmxd init` suggests, then check every item of the debug")
    ctx.say("checklist; a problem would come with a one-line fix.")
    ctx.tmxd("start")
    try:
        proc = ctx.tmxd("doctor", check=False)
    finally:
        ctx.tmxd("stop", check=False)
    if proc.returncode != 0:
        ctx.say("(doctor exits 1 while a check fails; each failure names its fix.)")
    ctx.say("The next steps commit with the daemon stopped, to show `tmxd sync`; step")
    ctx.say('"The daemon" starts it again.')
