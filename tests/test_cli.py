from __future__ import annotations

from helpers import run_tmxd, run_tmxd_process
from tmxd import __version__
from tmxd.cli import main


def test_version_in_process(capsys) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_python_dash_m_help() -> None:
    proc = run_tmxd_process("--help")  # the entry point itself: `python -m tmxd`
    assert proc.returncode == 0
    assert "Exit codes" in proc.stdout


def test_unknown_command_is_usage_error() -> None:
    proc = run_tmxd("no-such-command")
    assert proc.returncode == 2
    assert "No such command" in proc.stderr
    assert "Traceback" not in proc.stderr
