"""Where the project's own tools are: its virtualenvs, node_modules/.bin, then PATH."""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from pathlib import Path

import pytest

from tmxd.autopilot import tools


def venv(folder: Path, *programs: str) -> Path:
    """A folder shaped as a virtualenv (pyvenv.cfg, bin/) holding ``programs``."""
    (folder / "bin").mkdir(parents=True)
    (folder / "pyvenv.cfg").write_text("home = /usr/bin\n")
    for name in programs:
        exe = folder / "bin" / name
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(0o755)
    return folder


def test_the_project_virtualenv_comes_before_path(tmp_path: Path) -> None:
    root, work = tmp_path / "proj", tmp_path / "work"
    on_path = venv(tmp_path / "elsewhere", "pytest", "ruff")
    venv(root / ".venv", "pytest")
    venv(work / "venv", "ruff")
    env = {"PATH": str(on_path / "bin")}
    found = tools.find("pytest", [work, root], env)
    assert found == tools.Tool(str(root / ".venv" / "bin" / "pytest"), root / ".venv")
    # the folder the agent worked in comes first
    assert tools.find("ruff", [work, root], env) == tools.Tool(
        str(work / "venv" / "bin" / "ruff"), work / "venv"
    )
    assert tools.find("eslint", [work, root], env) is None
    assert tools.find("sh", [work, root], {"PATH": "/bin:/usr/bin"}) is not None


def test_virtual_env_and_uv_project_environment(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    active = venv(tmp_path / "active", "pytest")
    uv = venv(root / "envs" / "dev", "ruff")
    env = {"PATH": "", "VIRTUAL_ENV": str(active), "UV_PROJECT_ENVIRONMENT": "envs/dev"}
    assert tools.virtualenvs([root], env) == [root / "envs" / "dev", active]
    assert tools.find("pytest", [root], env) == tools.Tool(str(active / "bin" / "pytest"), active)
    assert tools.find("ruff", [root], env) == tools.Tool(str(uv / "bin" / "ruff"), uv)


def test_poetrys_own_virtualenv_is_found_by_the_hash_of_the_project_path(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text('[tool.poetry]\nname = "My App"\n')
    digest = hashlib.sha256(os.path.realpath(root).encode()).digest()
    tag = base64.urlsafe_b64encode(digest).decode()[:8]
    cache = tmp_path / "cache"
    own = venv(cache / "virtualenvs" / f"my-app-{tag}-py3.12", "pytest")
    venv(cache / "virtualenvs" / "other-project-AAAAAAAA-py3.12", "pytest")
    env = {"PATH": "", "POETRY_CACHE_DIR": str(cache)}
    assert tools.find("pytest", [root], env) == tools.Tool(str(own / "bin" / "pytest"), own)
    # a project that does not use Poetry never looks there
    (root / "pyproject.toml").write_text('[project]\nname = "my-app"\n')
    assert tools.find("pytest", [root], env) is None


def test_node_modules_bin_then_path(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    bin_dir = root / "node_modules" / ".bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "eslint").write_text("#!/bin/sh\n")
    (bin_dir / "eslint").chmod(0o755)
    assert tools.find("eslint", [root], {"PATH": ""}) == tools.Tool(str(bin_dir / "eslint"))


def test_tmxds_own_interpreter_is_never_a_fallback(tmp_path: Path) -> None:
    """tmxd's interpreter has pytest (the test-suite runs on it): it is still not found."""
    root = tmp_path / "proj"
    root.mkdir()
    assert (Path(sys.executable).parent / "pytest").exists()
    assert tools.find("pytest", [root], {"PATH": "/nonexistent"}) is None


@pytest.mark.parametrize(
    ("names", "with_venv", "fix"),
    [
        (["pytest"], True, "`{venv}/bin/pip install pytest`"),
        (["pytest", "ruff"], False, "`pip install pytest ruff`"),
        (["eslint"], False, "npm install --save-dev eslint"),
        (["make"], False, "install make"),
    ],
)
def test_the_missing_tool_message_says_where_it_looked_and_the_fix(
    tmp_path: Path, names: list[str], with_venv: bool, fix: str
) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    if with_venv:
        venv(root / ".venv")
    text = tools.missing_message(names, [root], {"PATH": ""})
    assert text.startswith(f"{', '.join(names)}: not found in ")
    assert fix.format(venv=root / ".venv") in text
    assert text.endswith("or set autopilot.validate in .taskmaster/tmxd.toml")
    where = f"the project's virtualenv ({root / '.venv'})" if with_venv else "(none found"
    assert where in text


def test_a_tool_from_a_virtualenv_runs_as_if_it_were_activated(tmp_path: Path) -> None:
    env = tools.run_env(tmp_path / ".venv", {"PATH": "/usr/bin", "PYTHONHOME": "/x", "A": "1"})
    assert env == {
        "PATH": f"{tmp_path / '.venv' / 'bin'}{os.pathsep}/usr/bin",
        "VIRTUAL_ENV": str(tmp_path / ".venv"),
        "A": "1",
    }
    assert tools.run_env(None, {"PATH": "/usr/bin"}) == {"PATH": "/usr/bin"}
