from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import subprocess_env
from tmxd.metrics import records
from tmxd.metrics.journal import Journal


def test_records_come_back_once_claimed(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "m.db", tmp_path / "j")
    (tmp_path / "j").mkdir()
    assert not journal.pending() and journal.size() == 0
    first = [records.event(tmp_path, "one", {"n": 1}), records.event(tmp_path, "two", {})]
    journal.append(first)
    assert journal.pending() and journal.recent(60) and journal.size() > 0
    (claimed,) = journal.claim()
    assert not journal.path.exists()  # renamed aside: new appends start a new file
    journal.append([records.event(tmp_path, "three", {})])
    assert [r["key"] for r in journal.read(claimed)] == [r["key"] for r in first]
    journal.done(claimed)
    (later,) = journal.claim()
    assert [r["event"] for r in journal.read(later)] == ["three"]
    journal.done(later)
    assert not journal.pending()
    assert (os.stat(later.parent / f"{journal.name}.lock").st_mode & 0o777) == 0o600


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "m.db", tmp_path)
    journal.append([records.event(tmp_path, "whole", {})])
    with journal.path.open("ab") as out:
        out.write(b'{"kind": "event", "key": "cut sho')  # a writer killed mid-append
    (claimed,) = journal.claim()
    assert [r["event"] for r in journal.read(claimed)] == ["whole"]


def test_a_rejected_file_is_kept_aside(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "m.db", tmp_path)
    journal.append([records.event(tmp_path, "x", {})])
    (claimed,) = journal.claim()
    kept = journal.reject(claimed)
    assert kept.exists() and kept.suffix == ".rejected"
    assert not journal.pending()


APPENDER = r"""
import sys
from pathlib import Path
from tmxd.metrics import records
from tmxd.metrics.journal import Journal
journal = Journal(Path(sys.argv[1]), Path(sys.argv[2]))
for i in range(200):
    journal.append([records.event(Path(sys.argv[2]), sys.argv[3], {"i": i})])
"""


def test_appends_racing_claims_lose_nothing(tmp_path: Path) -> None:
    """Two processes append while this one keeps claiming: every record arrives once."""
    folder = tmp_path / "j"
    folder.mkdir()
    journal = Journal(tmp_path / "m.db", folder)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", APPENDER, str(tmp_path / "m.db"), str(folder), name],
            env=subprocess_env(),
        )
        for name in ("a", "b")
    ]
    seen: list[str] = []
    while any(p.poll() is None for p in procs):
        for claimed in journal.claim():
            seen += [r["key"] for r in journal.read(claimed)]
            journal.done(claimed)
    for p in procs:
        assert p.wait() == 0
    for claimed in journal.claim():
        seen += [r["key"] for r in journal.read(claimed)]
        journal.done(claimed)
    assert len(seen) == len(set(seen)) == 400
