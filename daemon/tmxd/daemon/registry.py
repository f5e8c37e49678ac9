"""The projects one daemon watches, persisted in the state dir.

``projects.json`` holds ``{"version": 1, "projects": ["/abs/root", ...]}``.
It is rewritten atomically (temp file + rename) under an exclusive lock, so
two ``tmxd watch add`` runs never lose each other's entry. A file that does
not parse is an input error naming the file; nothing overwrites it.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tmxd import paths
from tmxd.errors import InputError
from tmxd.fsutil import locked, write_atomic

REGISTRY_NAME = "projects.json"
REGISTRY_VERSION = 1


def registry_path() -> Path:
    return paths.state_dir() / REGISTRY_NAME


def find_root(path: Path) -> Path:
    """The Task Master project root at or above ``path``."""
    start = Path(path).expanduser().resolve()
    for candidate in (start, *start.parents):
        if tasks_file(candidate) is not None:
            return candidate
    raise InputError(
        f"{path}: not a Task Master project (no .taskmaster/tasks/tasks.json here or above); "
        "run `task-master init` there first"
    )


def tasks_file(root: Path) -> Path | None:
    """``tasks.json`` of the project at ``root`` (either layout), or None."""
    for candidate in (root / ".taskmaster" / "tasks" / "tasks.json", root / "tasks" / "tasks.json"):
        if candidate.is_file():
            return candidate
    return None


def list_projects() -> list[Path]:
    """Registered project roots, in the order they were added."""
    return [Path(p) for p in _read(registry_path())]


def add_project(root: Path) -> Path:
    """Register the project at (or above) ``root``; returns its root. Idempotent."""
    resolved = find_root(root)
    with _locked() as projects:
        if str(resolved) not in projects:
            projects.append(str(resolved))
    return resolved


def remove_project(root: Path) -> bool:
    """Forget ``root``; True when it was registered. The project need not exist any more."""
    target = str(Path(root).expanduser().resolve())
    with _locked() as projects:
        if target in projects:
            projects.remove(target)
            return True
    return False


@contextlib.contextmanager
def _locked() -> Iterator[list[str]]:
    path = registry_path()
    lock_path = path.with_name(REGISTRY_NAME + ".lock")
    with locked(lock_path):
        projects = _read(path)
        before = list(projects)
        yield projects
        if projects != before:
            _write(path, projects)


def _read(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise InputError(f"{path}: cannot read the project registry: {exc}") from exc
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: line {exc.lineno} column {exc.colno}: {exc.msg}; "
            "fix the file or delete it and re-run `tmxd watch add`"
        ) from exc
    projects = data.get("projects") if isinstance(data, dict) else None
    if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
        raise InputError(
            f'{path}: expected {{"projects": [paths...]}}; '
            "fix the file or delete it and re-run `tmxd watch add`"
        )
    return list(projects)


def _write(path: Path, projects: list[str]) -> None:
    text = json.dumps({"version": REGISTRY_VERSION, "projects": projects}, indent=2) + "\n"
    write_atomic(path, text, mode=0o600)
