"""The ``tmxd`` command line: a thin click layer over plain functions.

Each area adds its commands from ``tmxd.commands.<area>.register(group)``.
Command modules import their heavy dependencies (watchdog, GitPython,
APScheduler, sqlite-utils) inside the functions that need them, so that
``tmxd next`` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import click

from tmxd import __version__
from tmxd.errors import EXIT_USAGE, TmxdError

# One line per area; each module defines ``register(group: click.Group) -> None``.
COMMAND_MODULES: tuple[str, ...] = (
    "tasks",
    "demo",
    "init",
    "metrics",
    "report",
    "hooks",
    "daemon",
    "autopilot",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tmxd")
def cli() -> None:
    """tmxd keeps a Task Master project honest.

    It links commits to tasks, records every status transition, reports how
    the work really went, and runs ready tasks through an agent.

    Exit codes: 0 ok, 1 operation failed, 2 usage or input error,
    3 daemon not running.
    """


def _register_all() -> None:
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"tmxd.commands.{name}")
        module.register(cli)


_register_all()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; user errors become one line on stderr and an exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # Without standalone mode click returns (not raises) the code of ``Exit``.
        code = cli.main(args=args, prog_name="tmxd", standalone_mode=False)
    except TmxdError as exc:
        click.echo(f"error: {exc.message}", err=True)
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
        return 0
    return code if isinstance(code, int) else 0
