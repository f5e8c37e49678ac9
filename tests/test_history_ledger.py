from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon_project import make_project, write_plain
from tmxd.history.ledger import SnapshotLedger
from tmxd.history.observe import observe
from tmxd.metrics.recorder import Recorder


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder.open()
    yield rec
    rec.close()


def test_ledger_survives_a_restart(tmp_path: Path, recorder: Recorder) -> None:
    tasks = make_project(tmp_path / "p", git=False)
    observe(tasks, SnapshotLedger(tmp_path / "p"), recorder)
    write_plain(tasks, t2="blocked")  # edited while no daemon ran
    result = observe(tasks, SnapshotLedger(tmp_path / "p"), recorder)  # a fresh process
    assert [(c.task_id, c.old, c.new) for c in result.transitions] == [("2", "pending", "blocked")]


def test_corrupt_ledger_starts_a_new_baseline(tmp_path: Path, recorder: Recorder) -> None:
    tasks = make_project(tmp_path / "p", git=False)
    ledger = SnapshotLedger(tmp_path / "p")
    observe(tasks, ledger, recorder)
    ledger.path.write_text("{not json")
    assert observe(tasks, SnapshotLedger(tmp_path / "p"), recorder).first is True
