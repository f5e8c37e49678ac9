"""The ``tmxd`` command line: a thin click layer over plain functions.

A command imports only what it runs: :data:`COMMANDS` maps each command name to the
module under ``tmxd.commands`` that defines it, and :class:`LazyGroup` imports that
module when the command is invoked. ``tmxd --help`` lists every command from the map
alone (a test keeps each summary equal to the command's own help), so ``tmxd next``
never loads the daemon, the metrics or the autopilot.
"""

from __future__ import annotations

import importlib
import io
import os
import sys
from collections.abc import Sequence
from typing import NamedTuple

import click

from tmxd import __version__
from tmxd.errors import EXIT_BROKEN_PIPE, EXIT_USAGE, TmxdError
from tmxd.sanitize import printable


class Entry(NamedTuple):
    module: str  # under tmxd.commands
    attribute: str  # the click command in it
    summary: str  # what `tmxd --help` shows: the short help, or the help's first paragraph
    short_help: bool = False  # ``summary`` is the command's ``short_help`` (never shortened)


COMMANDS: dict[str, Entry] = {
    "approve": Entry("autopilot", "approve_command", "Let a task waiting in review go on."),
    "autopilot": Entry(
        "autopilot",
        "autopilot_command",
        "Run ready tasks through the agent: in progress → agent → checks → done.",
    ),
    "demo": Entry(
        "demo", "demo_cmd", "A throwaway project that shows the whole loop.", short_help=True
    ),
    "doctor": Entry(
        "init",
        "doctor_command",
        "Check this project's tmxd setup; print a one-line fix for each problem.",
    ),
    "hook": Entry(
        "init", "hook_group", "Entry points called by other tools' hooks (not for interactive use)."
    ),
    "hooks": Entry("hooks", "hooks_group", "Git hooks that put every commit on its task."),
    "init": Entry(
        "init", "init_command", "Wire this Task Master project to Claude Code, MCP and tmxd."
    ),
    "list": Entry(
        "tasks", "list_cmd", "List tasks with their status and dependencies.", short_help=True
    ),
    "mcp": Entry("mcp", "mcp_command", "Serve Task Master's tools (and tmxd's) over MCP on stdio."),
    "merge-driver": Entry(
        "merge_driver",
        "merge_driver_cmd",
        "Merge tasks.json as tasks, not lines (git's merge driver); settle its conflicts.",
    ),
    "metrics": Entry(
        "metrics",
        "metrics_group",
        "Show what the metrics database holds, or export it for Prometheus.",
    ),
    "next": Entry(
        "tasks", "next_cmd", "The task to work on next (as task-master next).", short_help=True
    ),
    "reject": Entry("autopilot", "reject_command", "Turn down a task waiting in review."),
    "reload": Entry(
        "daemon",
        "reload",
        "Make the daemon re-read the project registry and the projects' configuration.",
    ),
    "report": Entry("report", "report_command", "Summarise transitions, commits and agent runs."),
    "run": Entry(
        "daemon", "run", "Run the daemon in the foreground (what systemd and launchd start)."
    ),
    "service": Entry("daemon", "service", "Run tmxd as a systemd user service or a launchd agent."),
    "set-status": Entry(
        "tasks",
        "set_status_cmd",
        "Set task statuses; subtasks update their parent.",
        short_help=True,
    ),
    "show": Entry("tasks", "show_cmd", "Show tasks or subtasks in detail.", short_help=True),
    "start": Entry(
        "daemon",
        "start",
        "Start the daemon in the background (no-op when it is already running).",
    ),
    "status": Entry(
        "daemon",
        "status",
        "Show whether the daemon runs, what it watches and when its jobs run (exit 3 if not).",
    ),
    "stop": Entry(
        "daemon",
        "stop",
        "Stop the running daemon gracefully and wait until it has exited (exit 3 if none).",
    ),
    "sync": Entry(
        "hooks",
        "sync_cmd",
        "Process pending hook events now: commits become task notes (no daemon needed).",
    ),
    "update-subtask": Entry(
        "tasks",
        "update_subtask_cmd",
        "Append a timestamped note to a subtask.",
        short_help=True,
    ),
    "validate-dependencies": Entry(
        "tasks",
        "validate_dependencies_cmd",
        "Find missing, self and circular dependencies and duplicate ids.",
        short_help=True,
    ),
    "watch": Entry(
        "daemon", "watch", "The projects the daemon watches (persisted in the state dir)."
    ),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when they are used, not when tmxd starts."""

    def invoke(self, ctx: click.Context) -> object:
        """Run the command; a reader that closed the pipe early (`tmxd list | head -1`)
        ends it quietly with exit 141, as SIGPIPE ends a Unix filter (click would exit 1,
        indistinguishable from a failed check; 0 would hide one)."""
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _quiet_stdout()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(f"tmxd.commands.{entry.module}")
        command = getattr(module, entry.attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help``, laid out as click does, from the map alone."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            entry = COMMANDS[name]
            stand_in = (
                click.Command(name, short_help=entry.summary)
                if entry.short_help
                else click.Command(name, help=entry.summary)
            )
            rows.append((name, stand_in.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tmxd")
def cli() -> None:
    """tmxd keeps a Task Master project honest.

    It links commits to tasks, records every status transition, reports how
    the work really went, and runs ready tasks through an agent.

    Exit codes: 0 ok, 1 operation failed, 2 usage or input error,
    3 daemon not running, 141 the reader closed the output early.

    \b
    Environment:
      TMXD_DB           the metrics database (default: metrics.db in the state dir)
      TMXD_STATE_DIR    database, registry, snapshots, daemon log
                        (default: $XDG_STATE_HOME/tmxd or ~/.local/state/tmxd;
                        macOS: ~/Library/Application Support/tmxd)
      TMXD_RUNTIME_DIR  control socket, pid and lock files
                        (default: $XDG_RUNTIME_DIR/tmxd, else <state dir>/run)
      XDG_CONFIG_HOME   where `service install` writes (default: ~/.config)
      TASKMASTER_TAG    the active tag when --tag is not given (then
                        state.json's currentTag, then master)
      TMXD_TASK_ID      the task `tmxd hook claude` records against
                        (the autopilot sets it for its agents)
      TMXD_PROJECT_ROOT the project `tmxd hook claude` records against
                        (the autopilot sets it: its agents may work in a worktree)
      NO_COLOR          no colour, even on a terminal
      FORCE_COLOR, CLICOLOR_FORCE
                        colour even when the output is not a terminal
                        (wins over NO_COLOR; 0 means not set)
      COLUMNS           the width tables fit (default: the terminal's)
      VIRTUAL_ENV, UV_PROJECT_ENVIRONMENT, POETRY_VIRTUALENVS_PATH,
      POETRY_CACHE_DIR, XDG_CACHE_HOME
                        where the autopilot's checks also look for the
                        project's virtualenv (after .venv and venv)
      JOURNAL_STREAM, NOTIFY_SOCKET, WATCHDOG_USEC
                        set by systemd: journald priority prefixes,
                        sd_notify readiness and watchdog

    \b
    Shell completion (commands, options, task ids, statuses):
      bash: eval "$(_TMXD_COMPLETE=bash_source tmxd)"   in ~/.bashrc
      zsh:  eval "$(_TMXD_COMPLETE=zsh_source tmxd)"    in ~/.zshrc
      fish: _TMXD_COMPLETE=fish_source tmxd | source    in config.fish
    """


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors become one line on stderr and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # Without standalone mode click returns (not raises) the code of ``Exit``.
        from tmxd.commands.common import color_override

        # click.echo keeps or strips colour by this, for every command
        code = cli.main(args=args, prog_name="tmxd", standalone_mode=False, color=color_override())
    except TmxdError as exc:
        # one line, whatever the message quotes (an id given with a newline in it)
        click.echo(printable(f"error: {exc.message}").replace("\n", "\\n"), err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except SystemExit as exc:
        # click turns a write to a closed pipe outside a command (`tmxd --help | head -c0`)
        # into exit 1, after wrapping stdout in its quiet-flush wrapper
        if exc.code == 1 and type(sys.stdout).__name__.endswith("PacifyFlushWrapper"):
            return EXIT_BROKEN_PIPE
        raise
    return code if isinstance(code, int) else 0


def _quiet_stdout() -> None:
    """After a write to a closed pipe, point stdout at /dev/null: Python flushes it again
    on exit, and a second EPIPE there would print a warning and exit 120."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file (tests capture it): nothing will flush into a pipe
