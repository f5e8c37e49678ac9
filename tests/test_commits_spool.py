"""The spool: parsing, draining under a lock, durable acknowledgement, the fallback."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tmxd.commits import spool

A = "a" * 40
B = "b" * 40


def record(common: Path, hook: str = "post-commit", head: str = A) -> spool.SpoolRecord:
    return spool.SpoolRecord(
        hook=hook,
        at=None if hook == "post-commit" else datetime(2026, 1, 2, tzinfo=UTC),
        head=head,
        ref="refs/heads/main",
        args=(),
        rewrites=((A, B),) if hook == "post-rewrite" else (),
        common_dir=common,
    )


def append(path: Path, *lines: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line + "\n")


def age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_format_and_parse_round_trip(tmp_path: Path) -> None:
    for hook in spool.HOOKS:
        rec = record(tmp_path, hook)
        assert spool.parse_line(spool.format_line(rec)) == rec


@pytest.mark.parametrize(
    "line",
    [
        "",
        "garbage",
        "tmxd1\t-\tpost-commit\t" + A,  # cut short
        "tmxd1\tx\tpost-commit\t-\t-\t\t-\t/r/.git",  # bad timestamp
        "tmxd1\t-\tpre-push\t-\t-\t\t-\t/r/.git",  # not a hook we install
        "tmxd1\t1\tpost-rewrite\t-\t-\tamend\tzz:yy,\t/r/.git",  # bad pair
        "tmxd1\t-\tpost-commit\t-\t-\t\t-\trelative/.git",
    ],
)
def test_malformed_lines_are_rejected(line: str) -> None:
    with pytest.raises(spool.SpoolLineError):
        spool.parse_line(line)


def test_a_line_cut_short_by_a_full_disk_does_not_hide_the_next(tmp_path: Path) -> None:
    good = spool.format_line(record(tmp_path))
    assert spool.parse_line("tmxd1\t-\tpost-co" + good).head == A


def test_entries_ack_and_cleanup(tmp_path: Path) -> None:
    queue = spool.Spool(tmp_path)
    append(queue.active, spool.format_line(record(tmp_path)), "junk")
    with queue.lock():
        first = queue.entries()
        assert first[0].record is not None and first[0].record.head == A
        assert first[1].error is not None
        assert not queue.active.exists()  # rotated into a batch
        queue.ack(first[0])
    assert queue.pending().lines == 1
    append(queue.active, spool.format_line(record(tmp_path, head=B)))
    with queue.lock():
        again = queue.entries()
        assert [e.line for e in again] == ["junk", spool.format_line(record(tmp_path, head=B))]
        for entry in again:
            queue.ack(entry)
        assert queue.cleanup() == []  # still inside the grace period
        for batch in queue.batches():
            age(batch, spool.GRACE_SECONDS + 1)
        assert len(queue.cleanup()) == 2
    assert queue.pending() == (0, None)
    assert sorted(p.name for p in queue.dir.iterdir()) == ["lock"]


def test_a_partial_last_line_waits_until_it_is_quiet(tmp_path: Path) -> None:
    queue = spool.Spool(tmp_path)
    queue.ensure()
    queue.active.write_text(spool.format_line(record(tmp_path)))  # no newline yet
    with queue.lock():
        assert queue.entries() == []
        (batch,) = queue.batches()
        with open(batch, "a") as fh:
            fh.write("\n")
        assert [e.record.head for e in queue.entries() if e.record] == [A]


def test_unacknowledged_lines_survive_a_new_reader(tmp_path: Path) -> None:
    queue = spool.Spool(tmp_path)
    append(queue.active, *(spool.format_line(record(tmp_path, head=c * 40)) for c in "abc"))
    with queue.lock():
        entries = queue.entries()
        queue.ack(entries[0])  # then the reader dies
    reader = spool.Spool(tmp_path)
    with reader.lock():
        assert [e.record.head[0] for e in reader.entries() if e.record] == ["b", "c"]


def test_fallback_lines_move_home_and_others_stay(tmp_path: Path) -> None:
    mine = tmp_path / "mine" / ".git"
    other = tmp_path / "other" / ".git"
    mine.mkdir(parents=True)
    fallback = spool.fallback_path()
    append(
        fallback,
        spool.format_line(record(mine)),
        spool.format_line(record(other, head=B)),
    )
    queue = spool.Spool(mine)
    assert queue.pending().lines == 1
    with queue.lock():
        assert [e.record.head for e in queue.entries() if e.record] == [A]
    assert spool.parse_line(fallback.read_text().strip()).common_dir == other


def test_fallback_lines_stay_when_home_is_still_unwritable(tmp_path: Path) -> None:
    mine = tmp_path / "mine" / ".git"
    mine.mkdir(parents=True)
    (mine / "tmxd").mkdir()
    (mine / "tmxd" / "spool").mkdir()  # writes there fail
    append(spool.fallback_path(), spool.format_line(record(mine)))
    assert spool.import_fallback(spool.Spool(mine)) == 0
    assert A in spool.fallback_path().read_text()
