from __future__ import annotations

import pytest

from tmxd.errors import InputError
from tmxd.taskmaster.status import VALID_STATUSES, check_status, parent_status, symbol


def test_valid_statuses_are_the_cli_ones() -> None:
    assert VALID_STATUSES == (
        "pending",
        "in-progress",
        "done",
        "deferred",
        "cancelled",
        "blocked",
        "review",
    )


def test_completed_is_rejected_with_the_list() -> None:
    with pytest.raises(InputError, match="valid statuses: pending, in-progress, done"):
        check_status("completed")
    assert check_status("review") == "review"


@pytest.mark.parametrize(
    ("current", "subs", "expected"),
    [
        ("pending", ["done", "done"], "done"),
        ("pending", ["done", "completed"], "done"),
        ("pending", ["done", "pending"], "in-progress"),
        ("done", ["pending", "in-progress"], "in-progress"),
        ("in-progress", ["pending", "pending"], "pending"),
        ("blocked", ["pending", "deferred"], "blocked"),
        ("review", ["done", "cancelled"], "in-progress"),
        ("review", [], "review"),
    ],
)
def test_parent_rule(current: str, subs: list[str], expected: str) -> None:
    assert parent_status(current, subs) == expected


def test_symbols() -> None:
    assert symbol("done") == "✓"
    assert symbol("weird") == "X"
