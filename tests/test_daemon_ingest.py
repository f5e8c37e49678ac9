from __future__ import annotations

import sqlite3
from pathlib import Path

from helpers import wait_until
from tmxd.daemon.ingest import JournalIngester
from tmxd.metrics.recorder import Recorder


def test_the_ingester_moves_the_journal_in_once_the_database_is_free(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    recorder = Recorder.open(db, wait=0.05)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    ingester = JournalIngester(lambda: recorder)
    try:
        recorder.event(tmp_path, "while held", {})
        assert recorder.journaled == 1
        ingester.start()  # tries at once: still held, so it will try again by itself
        wait_until(lambda: ingester.attempts >= 1, what="a first attempt")
        assert ingester.ingested == 0 and recorder.journal.pending()
        holder.execute("ROLLBACK")  # no poke: the retry finds the database free
        # the thread counts what it ingested after the journal empties: wait on the count
        wait_until(lambda: ingester.ingested >= 1, what="the journal to be ingested")
        assert ingester.ingested == 1 and not recorder.journal.pending()
    finally:
        ingester.stop()
        holder.close()
        recorder.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT kind FROM events").fetchall() == [("while held",)]


def test_without_a_database_it_waits_and_stops_cleanly() -> None:
    ingester = JournalIngester(lambda: None)
    ingester.start()
    wait_until(lambda: ingester.attempts >= 1, what="a first attempt")
    ingester.stop()
    assert ingester.ingested == 0
