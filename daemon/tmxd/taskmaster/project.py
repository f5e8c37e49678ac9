"""Finding a Task Master project and its active tag, the way Task Master does."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tmxd.errors import InputError

TASKMASTER_DIR = ".taskmaster"
TASKS_RELATIVE = Path(TASKMASTER_DIR) / "tasks" / "tasks.json"
LEGACY_TASKS_RELATIVE = Path("tasks") / "tasks.json"
TAG_ENV = "TASKMASTER_TAG"


@dataclass(frozen=True)
class Project:
    """A Task Master project: its root, its ``tasks.json`` and its ``.taskmaster`` folder."""

    root: Path
    tasks_path: Path
    state_path: Path | None
    taskmaster_dir: Path | None

    @property
    def legacy(self) -> bool:
        """True for the pre-0.16 layout (``tasks/tasks.json`` at the root)."""
        return self.tasks_path == self.root / LEGACY_TASKS_RELATIVE

    @property
    def lock_path(self) -> Path:
        return self.tasks_path.with_name(self.tasks_path.name + ".lock")

    def complexity_report_path(self, tag: str) -> Path:
        """``reports/task-complexity-report.json`` (``_<tag>`` for tags other than master)."""
        name = "task-complexity-report" + ("" if tag == "master" else f"_{tag}") + ".json"
        if self.taskmaster_dir is not None:
            return self.taskmaster_dir / "reports" / name
        legacy = self.root / "scripts" / name
        return legacy if legacy.exists() else self.root / TASKMASTER_DIR / "reports" / name

    def current_tag(self) -> str | None:
        """``currentTag`` from state.json (``activeTag`` in older files), if readable."""
        if self.state_path is None:
            return None
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError):
            return None
        if not isinstance(state, dict):
            return None
        for key in ("currentTag", "activeTag"):
            value = state.get(key)
            if isinstance(value, str) and value:
                return value
        return None

    def active_tag(
        self, explicit: str | None = None, available: Sequence[str] | None = None
    ) -> str:
        """The tag to act on: ``--tag`` → ``TASKMASTER_TAG`` → state.json ``currentTag`` →
        ``master`` → the file's first tag.

        ``available`` is the file's tag list (read from tasks.json when not given). An explicit
        tag or ``TASKMASTER_TAG`` must exist in the file; a stale ``currentTag`` is skipped.
        """
        tags = list(available) if available is not None else self._file_tags()
        for source, wanted in (("--tag", explicit), (TAG_ENV, os.environ.get(TAG_ENV) or None)):
            if wanted is None:
                continue
            if wanted in tags or not tags:
                return wanted
            listed = ", ".join(tags)
            raise InputError(
                f"tag '{wanted}' (from {source}) is not in {self.tasks_path}; tags: {listed}"
            )
        current = self.current_tag()
        if current is not None and current in tags:
            return current
        if "master" in tags or not tags:
            return "master"
        return tags[0]

    def _file_tags(self) -> list[str]:
        """The tags of tasks.json, remembered while the file is unchanged."""
        from tmxd.taskmaster.document import decode, parse_tasks

        try:
            stat = self.tasks_path.stat()
        except OSError:
            return []
        key = (str(self.tasks_path), stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = _TAG_CACHE.get(key)
        if cached is not None:
            return list(cached)
        try:
            raw = self.tasks_path.read_bytes()
            tags = parse_tasks(decode(raw, self.tasks_path), self.tasks_path).tag_names()
        except (OSError, InputError):
            return []
        _TAG_CACHE.clear()
        _TAG_CACHE[key] = tuple(tags)
        return tags


_TAG_CACHE: dict[tuple[str, int, int, int], tuple[str, ...]] = {}


def _project_at(directory: Path) -> Project | None:
    tm_dir = directory / TASKMASTER_DIR
    tasks = directory / TASKS_RELATIVE
    legacy = directory / LEGACY_TASKS_RELATIVE
    has_tm_dir = tm_dir.is_dir()
    if tasks.is_file() or (has_tm_dir and not legacy.is_file()):
        return Project(
            root=directory,
            tasks_path=tasks,
            state_path=tm_dir / "state.json",
            taskmaster_dir=tm_dir,
        )
    if legacy.is_file():
        return Project(
            root=directory,
            tasks_path=legacy,
            state_path=tm_dir / "state.json" if has_tm_dir else None,
            taskmaster_dir=tm_dir if has_tm_dir else None,
        )
    return None


def find_project(explicit: Path | None = None, cwd: Path | None = None) -> Project:
    """The Task Master project at ``explicit``, or the nearest one at or above ``cwd``.

    A project is a folder with ``.taskmaster/tasks/tasks.json``, the legacy
    ``tasks/tasks.json``, or a ``.taskmaster/`` folder (tasks not created yet).
    """
    if explicit is not None:
        start = Path(explicit).expanduser()
        if start.is_file() and start.name.endswith(".json"):
            # A path to tasks.json itself.
            root = start.parent.parent
            if root.name == TASKMASTER_DIR:
                root = root.parent
            found = _project_at(root.resolve())
            if found is not None and found.tasks_path.resolve() == start.resolve():
                return found
        if not start.is_dir():
            raise InputError(f"project folder {start} does not exist; check -p/--project")
        found = _project_at(start.resolve())
        if found is None:
            raise InputError(
                f"not a Task Master project: {start} has no {TASKS_RELATIVE} or "
                f"{LEGACY_TASKS_RELATIVE}; run `task-master init` there or pass -p/--project"
            )
        return found
    here = (cwd or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        found = _project_at(directory)
        if found is not None:
            return found
    raise InputError(
        f"not a Task Master project: no {TASKS_RELATIVE} or {LEGACY_TASKS_RELATIVE} in {here} "
        "or above; run `task-master init` or pass -p/--project"
    )
