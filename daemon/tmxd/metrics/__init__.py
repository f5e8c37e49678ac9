"""Metrics: the SQLite store (the only module tree of tmxd that touches SQLite).

``Recorder`` writes; ``report`` reads and summarises; ``prometheus`` exports.
"""

from __future__ import annotations

from tmxd.metrics.recorder import Recorder
from tmxd.metrics.schema import MetricsError

__all__ = ["MetricsError", "Recorder"]
