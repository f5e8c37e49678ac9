"""scripts/setup (which scripts/demo and scripts/test run first) as a new user sees it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from helpers import REPO_ROOT

NOISE = "WARNING: Location 'file:///opt/pypi-more/simple/x/' is ignored"


def fake_venv(tmp_path: Path, exit_code: int) -> Path:
    """A venv whose python stands in for pip: it prints what pip prints here, then exits."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(
        f"#!/bin/sh\necho \"{NOISE}\" >&2\necho 'Collecting click'\nexit {exit_code}\n"
    )
    python.chmod(0o755)
    return venv


def setup(venv: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO_ROOT / "scripts" / "setup")],
        env={**os.environ, "TMXD_VENV": str(venv), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_setup_hides_pip_output_when_it_works(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path, 0)
    done = setup(venv)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{venv}/bin\n"
    assert NOISE not in done.stderr and "Collecting" not in done.stderr
    assert (venv / ".tmxd-installed").exists()
    again = setup(venv)  # installed: nothing to say
    assert again.returncode == 0 and again.stderr == ""


def test_setup_shows_pip_output_when_it_fails(tmp_path: Path) -> None:
    venv = fake_venv(tmp_path, 1)
    done = setup(venv)
    assert done.returncode == 1
    assert NOISE in done.stderr and "Collecting click" in done.stderr
    assert "setup: failed: " in done.stderr
    assert done.stdout == ""
    assert not (venv / ".tmxd-installed").exists()


def test_setup_verbose_shows_everything(tmp_path: Path) -> None:
    done = setup(fake_venv(tmp_path, 0), TMXD_SETUP_VERBOSE="1")
    assert done.returncode == 0 and NOISE in done.stderr
