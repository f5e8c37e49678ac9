"""Timers for the daemon (the only module importing APScheduler).

APScheduler 3.x ``BackgroundScheduler`` with an in-memory job store: jobs are
added again at every start with fixed ids. Every job coalesces missed runs,
never overlaps itself (``max_instances=1``) and tolerates lateness up to
``misfire_grace`` (a laptop that slept still runs the job when it wakes).

APScheduler does not remember anything across restarts, so each run's start,
end and outcome go to our own database (``JobLog``, the metrics recorder), and
at start a job whose last recorded run is older than its interval runs at once:
a daemon that was down during the daily report catches up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from tmxd import clock

log = logging.getLogger("tmxd.schedule")

DEFAULT_MISFIRE_GRACE = 6 * 3600


class JobLog(Protocol):
    """Where job runs are remembered (``tmxd.metrics.recorder.Recorder`` fits)."""

    def job_run(
        self, name: str, started: datetime, finished: datetime, ok: bool, detail: str = ""
    ) -> object: ...

    def last_job_run(self, name: str) -> datetime | None: ...


@dataclass(frozen=True)
class JobInfo:
    name: str
    trigger: str
    next_run: datetime | None
    last_run: datetime | None
    last_ok: bool | None


class Scheduler:
    """A thin, typed wrapper: ``add_job(name, func, "interval", minutes=1)``."""

    def __init__(
        self,
        job_log: Callable[[], JobLog | None] | None = None,
        *,
        misfire_grace: int = DEFAULT_MISFIRE_GRACE,
    ) -> None:
        self._job_log = job_log
        self._scheduler = BackgroundScheduler(
            timezone="UTC",
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": misfire_grace,
            },
        )
        self._lock = threading.Lock()
        self._last: dict[str, tuple[datetime, bool]] = {}
        self._triggers: dict[str, str] = {}

    def add_job(
        self,
        name: str,
        func: Callable[[], object],
        trigger: str = "interval",
        *,
        catch_up: bool = True,
        record: bool = True,
        **trigger_args: Any,
    ) -> None:
        """Run ``func`` on ``trigger`` (``"interval"`` or ``"cron"`` with APScheduler's args).

        With ``catch_up``, a job whose last recorded run is older than one period
        (or that never ran) also runs right after the scheduler starts. With
        ``record=False`` the job records its runs itself (under the same name).
        """
        if trigger == "interval":
            trig: Any = IntervalTrigger(timezone="UTC", **trigger_args)
            period = timedelta(seconds=trig.interval.total_seconds())
        elif trigger == "cron":
            trig = CronTrigger(timezone="UTC", **trigger_args)
            period = timedelta(days=1)
        else:
            raise ValueError(f"unknown trigger {trigger!r}; use 'interval' or 'cron'")
        # An overdue job's first run is brought forward to right after the start, then it
        # follows its trigger. (Not a separate one-shot job: APScheduler removes a finished
        # one-shot job from its own thread, which fails if shutdown() lands at that moment.)
        first: dict[str, datetime] = {}
        if catch_up and self._overdue(name, period):
            first["next_run_time"] = clock.now() + timedelta(seconds=1)
        self._scheduler.add_job(
            self._wrap(name, func, record),
            trig,
            id=name,
            name=name,
            replace_existing=True,
            **first,
        )
        self._triggers[name] = str(trig)

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self, wait: bool = True) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def run_now(self, name: str) -> None:
        """Ask for an extra run of job ``name`` as soon as possible."""
        job = self._scheduler.get_job(name)
        if job is None:
            raise KeyError(name)
        job.modify(next_run_time=clock.now())

    def jobs(self) -> list[JobInfo]:
        infos = []
        for job in self._scheduler.get_jobs():
            last = self._last.get(job.id)
            infos.append(
                JobInfo(
                    name=job.id,
                    trigger=self._triggers.get(job.id, str(job.trigger)),
                    next_run=getattr(job, "next_run_time", None),
                    last_run=last[0] if last else self._recorded_last(job.id),
                    last_ok=last[1] if last else None,
                )
            )
        return infos

    def _overdue(self, name: str, period: timedelta) -> bool:
        last = self._recorded_last(name)
        return last is None or clock.now() - last >= period

    def _recorded_last(self, name: str) -> datetime | None:
        job_log = self._open_log()
        if job_log is None:
            return None
        try:
            return job_log.last_job_run(name)
        except Exception:
            log.exception("could not read the last run of job %s", name)
            return None

    def _open_log(self) -> JobLog | None:
        """The job log (owned by the caller, which closes it; it must be thread-safe)."""
        if self._job_log is None:
            return None
        try:
            return self._job_log()
        except Exception:
            log.exception("could not open the job log")
            return None

    def _wrap(self, name: str, func: Callable[[], object], record: bool) -> Callable[[], None]:
        def run() -> None:
            started = clock.now()
            ok, detail = True, ""
            try:
                result = func()
                if isinstance(result, str):
                    detail = result
            except Exception as exc:
                ok, detail = False, f"{type(exc).__name__}: {exc}"
                log.exception("job %s failed", name)
            finished = clock.now()
            with self._lock:
                self._last[name] = (finished, ok)
            job_log = self._open_log() if record else None
            if job_log is not None:
                try:
                    job_log.job_run(name, started, finished, ok, detail)
                except Exception:
                    log.exception("could not record the run of job %s", name)

        return run
