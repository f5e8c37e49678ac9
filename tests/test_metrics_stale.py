"""The one stale rule: in progress for stale_hours with no linked commit since it started."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tmxd.metrics import stale
from tmxd.metrics.recorder import Recorder

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def test_in_progress_long_enough_without_a_commit_is_stale() -> None:
    assert stale.stale_for(NOW - 30 * H, None, NOW, 24) == pytest.approx(30.0)
    assert stale.stale_for(NOW - 24 * H, None, NOW, 24) == pytest.approx(24.0)  # at the limit
    assert stale.stale_for(NOW - 23 * H, None, NOW, 24) is None


def test_a_commit_since_it_started_means_not_stale() -> None:
    # in progress for 30 h, a commit 2 h ago or 26 h ago: not stale either way
    assert stale.stale_for(NOW - 30 * H, NOW - 2 * H, NOW, 24) is None
    assert stale.stale_for(NOW - 30 * H, NOW - 26 * H, NOW, 24) is None
    # a commit from before it started does not count: stale, hours since it started
    assert stale.stale_for(NOW - 30 * H, NOW - 40 * H, NOW, 24) == pytest.approx(30.0)


@pytest.fixture
def rec(tmp_path: Path) -> Iterator[Recorder]:
    recorder = Recorder.open(tmp_path / "m.db")
    yield recorder
    recorder.close()


def _commit(
    rec: Recorder, root: Path, sha: str, at: datetime, *tasks: str, tag: str | None = None
) -> None:
    rec.commit(root, sha, "s", "a", at, 1, 1, 0, "main", list(tasks), tag=tag)


def test_last_commits_per_task_roll_up_to_the_parent_in_their_tag(
    rec: Recorder, tmp_path: Path
) -> None:
    root, other = tmp_path / "p", tmp_path / "q"
    _commit(rec, root, "a" * 40, NOW - 5 * H, "5.2")  # recorded without a tag: master's
    _commit(rec, root, "b" * 40, NOW - 3 * H, "5", tag="master")
    _commit(rec, root, "c" * 40, NOW - 1 * H, "5.1", tag="master")
    _commit(rec, root, "d" * 40, NOW + 1 * H, "7")  # after `until`
    _commit(rec, root, "f" * 40, NOW - 2 * H, "5", tag="feature")  # another tag's task 5
    _commit(rec, other, "e" * 40, NOW - 1 * H, "8")
    assert stale.last_commits(rec, root, NOW) == {
        ("master", "5"): NOW - 1 * H,
        ("master", "5.1"): NOW - 1 * H,
        ("master", "5.2"): NOW - 5 * H,
        ("feature", "5"): NOW - 2 * H,
    }
    assert stale.last_commits(rec, tmp_path / "unknown", NOW) == {}
