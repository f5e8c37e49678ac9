"""Where a project's own tools are: its virtualenv, its ``node_modules``, then PATH.

The checks run the project's pytest, ruff, eslint and npm — never tmxd's own
interpreter, which knows nothing of the project's packages (tmxd installed with
pipx, or run by a service, would report every task as failing its tests). A tool is
looked up, first found wins:

1. in the project's virtualenvs: ``.venv`` and ``venv`` in the folder the agent
   worked in and in the project root (uv and ``poetry config virtualenvs.in-project``
   make ``.venv``), ``$UV_PROJECT_ENVIRONMENT``, ``$VIRTUAL_ENV``, and Poetry's own
   folder for this project (``<cache>/virtualenvs/<name>-<hash of the path>-py*``);
2. in ``node_modules/.bin`` of those two folders;
3. on the ``PATH`` the checks run with.

A tool found in a virtualenv runs with that virtualenv's ``bin`` first on PATH and
``VIRTUAL_ENV`` set, as if it were activated. A tool found nowhere is a setup
problem (:class:`MissingTool`), not a failed check.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tmxd.errors import TmxdError

VENV_NAMES = (".venv", "venv")


class MissingTool(TmxdError):
    """A tool a check needs is not installed where the project's tools are."""


@dataclass(frozen=True)
class Tool:
    path: str  # what to run
    venv: Path | None = None  # the virtualenv it belongs to, if any


def _is_venv(folder: Path) -> bool:
    return (folder / "pyvenv.cfg").is_file() or (folder / "bin" / "python").exists()


def _poetry_venvs(root: Path, env: Mapping[str, str]) -> list[Path]:
    """Poetry's virtualenvs of the project at ``root``, outside the project.

    Poetry names them ``<name>-<hash>-py<X.Y>``, the hash being the first 8 characters
    of the URL-safe base64 SHA-256 of the project's real path: found by that hash.
    """
    if not ((root / "poetry.lock").is_file() or _mentions_poetry(root)):
        return []
    configured = env.get("POETRY_VIRTUALENVS_PATH")
    if configured:
        parent = Path(configured).expanduser()
    else:
        cache = env.get("POETRY_CACHE_DIR")
        if cache:
            base = Path(cache).expanduser()
        elif sys.platform == "darwin":
            base = Path(env.get("HOME", "~")).expanduser() / "Library" / "Caches" / "pypoetry"
        else:
            xdg = env.get("XDG_CACHE_HOME") or str(Path(env.get("HOME", "~")) / ".cache")
            base = Path(xdg).expanduser() / "pypoetry"
        parent = base / "virtualenvs"
    digest = hashlib.sha256(os.path.realpath(root).encode("utf-8")).digest()
    tag = base64.urlsafe_b64encode(digest).decode()[:8]
    try:
        return sorted(parent.glob(f"*-{tag}-py*"), reverse=True)  # the newest Python first
    except OSError:
        return []


def _mentions_poetry(root: Path) -> bool:
    try:
        return "[tool.poetry" in (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return False


def virtualenvs(folders: Sequence[Path], env: Mapping[str, str]) -> list[Path]:
    """The project's virtualenvs, in the order they are searched (``folders[-1]`` is the
    project root: the folder the agent worked in comes first)."""
    root = folders[-1]
    candidates = [folder / name for folder in folders for name in VENV_NAMES]
    uv = env.get("UV_PROJECT_ENVIRONMENT")
    if uv:
        candidates.append(root / Path(uv).expanduser())
    active = env.get("VIRTUAL_ENV")
    if active:
        candidates.append(Path(active))
    candidates += _poetry_venvs(root, env)
    return [c for c in _unique(candidates) if _is_venv(c)]


def _unique(paths: Iterable[Path]) -> list[Path]:
    seen: set[str] = set()
    out = []
    for path in paths:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


def find(name: str, folders: Sequence[Path], env: Mapping[str, str]) -> Tool | None:
    """Where ``name`` (a bare command name) is for the project; None when nowhere."""
    for venv in virtualenvs(folders, env):
        exe = venv / "bin" / name
        if exe.is_file() and os.access(exe, os.X_OK):
            return Tool(str(exe), venv)
    for folder in _unique(folders):
        exe = folder / "node_modules" / ".bin" / name
        if exe.is_file() and os.access(exe, os.X_OK):
            return Tool(str(exe))
    found = shutil.which(name, path=env.get("PATH", os.defpath))
    return Tool(found) if found else None


INSTALL = {
    "pytest": "pip",
    "ruff": "pip",
    "eslint": "npm install --save-dev eslint",
    "npm": "install Node.js (it brings npm)",
}


def missing_message(names: Sequence[str], folders: Sequence[Path], env: Mapping[str, str]) -> str:
    """One line naming the missing tools, where they were looked for, and the fix."""
    venvs = virtualenvs(folders, env)
    where = (
        "the project's virtualenv (" + ", ".join(str(v) for v in venvs) + ")"
        if venvs
        else "a project virtualenv (none found: .venv, venv, $VIRTUAL_ENV, Poetry's)"
    )
    fixes = []
    python = [n for n in names if INSTALL.get(n) == "pip"]
    if python:
        pip = f"{venvs[0]}/bin/pip" if venvs else "pip"
        fixes.append(f"`{pip} install {' '.join(python)}`")
    fixes += [INSTALL[n] for n in names if n in INSTALL and INSTALL[n] != "pip"]
    fixes += [f"install {n}" for n in names if n not in INSTALL]
    return (
        f"{', '.join(names)}: not found in {where}, node_modules/.bin or on PATH, and the "
        f"checks need {'it' if len(names) == 1 else 'them'}; {'; '.join(fixes)}, or set "
        "autopilot.validate in .taskmaster/tmxd.toml"
    )


def run_env(tool_venv: Path | None, base: Mapping[str, str]) -> dict[str, str]:
    """The environment a check runs with: its virtualenv activated, if it has one."""
    env = dict(base)
    if tool_venv is not None:
        env["VIRTUAL_ENV"] = str(tool_venv)
        env["PATH"] = os.pathsep.join(p for p in (str(tool_venv / "bin"), env.get("PATH", "")) if p)
        env.pop("PYTHONHOME", None)
    return env
