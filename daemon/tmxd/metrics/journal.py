"""The journal: records that could not reach a busy database, kept until they can.

A writer that cannot get the database within its bound (a long ``sqlite3`` session
holding ``BEGIN EXCLUSIVE``, a migration, a slow disk) appends its records here and
returns: one JSON line per record, one ``write`` and an ``fsync`` per call, in
``<state dir>/journal/<db>.jsonl`` (one journal per database file). Whoever next
holds the database (the daemon, ``tmxd sync``, a later hook) ingests it: each record
has a unique key, so a record ingested twice is inserted once.

Appenders hold a shared ``flock`` on ``<db>.lock`` while they append; an ingester
takes it exclusively only to rename the journal aside (``<db>.<random>.claimed``),
then reads the claimed file at leisure and removes it once its records are in the
database. A claimed file left by a killed ingester is simply ingested again.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

from tmxd import paths
from tmxd.fsutil import append_durably, fsync_dir, locked
from tmxd.metrics.records import Record

JOURNAL_DIRNAME = "journal"
CLAIMED_SUFFIX = ".claimed"


def journal_dir() -> Path:
    return paths.ensure_private_dir(paths.state_dir() / JOURNAL_DIRNAME)


class Journal:
    """The journal of the database at ``db_path``."""

    def __init__(self, db_path: Path, folder: Path | None = None) -> None:
        self.db_path = db_path
        name = hashlib.sha256(str(Path(db_path).resolve()).encode()).hexdigest()[:16]
        self.dir = folder if folder is not None else journal_dir()
        self.name = name
        self.path = self.dir / f"{name}.jsonl"
        self._lock = self.dir / f"{name}.lock"

    def append(self, records: list[Record]) -> None:
        """Append ``records`` durably (one write, fsync); :class:`OSError` when it cannot."""
        if not records:
            return
        data = "".join(
            json.dumps({**r, "db": str(self.db_path)}, ensure_ascii=False) + "\n" for r in records
        ).encode("utf-8")
        with locked(self._lock, shared=True):
            append_durably(self.path, data)

    def recent(self, seconds: float) -> bool:
        """Whether records were journaled in the last ``seconds`` and still wait: the
        database was busy a moment ago, so a writer in a hurry need not try it again."""
        import time

        try:
            st = self.path.stat()
        except FileNotFoundError:
            return False
        return st.st_size > 0 and time.time() - st.st_mtime < seconds

    def size(self) -> int:
        """Bytes waiting to be ingested, claimed files included."""
        total = 0
        for path in [self.path, *self._claimed()]:
            with suppress(OSError):
                total += path.stat().st_size
        return total

    def pending(self) -> bool:
        """Whether anything waits to be ingested (one ``stat`` per file)."""
        try:
            if self.path.stat().st_size > 0:
                return True
        except FileNotFoundError:
            pass
        return any(self._claimed())

    def claim(self) -> list[Path]:
        """Rename the journal aside and return every claimed file, oldest first."""
        try:
            with locked(self._lock):
                if self.path.exists() and self.path.stat().st_size > 0:
                    target = self.dir / f"{self.name}.{uuid.uuid4().hex[:12]}{CLAIMED_SUFFIX}"
                    os.replace(self.path, target)
                    fsync_dir(self.dir)
        except FileNotFoundError:
            pass
        return sorted(self._claimed(), key=_mtime)

    def read(self, claimed: Path) -> Iterator[Record]:
        """The records of a claimed file; a torn last line (a crash mid-append) is skipped."""
        with claimed.open("rb") as handle:
            for raw in handle:
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue  # a torn last line: its writer was killed before it returned
                if isinstance(record, dict) and "kind" in record and "key" in record:
                    record.pop("db", None)
                    yield record

    def reject(self, claimed: Path) -> Path:
        """Set a claimed file aside (``.rejected``): kept for a person to look at."""
        target = claimed.with_suffix(".rejected")
        os.replace(claimed, target)
        return target

    def done(self, claimed: Path) -> None:
        """Forget a claimed file whose records are all in the database."""
        with suppress(FileNotFoundError):
            claimed.unlink()

    def _claimed(self) -> list[Path]:
        return [p for p in self.dir.glob(f"{self.name}.*{CLAIMED_SUFFIX}") if p.is_file()]


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
