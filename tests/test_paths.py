from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from tmxd import paths


def test_state_dir_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMXD_STATE_DIR", str(tmp_path / "s"))
    d = paths.state_dir()
    assert d == tmp_path / "s"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_xdg_state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMXD_STATE_DIR")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert paths.state_dir() == tmp_path / "xdg" / "tmxd"


def test_runtime_dir_prefers_xdg_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMXD_RUNTIME_DIR")
    (tmp_path / "rt").mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "rt"))
    assert paths.runtime_dir() == tmp_path / "rt" / "tmxd"


def test_db_path_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMXD_DB", str(tmp_path / "x.db"))
    assert paths.db_path() == tmp_path / "x.db"


def test_the_daemon_log_lives_in_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMXD_STATE_DIR", str(tmp_path / "s"))
    assert paths.daemon_log() == tmp_path / "s" / "daemon.log"


def test_importable_env_puts_this_tmxd_first_once() -> None:
    root = str(paths.source_root())
    assert (paths.source_root() / "tmxd" / "__init__.py").is_file()
    env = paths.importable_env({"PYTHONPATH": f"/elsewhere{os.pathsep}{root}", "X": "1"})
    assert env["PYTHONPATH"].split(os.pathsep) == [root, "/elsewhere"]
    assert env["X"] == "1"
    assert paths.importable_env({})["PYTHONPATH"] == root


def test_tmxd_command_is_plain_on_path_else_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "venv" / "bin" / "tmxd"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(script), "init"])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert paths.tmxd_command() == (str(script.resolve()), [])
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")
    assert paths.tmxd_command() == ("tmxd", [])
    other = tmp_path / "other"
    other.mkdir()
    (other / "tmxd").write_text("#!/bin/sh\n")
    (other / "tmxd").chmod(0o755)
    monkeypatch.setenv("PATH", f"{other}:/usr/bin:/bin")
    assert paths.tmxd_command() == (str(script.resolve()), [])  # PATH finds another tmxd: this one
    monkeypatch.setattr(sys, "argv", ["/somewhere/__main__.py"])
    monkeypatch.setattr(sys, "executable", str(tmp_path / "py" / "python3"))
    assert paths.tmxd_command() == ("tmxd", [])
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert paths.tmxd_command() == (str(tmp_path / "py" / "python3"), ["-m", "tmxd"])
