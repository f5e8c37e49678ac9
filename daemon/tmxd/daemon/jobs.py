"""The daemon's scheduled jobs over its projects: stale work, daily reports, retention.

:func:`scheduled` lists them for :class:`tmxd.daemon.schedule.Scheduler`; each runs on
the scheduler's thread and returns a one-line outcome for the job log. What a report
holds and what retention deletes is decided in :mod:`tmxd.metrics.jobs`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from tmxd import clock
from tmxd.errors import TmxdError

if TYPE_CHECKING:
    from tmxd.daemon.engine import Engine

log = logging.getLogger("tmxd.engine")


class Job(NamedTuple):
    name: str
    func: Callable[[], object]
    trigger: str  # "interval" or "cron", with APScheduler's arguments in ``args``
    args: dict[str, Any]
    record: bool  # False: the job records its runs itself (per project, for the report)


def scheduled(engine: Engine) -> list[Job]:
    """The jobs the daemon runs over ``engine``'s projects."""
    return [
        Job("stale-in-progress", lambda: stale_check(engine), "interval", {"hours": 1}, True),
        Job("daily-report", lambda: daily_reports(engine), "interval", {"hours": 1}, False),
        Job("retention", lambda: retention(engine), "cron", {"hour": 3, "minute": 17}, False),
    ]


def stale_check(engine: Engine) -> str:
    """Announce stale tasks (:mod:`tmxd.metrics.stale`: in progress for ``[metrics]
    stale_hours`` with no linked commit since it started), once per spell in progress each."""
    from tmxd.daemon import notify
    from tmxd.metrics import stale
    from tmxd.metrics.settings import METRICS

    recorder = engine.recorder
    if recorder is None:
        return "no metrics database: which tasks had commits is unknown"
    now = clock.now()
    found = 0
    for state in engine.states():
        data = state.ledger.load()
        if data is None:
            continue
        root = state.project.root
        try:
            limit = METRICS.load(root).stale_hours
            commits = stale.last_commits(recorder, root, now)
        except TmxdError as exc:
            log.error("%s", exc.message)
            continue
        for key, entered in data.since.items():
            tag, task_id = key.split("\t", 1)
            task = data.snapshot.get(tag, {}).get(task_id)
            if task is None or task.status != "in-progress":
                continue
            since = _parse_time(entered)
            hours = stale.stale_for(since, commits.get((tag, task_id)), now, limit)
            if hours is None:
                continue
            found += 1
            spell = (key, clock.iso_ms(since))
            if spell in state.announced_stale:
                continue
            state.announced_stale.add(spell)
            log.warning(
                "%s: task %s (%s) is stale: in progress for %.1f h, "
                "no linked commit since it started",
                root,
                task_id,
                task.title,
                hours,
            )
            recorder.event(
                root,
                "task-stale",
                {"task_id": task_id, "tag": tag, "title": task.title, "hours": round(hours, 1)},
            )
            engine.tell(state, notify.task_stale(root, task_id, task.title, hours, tag))
    return f"{found} stale task(s)"


def daily_reports(engine: Engine) -> str:
    """Write each project's daily report once per local day."""
    from tmxd.metrics import jobs

    recorder = engine.recorder
    if recorder is None:
        return "no metrics database"
    written = []
    for state in engine.states():
        root = state.project.root
        try:
            if jobs.daily_report_due(root, recorder):
                path = jobs.daily_report_job(root, recorder)
                if path is not None:
                    written.append(str(path))
                    log.info("%s: daily report written to %s", root, path)
        except Exception as exc:
            log.error("%s: the daily report failed: %s", root, exc)
    return ", ".join(written) or "nothing due"


def retention(engine: Engine) -> str:
    """Prune old metrics rows; the longest retention of the watched projects wins."""
    from tmxd.metrics import jobs
    from tmxd.metrics.settings import METRICS

    recorder = engine.recorder
    if recorder is None:
        return "no metrics database"
    days: list[int] = []
    for state in engine.states():
        try:
            days.append(METRICS.load(state.project.root).retention_days)
        except TmxdError as exc:
            log.error("%s", exc.message)
    keep = 0 if not days or 0 in days else max(days)
    deleted = jobs.retention_job(recorder, keep)
    return ", ".join(f"{t} {n}" for t, n in deleted.items() if n) or "nothing deleted"


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
