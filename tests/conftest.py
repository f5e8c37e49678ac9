"""Hermetic test environment: no real home, no user git config, fixed authors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import GIT_ENV


@pytest.fixture(autouse=True)
def hermetic_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Point HOME, tmxd's state/runtime dirs and git's config at throwaway folders."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMXD_STATE_DIR", str(home / "state"))
    monkeypatch.setenv("TMXD_RUNTIME_DIR", str(home / "run"))
    monkeypatch.setenv("TMXD_DB", str(home / "state" / "metrics.db"))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.delenv("TASKMASTER_TAG", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    for key in list(__import__("os").environ):
        if key.startswith("GIT_") and key not in GIT_ENV:
            monkeypatch.delenv(key, raising=False)
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    yield home
