"""``tmxd init``: wire a Task Master project to Claude Code, MCP and tmxd.

:func:`plan` computes, without touching anything, the new text of every file
init owns a part of:

``.mcp.json``                        tmxd's MCP server (``tmxd mcp``) and Task Master's
                                     (``npx -y task-master-ai``, limited to its AI tools),
                                     optionally the filesystem and git servers; API keys
                                     only as ``${VAR}`` references, never values
``.claude/settings.json``            ``permissions.allow`` for the workflow's commands and the
                                     real ``PostToolUse``/``PostToolUseFailure``/``Stop``/
                                     ``SessionEnd`` hooks running ``tmxd hook claude``
``.claude/commands/taskmaster-*.md`` the ``/taskmaster-workflow`` and ``/taskmaster-debug``
                                     slash commands
``.taskmaster/tmxd.toml``            every option of every config section, commented, at
                                     its default, except the few init chooses for a
                                     project it sets up (:func:`init_choices`)

JSON files are merged by :mod:`tmxd.setup.claude_settings` (our entries added or
updated, every other byte kept); an existing slash command that differs from
ours is kept unless ``force``; the TOML file only ever gains commented lines
for options it does not mention. :func:`apply` writes the changed files
atomically. Running init twice changes nothing the second time.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import shutil
import sys
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tmxd.config import Section, config_path, render_toml_value
from tmxd.errors import InputError, TmxdError
from tmxd.fsutil import write_atomic
from tmxd.setup import claude_settings
from tmxd.setup.claude_settings import INIT, InitConfig

COMMAND_FILES = ("taskmaster-workflow.md", "taskmaster-debug.md")


@dataclass(frozen=True)
class FileChange:
    """One file init owns a part of: its text before (None: absent) and after."""

    path: Path
    old: str | None
    new: str
    note: str = ""

    @property
    def changed(self) -> bool:
        return self.old != self.new

    @property
    def action(self) -> str:
        if self.old is None:
            return "create"
        return "update" if self.changed else "unchanged"

    def diff(self, root: Path) -> str:
        """A unified diff (``a/<path>`` → ``b/<path>``); empty when nothing changes."""
        if not self.changed:
            return ""
        rel = self.path.relative_to(root).as_posix()
        old_lines = (self.old or "").splitlines(keepends=True)
        new_lines = self.new.splitlines(keepends=True)
        lines = difflib.unified_diff(
            _terminated(old_lines),
            _terminated(new_lines),
            fromfile="/dev/null" if self.old is None else f"a/{rel}",
            tofile=f"b/{rel}",
        )
        return "".join(lines)


@dataclass(frozen=True)
class Plan:
    root: Path
    changes: list[FileChange]
    warnings: list[str] = field(default_factory=list)

    @property
    def pending(self) -> list[FileChange]:
        return [c for c in self.changes if c.changed]


@dataclass(frozen=True)
class Options:
    with_servers: tuple[str, ...] = ()
    force: bool = False


# -- planning ------------------------------------------------------------------


def plan(root: Path, options: Options | None = None) -> Plan:
    """Everything init would write in ``root``; raises InputError for files it cannot merge."""
    options = options or Options()
    cfg = INIT.load(root)
    warnings: list[str] = []
    errors: list[str] = []
    changes: list[FileChange] = []
    builders: list[Callable[[], list[FileChange]]] = [
        lambda: [plan_mcp(root, cfg, options.with_servers, warnings)],
        lambda: [plan_settings(root, cfg, warnings)],
        lambda: plan_commands(root, options.force, warnings),
        lambda: [plan_toml(root)],
    ]
    for build in builders:
        try:
            changes.extend(build())
        except InputError as exc:
            errors.append(exc.message)
    if errors:
        raise InputError("; ".join(errors))
    return Plan(root, changes, warnings)


def plan_mcp(
    root: Path, cfg: InitConfig, extra: Sequence[str], warnings: list[str] | None = None
) -> FileChange:
    path = root / ".mcp.json"
    old = _read(path)
    return FileChange(path, old, claude_settings.merge_mcp(old, path, cfg, extra, warnings))


def plan_settings(root: Path, cfg: InitConfig, warnings: list[str] | None = None) -> FileChange:
    path = root / ".claude" / "settings.json"
    old = _read(path)
    return FileChange(path, old, claude_settings.merge_settings(old, path, root, cfg, warnings))


def plan_commands(root: Path, force: bool, warnings: list[str]) -> list[FileChange]:
    changes = []
    for name in COMMAND_FILES:
        path = root / ".claude" / "commands" / name
        ours = command_text(name)
        old = _read(path)
        if old is not None and old != ours and not force:
            warnings.append(
                f"{path}: kept your version (it differs from tmxd's); "
                "`tmxd init --force` replaces it"
            )
            changes.append(FileChange(path, old, old, note="kept"))
        else:
            changes.append(FileChange(path, old, ours))
    return changes


def command_text(name: str) -> str:
    return resources.files("tmxd").joinpath("resources", "claude", name).read_text("utf-8")


# -- tmxd.toml -----------------------------------------------------------------

_HEADER = re.compile(r"^\s*#?\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(?:#.*)?$")
TOML_INTRO = (
    "# tmxd configuration for this project.\n"
    "# Every option is listed at its default, commented out: uncomment a line to change it.\n"
    "# `tmxd doctor` checks this file; `tmxd init` adds options new versions of tmxd introduce.\n"
)


def registered_sections() -> list[Section[Any]]:
    """Every table of tmxd.toml, by name: one line per area that owns one."""
    from tmxd.autopilot.config import AUTOPILOT
    from tmxd.commits.linking import LINKS
    from tmxd.daemon.notify import NOTIFY
    from tmxd.daemon.settings import DAEMON
    from tmxd.metrics.settings import METRICS, REPORT

    sections: list[Section[Any]] = [AUTOPILOT, DAEMON, INIT, LINKS, METRICS, NOTIFY, REPORT]
    return sorted(sections, key=lambda sec: sec.name)


@dataclass(frozen=True)
class Choice:
    """A value init writes for a project it sets up, instead of the commented default."""

    value: Any
    why: str  # a comment line above it
    active: bool = True  # False: an example, written commented out


Choices = dict[tuple[str, str], Choice]  # (section, option) -> what init writes


# The desktop notifier of each platform, as a [notify] command (the message is one argument;
# osascript hands it to the script as data, never as AppleScript source).
NOTIFIERS: dict[str, list[str]] = {
    "linux": ["notify-send", "tmxd", "{message}"],
    "darwin": [
        "osascript",
        "-e",
        "on run argv",
        "-e",
        'display notification (item 1 of argv) with title "tmxd"',
        "-e",
        "end run",
        "{message}",
    ],
}


def platform_notifier(platform: str | None = None) -> tuple[list[str], bool]:
    """The platform's notifier command, and whether its program is on PATH."""
    argv = NOTIFIERS["darwin" if (platform or sys.platform) == "darwin" else "linux"]
    return argv, shutil.which(argv[0]) is not None


def init_choices() -> Choices:
    """What a project set up with ``tmxd init`` gets on top of the defaults.

    A project only registered with ``tmxd watch add`` keeps the conservative defaults.
    """
    notifier, found = platform_notifier()
    return {
        ("daemon", "cascade_external"): Choice(
            True,
            "Set by tmxd init: a parent follows its subtasks edited in an editor or by an "
            "MCP server, as with `task-master set-status` (false: the daemon only records).",
        ),
        ("notify", "command"): Choice(
            notifier,
            f"Set by tmxd init: {notifier[0]} was found on PATH."
            if found
            else f"{notifier[0]} was not found on PATH when tmxd init ran; "
            "uncomment once it is, or put a command of yours here.",
            active=found,
        ),
    }


def render_section(
    sec: Section[Any], header: bool = True, choices: Choices | None = None
) -> list[str]:
    lines = [f"[{sec.name}]\n"] if header else []
    lines.append(f"# {sec.doc}\n")
    for fld in dataclasses.fields(sec.cls):
        lines.extend(["\n", *render_option(sec, fld, choices)])
    return lines


def render_option(
    sec: Section[Any], fld: dataclasses.Field[Any], choices: Choices | None = None
) -> list[str]:
    help_text = fld.metadata.get("help", "")
    choice = (choices or {}).get((sec.name, fld.name))
    if choice is not None:
        mark = "" if choice.active else "# "
        value = render_toml_value(choice.value)
        return [f"# {help_text}\n", f"# {choice.why}\n", f"{mark}{fld.name} = {value}\n"]
    default = getattr(sec.defaults(), fld.name)
    value = '""  # not set by default' if default is None else render_toml_value(default)
    return [f"# {help_text}\n", f"# {fld.name} = {value}\n"]


def render_toml(sections: Iterable[Section[Any]], choices: Choices | None = None) -> str:
    parts = [TOML_INTRO]
    for sec in sections:
        parts.append("\n" + "".join(render_section(sec, choices=choices)))
    return "".join(parts)


def plan_toml(root: Path) -> FileChange:
    path = config_path(root)
    old = _read(path)
    sections = registered_sections()
    if old is None:
        return FileChange(path, None, render_toml(sections, init_choices()))
    try:
        existing = tomllib.loads(old)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}; fix the file or remove it") from exc
    return FileChange(path, old, merge_toml(old, sections, existing, init_choices()))


def merge_toml(
    text: str,
    sections: Sequence[Section[Any]],
    parsed: dict[str, Any],
    choices: Choices | None = None,
) -> str:
    """Add commented lines for the sections and options ``text`` does not mention yet.

    An option ``choices`` names is written with init's value instead, where a line of
    that table can go (under a real header; commented out under a commented one).
    """
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    headers = [(i, m.group(1)) for i, line in enumerate(lines) if (m := _HEADER.match(line))]
    inserts: dict[int, list[str]] = {}
    appended: list[str] = []
    for sec in sections:
        found = [pos for pos, (_, name) in enumerate(headers) if name == sec.name]
        if not found:
            if sec.name in parsed:  # defined by dotted keys: a header would be a TOML error
                block = render_section(sec)
                block[0] = "# " + block[0]
            else:
                block = render_section(sec, choices=choices)
            appended += ["\n", *block]
            continue
        start = headers[found[0]][0]
        real_header = not lines[start].lstrip().startswith("#")
        following = [i for i, _ in headers if i > start]
        end = following[0] if following else len(lines)
        region = "".join(lines[start:end])
        missing: list[str] = []
        for fld in dataclasses.fields(sec.cls):
            if not re.search(rf"^\s*#?\s*{re.escape(fld.name)}\s*=", region, re.M):
                missing += ["\n", *render_option(sec, fld, choices if real_header else None)]
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1
        if missing:
            inserts.setdefault(end, []).extend(missing)
    if not inserts and not appended:
        return text
    out: list[str] = []
    for i, line in enumerate(lines):
        out.extend(inserts.get(i, []))
        out.append(line)
    out.extend(inserts.get(len(lines), []))
    out.extend(appended)
    return "".join(out)


# -- project and follow-up steps -----------------------------------------------


def find_root(explicit: Path | None = None, cwd: Path | None = None) -> Path:
    """The Task Master project root, found the way Task Master finds it."""
    from tmxd.taskmaster.project import find_project

    return find_project(explicit, cwd).root


@dataclass(frozen=True)
class StepResult:
    """A follow-up step of init: ``ok`` is None when it was skipped."""

    name: str
    ok: bool | None
    message: str


NO_GIT_STEP = "git hooks and merge driver"


def git_steps(root: Path, dry_run: bool = False) -> list[StepResult]:
    """The git hooks and the merge driver; outside a git repository, one skipped step
    that says so (a Task Master project works without git; its commits are not linked)."""
    from tmxd import git

    try:
        git.repo_paths(root)
    except git.NotARepository:
        return [
            StepResult(
                NO_GIT_STEP,
                None,
                f"skipped: {root} is not in a git repository, so commits cannot be linked "
                "to tasks (after `git init`, run `tmxd hooks install`)",
            )
        ]
    return [install_git_hooks(root, dry_run), register_merge_driver(root, dry_run)]


def install_git_hooks(root: Path, dry_run: bool = False) -> StepResult:
    """``tmxd hooks install`` for the project's repository."""
    from tmxd.commits import hooks

    name = "tmxd hooks install"
    if dry_run:
        try:
            problem = hooks.status(root).problem
        except TmxdError:
            problem = "not a git repository yet"
        if problem is None:
            return StepResult(name, None, "unchanged: the git hooks are installed")
        return StepResult(name, None, "would install the git hooks")
    try:
        changes = hooks.install(root)
    except TmxdError as exc:
        return StepResult(name, False, exc.message)
    actions = Counter(change.action for change in changes)
    done = ", ".join(f"{count} {action}" for action, count in sorted(actions.items()))
    return StepResult(name, True, f"git hooks: {done}" if done else "git hooks installed")


def register_merge_driver(root: Path, dry_run: bool = False) -> StepResult:
    """Route tasks.json to `tmxd merge-driver` (.gitattributes and the git config)."""
    from tmxd.commits import merge_driver
    from tmxd.taskmaster.project import find_project

    name = "merge driver"
    if dry_run:
        try:
            project = find_project(root)
            st = merge_driver.status(root, project.tasks_path)
            done = st.routed and st.command == merge_driver.driver_command()
        except TmxdError:
            done = False
        if done:
            return StepResult(name, None, "unchanged: tasks.json merges with `tmxd merge-driver`")
        return StepResult(name, None, "would route tasks.json to `tmxd merge-driver`")
    try:
        registration = merge_driver.register(find_project(root))
    except TmxdError as exc:
        return StepResult(name, False, exc.message)
    return StepResult(name, True, registration.summary)


REGISTER_WAIT_S = 10.0


def register_project(
    root: Path, dry_run: bool = False, wait_s: float = REGISTER_WAIT_S
) -> StepResult:
    """``tmxd watch add <root>``, then make a running daemon reload and wait until it
    watches the project: "registered" is said only once it is true."""
    from tmxd.daemon import registry

    name = f"tmxd watch add {root}"
    if dry_run:
        if root.resolve() in {p.resolve() for p in registry.list_projects()}:
            return StepResult(name, None, "unchanged: the project is registered")
        return StepResult(name, None, "would register the project with the daemon")
    known = root.resolve() in {p.resolve() for p in registry.list_projects()}
    try:
        registry.add_project(root)
    except TmxdError as exc:
        return StepResult(name, False, exc.message)
    ok, daemon = _daemon_watches(root, wait_s)
    if known:
        return StepResult(name, ok, f"unchanged: the project is registered; {daemon}")
    if not ok:
        return StepResult(name, False, f"added to the watch list, but {daemon}")
    if daemon.startswith("the running daemon"):
        return StepResult(name, True, f"registered: {daemon}")
    return StepResult(name, True, f"added to the watch list; {daemon}")


WATCHED = "watches it"


def _daemon_watches(root: Path, wait_s: float) -> tuple[bool, str]:
    """Make a running daemon reload; (True, "...watches it") once it does."""
    import time

    from tmxd import clock
    from tmxd.daemon import control
    from tmxd.errors import DaemonNotRunning

    try:
        pid = control.request("reload", timeout=5)["pid"]
    except DaemonNotRunning:
        return True, "no daemon is running yet: `tmxd start` (or `tmxd service install`) watches it"
    except TmxdError as exc:
        return False, f"the daemon did not answer: {exc.message}"
    deadline = clock.monotonic() + wait_s
    wanted = root.resolve()
    while True:
        try:
            projects = control.request("status", timeout=5).get("projects", [])
        except TmxdError as exc:
            return False, f"the daemon did not answer: {exc.message}"
        for project in projects:
            same = Path(str(project.get("root"))).resolve() == wanted
            if same and project.get("watch", "not watched") != "not watched":
                return True, f"the running daemon (pid {pid}) {WATCHED}"
        if clock.monotonic() >= deadline:
            return False, (
                f"the running daemon (pid {pid}) does not watch it after {wait_s:g} s; "
                "see `tmxd status` and its log"
            )
        time.sleep(0.1)


# -- applying ------------------------------------------------------------------


def apply(changes: Iterable[FileChange]) -> list[Path]:
    """Write every changed file atomically; return the paths written."""
    written = []
    for change in changes:
        if change.changed:
            change.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(change.path, change.new)  # an existing file keeps its mode
            written.append(change.path)
    return written


def _read(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}") from exc


def _terminated(lines: list[str]) -> list[str]:
    if lines and not lines[-1].endswith("\n"):
        return [*lines[:-1], lines[-1] + "\n"]
    return lines
