from __future__ import annotations

from pathlib import Path

import pytest

from tmxd.daemon.events import (
    ConfigChanged,
    HeadMoved,
    HooksSpooled,
    TasksFileChanged,
    from_watch,
)

ROOT = Path("/p")


def test_a_batch_becomes_its_events_in_the_order_the_engine_needs() -> None:
    kinds = {"spool", "tasks", "config", "git"}
    assert from_watch(ROOT, kinds) == [
        ConfigChanged(ROOT),
        TasksFileChanged(ROOT),
        HooksSpooled(ROOT),  # a commit: spooled by the hook, and the branch moved
    ]


@pytest.mark.parametrize(
    ("kinds", "events"),
    [
        ({"tasks"}, [TasksFileChanged(ROOT)]),
        ({"state"}, [TasksFileChanged(ROOT)]),
        ({"tasks", "state"}, [TasksFileChanged(ROOT)]),
        ({"git"}, [HeadMoved(ROOT)]),
        ({"spool"}, [HooksSpooled(ROOT)]),
        ({"complexity"}, []),
    ],
)
def test_each_kind_of_file(kinds: set[str], events: list[object]) -> None:
    assert from_watch(ROOT, kinds) == events


def test_events_are_small_frozen_values() -> None:
    event = TasksFileChanged(ROOT)
    assert event == TasksFileChanged(Path("/p")) and hash(event) == hash(TasksFileChanged(ROOT))
    with pytest.raises(AttributeError):
        event.root = Path("/q")  # type: ignore[misc]
