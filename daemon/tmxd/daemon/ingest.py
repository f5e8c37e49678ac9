"""Moving the metrics journal into the database as soon as the database is free.

A writer that found the database busy (a long ``sqlite3`` session, a migration)
left its records in the journal (:mod:`tmxd.metrics.journal`). The daemon's
:class:`JournalIngester` thread ingests them: woken when the journal folder is
written and at start, it tries at once; while records remain (the database is
still held) it tries again after a pause that grows to :data:`MAX_PAUSE`, each
try waiting the recorder's own bound for the lock, so records go in moments after
it is released. Idle, it sleeps: no polling.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from tmxd.errors import TmxdError

if TYPE_CHECKING:
    from tmxd.metrics.recorder import Recorder

log = logging.getLogger("tmxd.engine")

MAX_PAUSE = 2.0


class JournalIngester:
    """A thread that ingests the journal of ``recorder()``'s database."""

    def __init__(self, recorder: Callable[[], Recorder | None]) -> None:
        self._recorder = recorder
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="tmxd-journal", daemon=True)
        self.attempts = 0
        self.ingested = 0

    def start(self) -> None:
        self._thread.start()
        self.poke()  # records left while no daemon ran

    def poke(self) -> None:
        """Something was journaled: try soon."""
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        pause: float | None = None
        while True:
            self._wake.wait(pause)
            self._wake.clear()
            if self._stopping:
                return
            pause = MAX_PAUSE if self._once() else None
            self.attempts += 1  # finished attempts

    def _once(self) -> bool:
        """One attempt; True when records remain (try again later)."""
        recorder = self._recorder()
        if recorder is None:
            return True  # the database is unusable: the engine logs why
        try:
            added = recorder.ingest_journal()
        except TmxdError as exc:
            log.error("the metrics journal stays until this is fixed: %s", exc.message)
            return True
        if added:
            self.ingested += added
            log.info("ingested %d record(s) from the metrics journal", added)
        return recorder.journal.pending()
