"""The ``[metrics]`` and ``[report]`` tables of ``.taskmaster/tmxd.toml``."""

from __future__ import annotations

from dataclasses import dataclass

from tmxd.config import option, renamed, section


@dataclass(frozen=True)
class MetricsConfig:
    retention_days: int = option(
        180, "delete metrics rows older than this many days (0 keeps everything)"
    )
    stale_hours: float = option(
        24.0, "a task in progress this long without a linked commit is reported as stale"
    )
    daily_report: bool = option(
        True, "write a report of the last 24 hours once a day (daemon; see [report] dir)"
    )


METRICS = section("metrics", MetricsConfig, "Metrics retention, stale work and daily reports.")


@dataclass(frozen=True)
class ReportConfig:
    dir: str = option(
        "",
        "folder for the daily reports, relative to the project if not absolute "
        "(empty: reports/<project> in tmxd's state dir, outside the repository)",
    )


REPORT = section("report", ReportConfig, "Where the daemon's daily reports go.")
# Earlier versions wrote the daily reports into the project, `[metrics] daily_report_dir`.
renamed("metrics.daily_report_dir", "report.dir")
