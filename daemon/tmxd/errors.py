"""The one error type of tmxd and its documented exit codes.

Core modules raise :class:`TmxdError` (or a subclass); the CLI prints
``error: <message>`` on one line and exits with ``exit_code``. Nothing else
reaches the user as a traceback.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # the operation ran and failed (a check, an agent run, a merge)
EXIT_USAGE = 2  # usage or input error: bad id, invalid tasks.json, not a Task Master project
EXIT_NO_DAEMON = 3  # the daemon is not running
# the reader of stdout went away (`tmxd list | head -1`): what a shell reports for a process
# killed by SIGPIPE (128 + 13), as `cat`, `grep` or `yes` would end; never 0, which would hide
# a failure (`validate-dependencies` exits 1) behind a truncated output
EXIT_BROKEN_PIPE = 141


class TmxdError(Exception):
    """A user-facing error: one line that names the problem and the fix."""

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class InputError(TmxdError):
    """Bad input from the user: a wrong id, an invalid file, a missing project."""

    exit_code = EXIT_USAGE


class DaemonNotRunning(TmxdError):
    """The command needs the daemon and none is listening."""

    exit_code = EXIT_NO_DAEMON
