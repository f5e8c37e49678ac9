"""The projects an MCP session works on, and their parsed files kept while unchanged.

A tool call names its project with ``projectRoot`` (Task Master's argument); without
it the server's own project is used: ``tmxd mcp -p DIR``, else ``$TMXD_PROJECT_ROOT`` (the
autopilot sets it for the agents it runs, which may work in a worktree elsewhere), else
``$TASK_MASTER_PROJECT_ROOT``, else ``$CLAUDE_PROJECT_DIR`` (Claude Code sets it for the
servers it starts), else the folder the server runs in, searched upwards as Task Master does.
An autopilot agent that names its own working folder (a worktree) as ``projectRoot`` means
the project of ``$TMXD_PROJECT_ROOT``: its notes land in the project's tasks.json.

``tasks.json`` and the complexity report are parsed once and kept while their mtime, size
and inode stay the same, so a warm call costs a ``stat``. Every write goes through
:class:`~tmxd.taskmaster.store.TaskStore`, which re-reads the file under Task Master's lock;
the new file has a new inode, so the next read parses it again.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

from tmxd.errors import InputError, TmxdError
from tmxd.taskmaster.document import TasksFile
from tmxd.taskmaster.project import Project, find_project

if TYPE_CHECKING:
    from tmxd.metrics.recorder import Recorder

T = TypeVar("T")
# how the CLI's errors tell the user to name a project; a model names it with projectRoot
CLI_PROJECT_OPTION = "-p/--project"
StatKey = tuple[int, int, int]


class ToolError(TmxdError):
    """A call that cannot be answered: one line for the model, and the tag it was about."""

    def __init__(self, message: str, tag: str | None = None) -> None:
        super().__init__(message)
        self.tag = tag


@dataclass(frozen=True)
class Opened:
    """One call's view of its project: the project, its parsed tasks.json and the tag."""

    project: Project
    doc: TasksFile
    tag: str

    @property
    def root(self) -> Path:
        return self.project.root


def _stat_key(path: Path) -> StatKey | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _path_argument(value: str) -> Path:
    """A ``projectRoot`` as clients send it: a path, or a ``file://`` URI."""
    text = unquote(value.strip())
    if text.startswith("file://"):
        text = text[len("file://") :]
    return Path(text).expanduser()


class Workspace:
    """Finds the project of each call and keeps parsed files while they are unchanged."""

    def __init__(
        self,
        default_root: Path | None = None,
        env: Mapping[str, str] | None = None,
        recorder: Callable[[], Recorder | None] = lambda: None,
    ):
        self.env = dict(os.environ if env is None else env)
        self.default_root = default_root
        self.started_in = Path.cwd()
        self.recorder = recorder  # the metrics database, when the server has one
        self._projects: dict[str, Project] = {}
        self._files: dict[Path, tuple[StatKey, Any]] = {}
        # what was worked out from a parsed tasks.json (the next task, the active tag)
        self._derived: weakref.WeakKeyDictionary[TasksFile, dict[Hashable, Any]] = (
            weakref.WeakKeyDictionary()
        )

    # -- projects ------------------------------------------------------------------

    def default_folder(self) -> Path:
        """Where a call without ``projectRoot`` looks for its project."""
        if self.default_root is not None:
            return self.default_root
        for name in ("TMXD_PROJECT_ROOT", "TASK_MASTER_PROJECT_ROOT", "CLAUDE_PROJECT_DIR"):
            value = self.env.get(name)
            if value:
                return _path_argument(value)
        return Path.cwd()

    def project(self, project_root: str | None) -> Project:
        """The project a call names (``projectRoot``), else the server's own."""
        if project_root and self._is_agent_folder(project_root):
            project_root = None
        key = project_root or ""
        found = self._projects.get(key)
        if found is not None:
            return found
        if project_root:
            found = find_project(_path_argument(project_root))
        elif self.default_root is not None:
            found = find_project(self.default_root)
        else:
            found = find_project(None, cwd=self.default_folder())
        self._projects[key] = found
        return found

    def for_a_model(self, message: str, args: Mapping[str, Any]) -> str:
        """``message`` with the CLI's way of naming a project (``-p/--project``, in the
        errors of :func:`find_project` and of a file that is not Task Master's) turned into
        the tool's: the ``projectRoot`` argument. The server's own ``-p`` is mentioned only
        when this server was started with it and the call did not name a project."""
        if CLI_PROJECT_OPTION not in message:
            return message
        text = message.replace(CLI_PROJECT_OPTION, "the projectRoot argument")
        if self.default_root is not None and not (args.get("projectRoot") or args.get("file")):
            text += (
                f" (without projectRoot this server uses {self.default_root}, "
                "from its `tmxd mcp -p`)"
            )
        return text

    def _is_agent_folder(self, project_root: str) -> bool:
        """True when an autopilot agent names its own working folder (a worktree, say):
        with ``$TMXD_PROJECT_ROOT`` set, that folder stands for the project the run is for."""
        if not self.env.get("TMXD_PROJECT_ROOT"):
            return False
        here = self.env.get("CLAUDE_PROJECT_DIR") or str(self.started_in)
        try:
            return _path_argument(project_root).resolve() == Path(here).resolve()
        except OSError:
            return False

    def open(self, project: Project, tag: str | None) -> Opened:
        """The project with its tasks.json and the active tag (``tag`` when given)."""
        doc = self.tasks(project)
        return Opened(project, doc, self.tag_of(project, doc, tag))

    def tag_of(self, project: Project, doc: TasksFile, tag: str | None) -> str:
        """:meth:`Project.active_tag`, remembered while state.json and tasks.json stay."""
        state = _stat_key(project.state_path) if project.state_path else None
        key = ("tag", tag or None, state, self.env.get("TASKMASTER_TAG"))
        found: str = self.derived(
            doc, key, lambda: project.active_tag(tag or None, doc.tag_names())
        )
        return found

    def derived(self, doc: TasksFile, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, remembered for this parsed tasks.json (a new version starts afresh)."""
        memo = self._derived.get(doc)
        if memo is None:
            memo = self._derived[doc] = {}
        if key not in memo:
            memo[key] = compute()
        value: T = memo[key]
        return value

    # -- files ---------------------------------------------------------------------

    def tasks(self, project: Project) -> TasksFile:
        """``tasks.json`` parsed (kept while its mtime, size and inode are unchanged)."""
        from tmxd.taskmaster.store import TaskStore

        try:
            return self._cached(project.tasks_path, lambda: TaskStore(project).read())
        except InputError:
            # the project may have moved to another layout: find it again next time
            self._projects = {k: p for k, p in self._projects.items() if p != project}
            raise

    def complexity(self, project: Project, tag: str, path: Path | None = None) -> dict[str, Any]:
        """Complexity report entries by task id (``path``: another report than the tag's)."""
        from tmxd.taskmaster.cli_json import load_complexity

        report = path or project.complexity_report_path(tag)
        found: dict[str, Any] = self._cached(report, lambda: load_complexity(report))
        return found

    def _cached(self, path: Path, load: Callable[[], T]) -> T:
        key = _stat_key(path)
        held = self._files.get(path)
        if key is not None and held is not None and held[0] == key:
            value: T = held[1]
            return value
        value = load()
        # kept only when the file did not change while it was read
        if key is not None and _stat_key(path) == key:
            self._files[path] = (key, value)
        else:
            self._files.pop(path, None)
        return value


def require_text(args: Mapping[str, Any], name: str) -> str:
    """A required, non-empty string argument."""
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{name} is required")
    return value.strip()
