"""Scheduled metrics jobs, called by the daemon's scheduler (plain functions).

``daily_report_job`` writes the last day's report for one project as
``tmxd-YYYY-MM-DD.md`` (local date) into ``reports/<project>`` of tmxd's state dir,
or ``[report] dir``: never into the repository unless configured so.
``retention_job`` prunes old rows and gives the space back. Both record a
``job_runs`` row, good or bad, so ``last_job_run`` and the Prometheus export show
them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

from tmxd import clock, paths
from tmxd.metrics.files import write_report
from tmxd.metrics.recorder import Recorder
from tmxd.metrics.render import render_markdown
from tmxd.metrics.report import ReportQuery, build_report
from tmxd.metrics.settings import METRICS, REPORT

DAILY_REPORT = "daily-report"
RETENTION = "retention"


def daily_report_dir(project_root: Path) -> Path:
    """``[report] dir`` (relative to the project), else ``reports/<name>-<hash>`` in the
    state dir: the name to find it, the hash so two projects of one name never share."""
    configured = REPORT.load(project_root).dir
    if configured:
        return project_root / Path(configured).expanduser()
    key = hashlib.sha256(str(project_root.resolve()).encode()).hexdigest()[:8]
    return paths.state_dir() / "reports" / f"{project_root.name}-{key}"


def daily_report_path(project_root: Path, day: datetime | None = None) -> Path:
    """Where the report for ``day`` (local date of ``day``, default now) goes."""
    local = (day or clock.now()).astimezone()
    return daily_report_dir(project_root) / f"tmxd-{local.date().isoformat()}.md"


def daily_report_due(project_root: Path, recorder: Recorder, now: datetime | None = None) -> bool:
    """True when no daily report ran successfully yet on today's local date."""
    if not METRICS.load(project_root).daily_report:
        return False
    last = recorder.last_job_run(DAILY_REPORT, project=project_root)
    today = (now or clock.now()).astimezone().date()
    return last is None or last.astimezone().date() < today


def daily_report_job(
    project_root: Path, recorder: Recorder, now: datetime | None = None, *, record: bool = True
) -> Path | None:
    """Write the last 24 hours' Markdown report for the project; None if disabled.

    With ``record`` (default) the run is written to ``job_runs`` as ``daily-report``
    for the project; pass False when the caller's scheduler records runs itself.
    """
    cfg = METRICS.load(project_root)
    if not cfg.daily_report:
        return None
    started = clock.now()
    moment = now or started
    path = daily_report_path(project_root, moment)
    try:
        query = ReportQuery(
            since=moment - timedelta(days=1),
            until=moment,
            project=project_root,
            stale_hours=cfg.stale_hours,
            now=moment,
        )
        report = render_markdown(build_report(recorder.conn, query))
        write_report(path, report, make_folders=True)
    except Exception as exc:
        if record:
            recorder.job_run(
                DAILY_REPORT, started, clock.now(), False, str(exc), project=project_root
            )
        raise
    if record:
        recorder.job_run(DAILY_REPORT, started, clock.now(), True, str(path), project=project_root)
    return path


def retention_job(
    recorder: Recorder, older_than_days: float, now: datetime | None = None, *, record: bool = True
) -> dict[str, int]:
    """Delete rows older than ``older_than_days`` (≤ 0: keep all); rows deleted per table.

    With ``record`` (default) the run is written to ``job_runs`` as ``retention``.
    """
    if older_than_days <= 0:
        return {}
    started = clock.now()
    try:
        deleted = recorder.prune(timedelta(days=older_than_days), now=now)
    except Exception as exc:
        if record:
            recorder.job_run(RETENTION, started, clock.now(), False, str(exc))
        raise
    detail = ", ".join(f"{table} {n}" for table, n in deleted.items() if n) or "nothing to delete"
    if record:
        recorder.job_run(RETENTION, started, clock.now(), True, detail)
    return deleted
