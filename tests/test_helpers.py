"""tests/helpers.py: the in-process runner puts back what a command may change."""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from pathlib import Path

import pytest

from helpers import copy_corpus, run_tmxd, wait_until


def test_run_tmxd_captures_and_restores(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy_corpus("001", tmp_path)
    monkeypatch.setenv("TZ", "UTC0")
    monkeypatch.setenv("TMXD_HELPER_PROBE", "kept")
    time.tzset()
    cwd, env, zone = os.getcwd(), dict(os.environ), time.timezone
    handlers = logging.getLogger().handlers[:]
    sigterm = signal.getsignal(signal.SIGTERM)
    done = run_tmxd(
        "next",
        "--format",
        "json",
        cwd=tmp_path,
        env={"TZ": "XYZ-2", "TMXD_HELPER_PROBE": None},
        input="",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["found"] is not None
    assert done.stderr == ""
    assert (os.getcwd(), dict(os.environ), time.timezone) == (cwd, env, zone)
    assert logging.getLogger().handlers == handlers
    assert signal.getsignal(signal.SIGTERM) is sigterm
    failed = run_tmxd("next", cwd=tmp_path_factory.mktemp("empty"))  # not a project
    assert failed.returncode == 2 and failed.stderr.startswith("error: ")
    assert os.getcwd() == cwd


def test_wait_until_returns_the_value_or_fails_naming_what(tmp_path: Path) -> None:
    seen = iter([None, 0, "ready"])
    assert wait_until(lambda: next(seen), interval=0) == "ready"
    try:
        wait_until(lambda: False, timeout=0.05, interval=0.01, what="pigs to fly")
    except AssertionError as exc:
        assert str(exc) == "timed out after 0.05 s waiting for pigs to fly"
    else:
        raise AssertionError("wait_until did not fail")
