"""tmxd: the runtime around Task Master — hooks, daemon, metrics and autopilot."""

from __future__ import annotations

__version__ = "0.1.0"
