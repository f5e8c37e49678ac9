"""Metrics: the SQLite store (the only module tree of tmxd that touches SQLite).

``recorder.Recorder`` writes; ``report`` reads and summarises; ``render`` and
``html`` format; ``prometheus`` exports; ``jobs`` are the scheduled tasks.
Importing the package itself is cheap: sqlite-utils loads on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tmxd.metrics.recorder import Recorder
    from tmxd.metrics.schema import MetricsError

__all__ = ["MetricsError", "Recorder"]


def __getattr__(name: str) -> Any:
    if name == "Recorder":
        from tmxd.metrics.recorder import Recorder

        return Recorder
    if name == "MetricsError":
        from tmxd.metrics.schema import MetricsError

        return MetricsError
    raise AttributeError(name)
