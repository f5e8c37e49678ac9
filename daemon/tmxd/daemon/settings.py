"""The ``[daemon]`` table of ``.taskmaster/tmxd.toml``: how the daemon reacts in a project."""

from __future__ import annotations

from dataclasses import dataclass

from tmxd.config import option, section


@dataclass(frozen=True)
class DaemonConfig:
    announce_unblocked: bool = option(
        True, "log and record tasks whose dependencies just became done"
    )
    cascade_external: bool = option(
        False,
        "when a subtask's status is edited outside tmxd (editor, Task Master's MCP server), "
        "recompute its parent as `task-master set-status` does (recorded as `cascade`)",
    )


DAEMON = section(
    "daemon", DaemonConfig, "The background daemon (`tmxd run`): reactions to edits and commits."
)
