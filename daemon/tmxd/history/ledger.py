"""The snapshot ledger: the last snapshot of each project that was recorded.

One small JSON file per project in ``<state dir>/snapshots/``, replaced atomically
and changed only under its lock, so several processes (the daemon, ``tmxd
set-status``, the autopilot) can observe the same project without recording a
transition twice.

The ledger is also the outbox of what it advanced by: the records of the changes
(transitions, unblocked tasks, each with a unique key) are saved in the same atomic
write as the snapshot that contains them, and dropped once they are in the database
(or its journal). So recording a change and advancing the ledger are one step: a
``kill -9`` at any point leaves either neither (the next look records the change)
or both (the next look stores the outbox again, and the keys keep it at once).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tmxd import paths
from tmxd.fsutil import locked, write_atomic
from tmxd.history.snapshot import Snapshot, TaskState

if TYPE_CHECKING:
    from tmxd.metrics.records import Record

log = logging.getLogger("tmxd.history")

# 2: the outbox (``pending``); a version-1 ledger predates baseline rows.
LEDGER_VERSION = 2


@dataclass
class LastSnapshot:
    snapshot: Snapshot
    digest: str  # sha256 of the tasks.json text the snapshot was taken from ("": unknown)
    since: dict[str, str] = field(default_factory=dict)  # "tag\tid" -> ISO time entered status
    pending: list[Record] = field(default_factory=list)  # records not yet in the database
    version: int = LEDGER_VERSION


class SnapshotLedger:
    """The last recorded snapshot of one project, in ``<state>/snapshots/``."""

    def __init__(self, root: Path) -> None:
        key = hashlib.sha256(str(root).encode()).hexdigest()[:20]
        folder = paths.ensure_private_dir(paths.state_dir() / "snapshots")
        self.root = root
        self.path = folder / f"{key}.json"
        self._lock_path = folder / f"{key}.lock"
        self._cache: tuple[tuple[int, int, int], LastSnapshot] | None = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with locked(self._lock_path):
            yield

    def load(self) -> LastSnapshot | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        key = (st.st_mtime_ns, st.st_size, st.st_ino)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            data = LastSnapshot(
                snapshot={
                    tag: {tid: TaskState(s[0], s[1], tuple(s[2])) for tid, s in tasks.items()}
                    for tag, tasks in raw["tags"].items()
                },
                digest=str(raw.get("digest", "")),
                since=dict(raw.get("since", {})),
                pending=[r for r in raw.get("pending", []) if isinstance(r, dict)],
                version=int(raw.get("version", 1)),
            )
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning(
                "%s: unreadable snapshot (%s); starting from the current file", self.path, exc
            )
            return None
        self._cache = (key, data)
        return data

    def save(self, data: LastSnapshot) -> None:
        raw = {
            "version": LEDGER_VERSION,
            "root": str(self.root),
            "digest": data.digest,
            "tags": {
                tag: {tid: [s.status, s.title, list(s.deps)] for tid, s in tasks.items()}
                for tag, tasks in data.snapshot.items()
            },
            "since": data.since,
            "pending": data.pending,
        }
        text = json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
        write_atomic(self.path, text, mode=0o600)
        st = self.path.stat()
        data.version = LEDGER_VERSION
        self._cache = ((st.st_mtime_ns, st.st_size, st.st_ino), data)
