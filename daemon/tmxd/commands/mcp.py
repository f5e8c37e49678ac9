"""``tmxd mcp``: the MCP server Claude Code starts from .mcp.json."""

from __future__ import annotations

from pathlib import Path

import click

from tmxd.commands.common import project_option


@click.command("mcp")
@project_option
def mcp_command(project: Path | None) -> None:
    """Serve Task Master's tools (and tmxd's) over MCP on stdio.

    Claude Code starts it from .mcp.json (`tmxd init` writes the entry).
    Tools: get_tasks, next_task, get_task, set_task_status, update_subtask,
    validate_dependencies (Task Master's names and arguments, no AI), and
    ready_tasks, task_history, report_summary, autopilot_status. A call's
    projectRoot names its project; without one, -p, then $TMXD_PROJECT_ROOT,
    then $TASK_MASTER_PROJECT_ROOT, then $CLAUDE_PROJECT_DIR, then the current
    directory. stdout carries the protocol only; logs go to stderr.
    """
    from tmxd.mcp.server import serve

    raise click.exceptions.Exit(serve(project.resolve() if project else None))
