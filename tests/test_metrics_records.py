from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tmxd.metrics import records
from tmxd.metrics.recorder import Recorder

T0 = datetime(2026, 11, 20, 12, tzinfo=UTC)


@pytest.fixture()
def rec(tmp_path: Path) -> Iterator[Recorder]:
    with Recorder.open(tmp_path / "m.db") as recorder:
        yield recorder


def rows(rec: Recorder, sql: str) -> list[tuple[object, ...]]:
    return list(rec.conn.execute(sql))


def test_records_are_plain_data_with_unique_ordered_keys(tmp_path: Path) -> None:
    keys = [records.event(tmp_path, "e", {}, at=T0)["key"] for _ in range(50)]
    assert len(set(keys)) == 50 and keys == sorted(keys)  # new keys sort after older ones
    t = records.transition(tmp_path / ".", "5.2", "pending", "done", "commit", at=T0)
    assert (t["root"], t["at"], t["task_id"]) == (str(tmp_path), "2026-11-20T12:00:00.000Z", "5.2")
    with pytest.raises(ValueError, match="unknown transition source"):
        records.transition(tmp_path, "1", None, "done", "somebody")


def test_applying_a_record_again_inserts_nothing(rec: Recorder, tmp_path: Path) -> None:
    batch = [
        records.transition(tmp_path, "1", None, "pending", "external", at=T0),
        records.event(tmp_path, "e", {"a": 1}, at=T0),
        records.tool_call(tmp_path, "s", "Bash", True, 3.0, "1", at=T0),
        records.hook_run(tmp_path, "post-commit", True, at=T0, sha="abc", linked=False),
        records.job_run("retention", T0, T0, True),
        records.commit(tmp_path, "abc", "Subject", "Ada", T0, 1, 2, 0, "main", ["1", "1"]),
    ]
    assert rec.store(batch) == 6
    assert rec.store(batch) == 0  # a journal ingested twice, an outbox stored again
    assert rec.store(list(reversed(batch))) == 0
    counts = rows(
        rec,
        "SELECT (SELECT count(*) FROM transitions), (SELECT count(*) FROM events), "
        "(SELECT count(*) FROM tool_calls), (SELECT count(*) FROM hook_runs), "
        "(SELECT count(*) FROM job_runs), (SELECT count(*) FROM commits), "
        "(SELECT count(*) FROM commit_tasks)",
    )
    assert counts == [(1, 1, 1, 1, 1, 1, 1)]


def test_a_baseline_row_goes_in_only_for_a_task_without_rows(rec: Recorder, tmp_path: Path) -> None:
    seen = records.transition(tmp_path, "1", "pending", "pending", "baseline", at=T0)
    changed = records.transition(tmp_path, "2", "pending", "done", "external", at=T0)
    late = records.transition(tmp_path, "2", "done", "done", "baseline", at=T0)
    # in one batch a baseline comes after every change, whatever the order given
    assert rec.store([late, seen, changed]) == 2
    assert rows(rec, "SELECT task_id, source FROM transitions ORDER BY task_id") == [
        ("1", "baseline"),
        ("2", "external"),
    ]


def test_a_rewritten_commit_leaves_with_its_links(rec: Recorder, tmp_path: Path) -> None:
    old = records.commit(tmp_path, "old", "Draft", "Ada", T0, 1, 1, 0, "main", ["1"])
    new = records.commit(tmp_path, "new", "Final", "Ada", T0, 1, 1, 0, "main", ["1"])
    rewrite = records.commit_rewritten(tmp_path, "old", "new")
    # a journal may hold the rewrite before the commits: it still applies after them
    assert rec.store([rewrite, old, new]) == 3
    assert rows(rec, "SELECT sha FROM commits") == [("new",)]
    assert rows(rec, "SELECT count(*) FROM commit_tasks") == [(1,)]
    assert rec.store([records.commit_rewritten(tmp_path, "new", "new")]) == 0  # not itself


def test_a_commit_gone_from_every_branch_leaves_with_its_links(
    rec: Recorder, tmp_path: Path
) -> None:
    gone = records.commit(tmp_path, "gone", "Unmerged", "Ada", T0, 1, 1, 0, "tmxd/task-1", ["1"])
    kept = records.commit(tmp_path, "kept", "Merged", "Ada", T0, 1, 1, 0, "main", ["1"])
    assert rec.store([gone, kept]) == 2
    assert rec.commit_gone(tmp_path, "gone") == 1
    assert rows(rec, "SELECT sha FROM commits") == [("kept",)]
    assert rows(rec, "SELECT count(*) FROM commit_tasks") == [(1,)]
    assert rec.commit_gone(tmp_path, "gone") == 0  # once


def test_an_unknown_kind_is_refused_and_nothing_applied(rec: Recorder, tmp_path: Path) -> None:
    good = records.event(tmp_path, "e", {})
    with pytest.raises(ValueError, match="unknown record kind 'gossip'"):
        rec.store([good, {**good, "kind": "gossip", "key": "k"}])
    assert rows(rec, "SELECT count(*) FROM events") == [(0,)]
