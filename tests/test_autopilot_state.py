"""Autopilot state: claims, approvals and reviews shared through a locked, private file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from tmxd.autopilot import state
from tmxd.errors import TmxdError


def test_claims_reviews_and_approvals(tmp_path: Path) -> None:
    sf = state.StateFile(tmp_path)
    sf.claim("master", "3", "pending")
    sf.set_agent("master", "3", 1234, 99)
    claim = sf.read()["claims"]["master:3"]
    assert claim == {
        "pid": os.getpid(),
        "previous": "pending",
        "agent_pgid": 1234,
        "agent_start": 99,
    }
    sf.release("master", "3")
    assert sf.read()["claims"] == {}
    sf.set_review("master", "7", "critical", "critical keyword 'payment'")
    assert sf.review("master", "7") == {"kind": "critical", "detail": "critical keyword 'payment'"}
    assert not sf.is_approved("master", "7")
    settled = sf.decide("master", "7", True, "2026-01-01T00:00:00.000Z")
    assert settled is not None and settled["kind"] == "critical"
    assert sf.is_approved("master", "7") and sf.review("master", "7") is None
    assert sf.decide("master", "7", False, "later") is None
    assert not sf.is_approved("master", "7")
    assert sf.path.stat().st_mode & 0o777 == 0o600
    assert sf.path.parent == state.project_dir(tmp_path)


def test_concurrent_claims_are_not_lost(tmp_path: Path) -> None:
    sf = state.StateFile(tmp_path)
    threads = [
        threading.Thread(target=sf.claim, args=("master", str(i), "pending")) for i in range(20)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(sf.read()["claims"]) == 20


def test_projects_get_distinct_keys(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "proj", tmp_path / "b" / "proj"
    assert state.project_key(a) != state.project_key(b)
    assert state.project_key(a).startswith("proj-")


def test_a_damaged_state_file_says_how_to_reset(tmp_path: Path) -> None:
    sf = state.StateFile(tmp_path)
    sf.path.parent.mkdir(parents=True)
    sf.path.write_text("{oops")
    with pytest.raises(TmxdError, match="delete the file to reset it"):
        sf.read()


def test_a_live_claim_of_another_process_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys

    sf = state.StateFile(tmp_path)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with sf.edit() as data:
            data["claims"]["master:4"] = {"pid": other.pid, "previous": "pending"}
        assert not sf.claim("master", "4", "pending")
    finally:
        other.kill()
        other.wait()
    assert sf.claim("master", "4", "pending"), "a dead process's claim is taken over"
    assert sf.read()["claims"]["master:4"]["pid"] == os.getpid()
