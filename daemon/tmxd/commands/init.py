"""``tmxd init``, ``tmxd hook claude`` and ``tmxd doctor``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from tmxd.commands.common import echo, echo_json, format_option, project_option, style
from tmxd.errors import EXIT_FAILED, InputError
from tmxd.sanitize import printable

if TYPE_CHECKING:
    from tmxd.setup.scaffold import Plan


@click.command("init")
@project_option
@click.option("-y", "--yes", is_flag=True, help="Write without asking.")
@click.option("--dry-run", is_flag=True, help="Print a diff of every file init would touch.")
@click.option("--force", is_flag=True, help="Replace slash command files that differ from tmxd's.")
@click.option(
    "--with",
    "with_servers",
    multiple=True,
    type=click.Choice(["filesystem", "git"]),
    help="Also add this MCP server to .mcp.json (repeatable).",
)
@format_option("text", "json")
def init_command(
    project: Path | None,
    yes: bool,
    dry_run: bool,
    force: bool,
    with_servers: tuple[str, ...],
    fmt: str,
) -> None:
    """Wire this Task Master project to Claude Code, MCP and tmxd.

    Merges tmxd's MCP server (`tmxd mcp`) and Task Master's (limited to its
    AI tools) into .mcp.json, permissions and
    recording hooks into .claude/settings.json, adds the /taskmaster-workflow
    and /taskmaster-debug slash commands and a commented .taskmaster/tmxd.toml
    (with the daemon's cascade after outside edits on, and the desktop
    notifier as the [notify] command when it is on PATH), then installs the
    git hooks, routes tasks.json to `tmxd merge-driver` and registers the
    project with the daemon. Existing content is kept; running init twice
    changes nothing.
    """
    from tmxd.setup import scaffold

    root = scaffold.find_root(project)
    plan = scaffold.plan(root, scaffold.Options(with_servers=with_servers, force=force))
    for warning in plan.warnings:
        echo(style(f"warning: {warning}", fg="yellow"), err=True, coloured=True)
    if dry_run:
        steps = [*scaffold.git_steps(root, True), scaffold.register_project(root, True)]
        if fmt == "json":
            echo_json(_plan_json(plan, root, steps, dry_run=True))
            return
        for change in plan.pending:
            echo(change.diff(root), nl=False)
        _summary(plan, root, prefix="would ")
        for step in steps:
            echo(f"{step.name}: {step.message}")
        return
    if plan.pending and not yes:
        if not sys.stdin.isatty():
            raise InputError(
                "tmxd init: not asking on a non-interactive input; pass --yes to write, "
                "or --dry-run to see the changes"
            )
        _summary(plan, root, prefix="will ")
        click.confirm("Write these files?", abort=True)
    scaffold.apply(plan.changes)
    steps = [*scaffold.git_steps(root), scaffold.register_project(root)]
    failed = any(step.ok is False for step in steps)
    if fmt == "json":
        echo_json(_plan_json(plan, root, steps, dry_run=False))
    else:
        _summary(plan, root)
        for step in steps:
            mark = {True: "ok", False: "failed", None: "skipped"}[step.ok]
            echo(f"{step.name}: {mark}: {step.message.removeprefix('skipped: ')}")
        if not failed:
            echo(_next_step(steps))
    if failed:
        raise click.exceptions.Exit(EXIT_FAILED)


def _next_step(steps: list[Any]) -> str:
    """What to do next: start the daemon, unless a running one watches the project now."""
    from tmxd.setup.scaffold import WATCHED

    if any("the running daemon (pid" in s.message and WATCHED in s.message for s in steps):
        return "next: `tmxd doctor`"
    return "next: `tmxd start` (or `tmxd service install`), then `tmxd doctor`"


def _plan_json(plan: Plan, root: Path, steps: list[Any], *, dry_run: bool) -> dict[str, Any]:
    """init's plan (or what it did) as one object: files with their diffs, then the steps."""
    return {
        "dry_run": dry_run,
        "root": str(root),
        "files": [
            {
                "path": change.path.relative_to(root).as_posix(),
                "action": "kept" if change.note == "kept" else change.action,
                "diff": change.diff(root) if change.changed else "",
            }
            for change in plan.changes
        ],
        "steps": [{"name": s.name, "ok": s.ok, "message": s.message} for s in steps],
        "warnings": list(plan.warnings),
    }


def _summary(plan: Plan, root: Path, prefix: str = "") -> None:
    verbs = {"create": "create", "update": "update", "unchanged": "unchanged"}
    for change in plan.changes:
        rel = change.path.relative_to(root).as_posix()
        action = "kept (yours differs)" if change.note == "kept" else verbs[change.action]
        if action in ("create", "update"):
            action = prefix + action if prefix else action + "d"
        echo(f"{rel}: {action}")


@click.group("hook")
def hook_group() -> None:
    """Entry points called by other tools' hooks (not for interactive use)."""


@hook_group.command("claude")
def hook_claude_command() -> None:
    """Record one Claude Code hook event read as JSON from stdin.

    Installed by `tmxd init` for PostToolUse, PostToolUseFailure, Stop and
    SessionEnd. Always exits 0 and prints nothing on stdout; reads at most
    10 MB for at most 2 s, and never waits long for a busy database (the
    event goes to the journal, ingested later).
    """
    from tmxd.setup.claude_hook import main

    if sys.stdin is None:  # closed (`<&-`)
        raise click.exceptions.Exit(main(None))
    if sys.stdin.isatty():
        echo(
            "tmxd hook claude: reads a Claude Code hook event as JSON on stdin; "
            "it is run by the hooks `tmxd init` installs",
            err=True,
        )
        return
    raise click.exceptions.Exit(main(sys.stdin.buffer))


@click.command("doctor")
@project_option
@format_option("text", "json")
def doctor_command(project: Path | None, fmt: str) -> None:
    """Check this project's tmxd setup; print a one-line fix for each problem.

    Exit 1 when any check fails (warnings do not count).
    """
    from tmxd.setup.doctor import run_checks

    results = run_checks(project)
    if fmt == "json":
        echo_json(
            {
                "ok": not any(r.status == "fail" for r in results),
                "checks": [r.as_dict() for r in results],
            }
        )
    else:
        colours = {"ok": "green", "warn": "yellow", "fail": "red"}
        for r in results:
            mark = style(f"{r.status:<4}", fg=colours[r.status])
            echo(f"{mark} " + printable(f"{r.name}: {r.summary}"), coloured=True)
            if r.status != "ok" and r.fix:
                echo(f"     fix: {r.fix}")
    if any(r.status == "fail" for r in results):
        raise click.exceptions.Exit(EXIT_FAILED)
