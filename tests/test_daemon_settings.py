from __future__ import annotations

from pathlib import Path

import pytest

from tmxd.config import SECTIONS
from tmxd.daemon.settings import DAEMON, DaemonConfig
from tmxd.errors import InputError


def test_defaults_without_a_file(tmp_path: Path) -> None:
    assert DAEMON.load(tmp_path) == DaemonConfig(announce_unblocked=True, cascade_external=False)
    assert SECTIONS["daemon"] is DAEMON


def test_values_from_the_project_file(tmp_path: Path) -> None:
    (tmp_path / ".taskmaster").mkdir()
    (tmp_path / ".taskmaster" / "tmxd.toml").write_text(
        "[daemon]\ncascade_external = true\nannounce_unblocked = false\n"
    )
    cfg = DAEMON.load(tmp_path)
    assert cfg.cascade_external is True
    assert cfg.announce_unblocked is False


def test_unknown_key_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / ".taskmaster").mkdir()
    (tmp_path / ".taskmaster" / "tmxd.toml").write_text("[daemon]\ncascade = true\n")
    with pytest.raises(InputError, match=r"unknown key daemon\.cascade"):
        DAEMON.load(tmp_path)
