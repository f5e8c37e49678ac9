"""The ``[metrics]`` table of ``.taskmaster/tmxd.toml``."""

from __future__ import annotations

from dataclasses import dataclass

from tmxd.config import option, section


@dataclass(frozen=True)
class MetricsConfig:
    retention_days: int = option(
        180, "delete metrics rows older than this many days (0 keeps everything)"
    )
    stale_hours: float = option(
        24.0, "a task in progress this long without a linked commit is reported as stale"
    )
    daily_report: bool = option(
        True, "write .taskmaster/reports/tmxd-YYYY-MM-DD.md once a day (daemon)"
    )
    daily_report_dir: str = option(
        ".taskmaster/reports", "folder (relative to the project) for the daily reports"
    )


METRICS = section("metrics", MetricsConfig, "Metrics retention, stale work and daily reports.")
