"""``tmxd merge-driver``: git merges ``tasks.json`` as Task Master data, not as lines.

Git runs a custom merge driver (gitattributes(5), "Defining a custom merge driver") with
the common ancestor's, ours' and theirs' versions in temp files (``%O %A %B``) and the
path being merged (``%P``). The driver leaves the result in ``%A`` and exits 0 (merged)
or non-zero (conflicted: git keeps ``%A``'s content and marks the path unmerged).

:func:`run` is that driver around :func:`tmxd.taskmaster.merge.merge`: it checks the three
versions, merges them, splices the resulting edits into ours' text (so ours' format is
kept and the merge commit's diff is small), replaces ``%A`` atomically, and writes the
conflicts to a report beside the merged file. :func:`resolve` settles one reported
conflict; :func:`register` and :func:`status` set up and check a repository (git reads
drivers from its config only, so every clone needs the config entries), and
:func:`config_args` makes one merge use the driver (the autopilot's).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tmxd import clock, git
from tmxd.errors import InputError, TmxdError
from tmxd.fsutil import write_atomic
from tmxd.taskmaster import jsonedit
from tmxd.taskmaster.document import TasksFile, decode, parse_tasks
from tmxd.taskmaster.merge import MISSING, Conflict, MergeResult, merge, tag_views
from tmxd.taskmaster.project import Project, find_project
from tmxd.taskmaster.store import TaskStore, retry_if_saved_meanwhile

DRIVER = "tmxd-tasks"
DRIVER_LABEL = "tmxd: merge Task Master tasks.json by task and field"
ATTRIBUTE = f"merge={DRIVER}"
REPORT_SUFFIX = ".conflicts"
DELETED = "(deleted)"


class SideError(TmxdError):
    """One of the three versions cannot be merged (not JSON, not a Task Master file)."""


@dataclass(frozen=True)
class DriverRun:
    result: MergeResult
    report: Path | None  # written when there are conflicts
    changed: bool  # %A was rewritten


# -- the driver ----------------------------------------------------------------------------


def _side(name: str, file: Path, path: str, *, empty_ok: bool) -> TasksFile | None:
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise SideError(f"{name} ({path}): cannot read {file}: {exc.strerror or exc}") from None
    if empty_ok and not raw.strip():
        return None  # no common ancestor: both sides added the file
    try:
        return parse_tasks(decode(raw, Path(path)), Path(path))
    except InputError as exc:
        raise SideError(f"{name}: {exc.message}") from None


def run(
    ancestor: Path,
    ours: Path,
    theirs: Path,
    path: str,
    *,
    workdir: Path,
    now: datetime | None = None,
) -> DriverRun:
    """Merge ``theirs`` into ``ours`` (``%A``, rewritten in place) against ``ancestor``.

    ``path`` is ``%P``, relative to ``workdir`` (the work tree git merges in); the conflicts
    report goes beside it. A :class:`SideError` names the side that cannot be merged; ``ours``
    is then untouched.
    """
    base = _side("ancestor", ancestor, path, empty_ok=True)
    mine = _side("ours", ours, path, empty_ok=False)
    other = _side("theirs", theirs, path, empty_ok=False)
    assert mine is not None and other is not None
    result = merge(base, mine, other, now=now or clock.now())
    text = jsonedit.apply(mine.text, result.edits) if result.edits else mine.text
    changed = text != mine.text
    if changed:
        try:
            parse_tasks(text, Path(path))
        except InputError as exc:  # a bug: never hand git anything but a Task Master file
            raise TmxdError(
                f"the merged {path} would not parse ({exc.message}); ours kept"
            ) from None
        write_atomic(ours, text)
    report = report_path(workdir / path)
    if not result.conflicts:
        report.unlink(missing_ok=True)  # left by an earlier merge of this file
        return DriverRun(result, None, changed)
    write_atomic(report, report_text(path, result.conflicts))
    return DriverRun(result, report, changed)


# -- the conflicts report ------------------------------------------------------------------


def report_path(tasks_path: Path) -> Path:
    return tasks_path.with_name(tasks_path.name + REPORT_SUFFIX)


def _value_text(value: Any) -> str:
    return DELETED if value is MISSING else json.dumps(value, ensure_ascii=False)


def conflict_line(conflict: Conflict) -> str:
    """``tag<TAB>id<TAB>field<TAB>ours<TAB>theirs`` (values as JSON, ``-`` where none)."""
    return "\t".join(
        [
            conflict.tag if conflict.tag is not None else "-",
            conflict.task_id if conflict.task_id is not None else "-",
            conflict.field_name,
            _value_text(conflict.ours),
            _value_text(conflict.theirs),
        ]
    )


def report_text(path: str, conflicts: list[Conflict], head: list[str] | None = None) -> str:
    """The report: a few ``#`` lines saying what it is, then one line per conflict."""
    head = head or [
        f"# tmxd merge-driver: conflicts in {path}, which holds ours for each of them.",
        "# Decide each with: tmxd merge-driver --resolve ID FIELD ours|theirs",
        "# then git add the file and commit (or continue the rebase).",
        "# tag\tid\tfield\tours\ttheirs",
    ]
    return "\n".join([*head, *(conflict_line(c) for c in conflicts)]) + "\n"


def _parse_value(text: str) -> Any:
    return MISSING if text == DELETED else json.loads(text)


def parse_report(text: str, where: str) -> list[Conflict]:
    """The conflicts a report lists; a line that is not one is an input error naming it."""
    out: list[Conflict] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            if len(parts) != 5:
                raise ValueError("expected 5 tab-separated fields")
            tag, task_id, name, ours, theirs = parts
            field = _field(name, in_task=task_id != "-", in_tag=tag != "-")
            out.append(
                Conflict(
                    None if tag == "-" else tag,
                    None if task_id == "-" else task_id,
                    field,
                    _parse_value(ours),
                    _parse_value(theirs),
                )
            )
        except ValueError as exc:
            raise InputError(f"{where}: line {number} is not a conflict line ({exc})") from None
    return out


def read_report(report: Path) -> list[Conflict]:
    try:
        text = report.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{report}: cannot read: {exc.strerror or exc}") from None
    return parse_report(text, str(report))


def _field(name: str, *, in_task: bool, in_tag: bool) -> tuple[str, ...]:
    if (in_task and name == "task") or (not in_task and in_tag and name == "tag"):
        return ()
    return tuple(name.split("."))


# -- resolving one conflict ----------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    conflict: Conflict
    choice: str
    remaining: int
    report: Path


def resolve(
    project: Project, task_id: str, field: str, choice: str, tag: str | None = None
) -> Resolved:
    """Settle the reported conflict on ``task_id``'s ``field``: keep ours or write theirs."""
    report = report_path(project.tasks_path)
    if not report.exists():
        raise InputError(
            f"no merge conflicts are recorded for {project.tasks_path} ({report} does not exist)"
        )
    conflicts = read_report(report)
    wanted_id = None if task_id == "-" else task_id
    matches = [
        c
        for c in conflicts
        if c.task_id == wanted_id and c.field_name == field and (tag is None or c.tag == tag)
    ]
    if not matches:
        open_ = ", ".join(f"{c.task_id or '-'} {c.field_name}" for c in conflicts[:8])
        raise InputError(f"no open conflict on {task_id} {field} in {report}; open: {open_}")
    if len(matches) > 1:
        tags = ", ".join(c.tag or "-" for c in matches)
        raise InputError(f"{task_id} {field} conflicts in several tags ({tags}); pass --tag")
    conflict = matches[0]
    if choice == "theirs":
        _write_value(project, conflict, conflict.theirs)
    remaining = [c for c in conflicts if c is not conflict]
    if remaining:
        head = [line for line in report.read_text(encoding="utf-8").splitlines() if line[:1] == "#"]
        write_atomic(report, report_text("", remaining, head))
    else:
        report.unlink()
    return Resolved(conflict, choice, len(remaining), report)


@retry_if_saved_meanwhile
def _write_value(project: Project, conflict: Conflict, value: Any) -> None:
    with TaskStore(project).edit() as doc:
        holder, key = _place(doc, conflict)
        if value is MISSING:
            if isinstance(holder, list) or key in holder:
                del holder[key]
        elif isinstance(holder, list) and key == len(holder):
            holder.append(value)
        else:
            holder[key] = value
        doc.invalidate()


def _place(doc: TasksFile, conflict: Conflict) -> tuple[Any, Any]:
    """The container holding the conflicting value in ``doc``, and its key there."""
    if conflict.tag is None:
        return _walk(doc.data, conflict.field, conflict)
    views = tag_views(doc)
    if conflict.task_id is None:
        if not conflict.field:
            return doc.data, conflict.tag
        view = views.get(conflict.tag)
        if view is None:
            raise InputError(f"tag '{conflict.tag}' is no longer in {doc.path}")
        return _walk(view.container, conflict.field, conflict)
    found = doc.locate(conflict.task_id, conflict.tag)
    if conflict.field:
        if found is None:
            raise InputError(f"task {conflict.task_id} is no longer in {doc.path}")
        return _walk(found[1], conflict.field, conflict)
    # The whole task: where it is, or where it goes back.
    if found is not None:
        parent, raw = found
        holder = views[conflict.tag].tasks if parent is None else parent["subtasks"]
        return holder, next(i for i, item in enumerate(holder) if item is raw)
    parent_id, dot, _ = conflict.task_id.rpartition(".")
    if dot:
        parent_found = doc.locate(parent_id, conflict.tag)
        if parent_found is None:
            raise InputError(f"task {parent_id} is no longer in {doc.path}")
        subs = parent_found[1].setdefault("subtasks", [])
        return subs, len(subs)
    tasks = views[conflict.tag].tasks
    return tasks, len(tasks)


def _walk(node: Any, field: tuple[str, ...], conflict: Conflict) -> tuple[Any, str]:
    for step in field[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(step), dict):
            raise InputError(f"{'.'.join(field)} of {conflict.task_id or conflict.tag} moved")
        node = node[step]
    return node, field[-1]


# -- registering the driver in a repository ------------------------------------------------


#: git's own text merge of the same three files, with its conflict markers: what git
#: does for a path with no merge driver. The driver line falls back to it when tmxd
#: cannot run (not on git's PATH, uninstalled, its virtualenv gone).
FALLBACK = "git merge-file -L ours -L base -L theirs --marker-size=%L %A %O %B"
_ARGS = "merge-driver %O %A %B %P"  # git puts temp file names here, and %P shell-quoted
_COMMAND_RE = re.compile(
    r"if (?P<check>.+?); then (?P<exe>.+?) "
    + re.escape(_ARGS)
    + "; else "
    + re.escape(FALLBACK)
    + "; fi"
)


def driver_command(which: Callable[[str], str | None] = shutil.which) -> str:
    """The ``merge.tmxd-tasks.driver`` line (git runs it with ``sh -c``): tmxd (``tmxd`` if
    on PATH, else its absolute path) when it can run, else :data:`FALLBACK`. Built from
    tmxd's own location only, never from text in the repository."""
    if which("tmxd"):
        exe, check = "tmxd", "command -v tmxd >/dev/null 2>&1"
    else:
        argv0 = Path(sys.argv[0])
        if argv0.name == "tmxd" and argv0.is_file():
            exe = shlex.quote(str(argv0.resolve()))
            check = f"[ -x {exe} ]"
        else:
            python = shlex.quote(sys.executable)
            exe, check = f"{python} -m tmxd", f"{python} -c 'import tmxd' >/dev/null 2>&1"
    return f"if {check}; then {exe} {_ARGS}; else {FALLBACK}; fi"


def driver_program(command: str) -> str | None:
    """The program a driver line runs tmxd with (``tmxd``, a path, a python), or None
    when the line is not :func:`driver_command`'s (an older one, without the fallback,
    or a hand-written one)."""
    match = _COMMAND_RE.fullmatch(command)
    if match is None:
        return None
    try:
        return shlex.split(match["exe"])[0]
    except (ValueError, IndexError):
        return None


@dataclass(frozen=True)
class Registration:
    """What :func:`register` did in one repository."""

    attributes: Path  # the .gitattributes file routing tasks.json to the driver
    attributes_changed: bool
    config_changed: bool
    command: str  # merge.tmxd-tasks.driver

    @property
    def summary(self) -> str:
        line = "line added" if self.attributes_changed else "line already there"
        config = "set" if self.config_changed else "already set"
        return (
            f"tasks.json merges through `tmxd merge-driver` ({self.attributes.name}: {line}; "
            f"git config merge.{DRIVER}.driver: {config})"
        )


def tasks_pattern(top: Path, tasks_path: Path) -> str:
    """``tasks_path`` as a pattern of an attributes file at the top of the work tree."""
    rel = _relative(top, tasks_path)
    if any(c.isspace() or c in '"\\#' for c in rel):
        return '"' + rel.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return rel


def _routed(top: Path, rel: str) -> str:
    """The ``merge`` attribute git gives ``rel`` (``unspecified`` when none)."""
    out = git.git_text(top, "check-attr", "-z", "merge", "--", rel)
    fields = out.split("\0")
    return fields[2] if len(fields) >= 3 else "unspecified"


def _has_line(text: str, pattern: str) -> bool:
    """Whether a .gitattributes text already routes ``pattern`` to the driver."""
    for line in text.splitlines():
        stripped = line.strip()
        rest = stripped[len(pattern) :]
        if stripped.startswith(pattern) and rest[:1].isspace() and ATTRIBUTE in rest.split():
            return True
    return False


def _with_line(text: str, pattern: str) -> str:
    """An attributes file's ``text`` with the line routing ``pattern`` to the driver."""
    if _has_line(text, pattern):
        return text
    lead = "\n" if text and not text.endswith("\n") else ""
    return f"{text}{lead}{pattern} {ATTRIBUTE}\n"


def register(
    project: Project, *, which: Callable[[str], str | None] = shutil.which
) -> Registration:
    """Route the project's tasks.json to the driver in the repository's ``.gitattributes``
    (one line, merged into the file) and define the driver in its git config. Repeating it
    changes nothing."""
    top = _top(project.root)
    tasks_path = project.tasks_path
    attributes = top / ".gitattributes"
    old = attributes.read_text(encoding="utf-8") if attributes.exists() else ""
    new = _with_line(old, tasks_pattern(top, tasks_path))
    if new != old:
        write_atomic(attributes, new)
    command = driver_command(which)
    config_changed = False
    for key, value in ((f"merge.{DRIVER}.name", DRIVER_LABEL), (f"merge.{DRIVER}.driver", command)):
        current = git.config_get(top, key)
        if current is None or current.value != value:
            git.run_git(top, ["config", "--local", key, value])
            config_changed = True
    return Registration(attributes, new != old, config_changed, command)


def _top(cwd: Path) -> Path:
    top = git.repo_paths(cwd).toplevel
    if top is None:
        raise InputError(f"{cwd}: a bare repository has no work tree to merge in")
    return top


def _relative(top: Path, tasks_path: Path) -> str:
    try:
        return tasks_path.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        raise InputError(f"{tasks_path} is outside the repository at {top}") from None


def config_args(root: Path) -> list[str]:
    """``git -c`` options that make a merge in the project at ``root`` take its tasks.json
    through the driver, whatever this clone's config holds.

    When no attributes file routes tasks.json to the driver yet, the repository's own
    ``info/attributes`` gets the line (the work tree is left alone). No options outside a
    Task Master project.
    """
    try:
        tasks_path = find_project(root).tasks_path
    except InputError:
        return []
    top = _top(root)
    if _routed(top, _relative(top, tasks_path)) != DRIVER:
        info = Path(git.git_text(top, "rev-parse", "--git-path", "info/attributes"))
        info = info if info.is_absolute() else top / info
        try:
            old = info.read_text(encoding="utf-8") if info.exists() else ""
            info.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(info, _with_line(old, tasks_pattern(top, tasks_path)))
        except OSError:
            pass  # the merge then goes as git's text merge would; it is no worse off
    return [
        "-c",
        f"merge.{DRIVER}.name={DRIVER_LABEL}",
        "-c",
        f"merge.{DRIVER}.driver={driver_command()}",
    ]


@dataclass(frozen=True)
class DriverStatus:
    """How a repository merges a project's tasks.json (for ``tmxd doctor``)."""

    path: str  # tasks.json, relative to the top of the work tree
    attribute: str  # the ``merge`` attribute git gives it (``unspecified`` when none)
    command: str | None  # merge.tmxd-tasks.driver; None when this clone does not define it
    runnable: bool  # the command's program is there
    fallback: bool  # the command falls back to git's text merge when tmxd cannot run
    report: Path
    conflicts: int  # conflicts listed in the report
    unmerged: bool  # git holds tasks.json unmerged

    @property
    def routed(self) -> bool:
        return self.attribute == DRIVER


def status(
    cwd: Path, tasks_path: Path, *, which: Callable[[str], str | None] = shutil.which
) -> DriverStatus:
    top = _top(cwd)
    rel = _relative(top, tasks_path)
    entry = git.config_get(top, f"merge.{DRIVER}.driver")
    command = entry.value if entry is not None else None
    report = report_path(tasks_path)
    return DriverStatus(
        path=rel,
        attribute=_routed(top, rel),
        command=command,
        runnable=command is not None and _runnable(command, which),
        fallback=command is not None and driver_program(command) is not None,
        report=report,
        conflicts=len(read_report(report)) if report.exists() else 0,
        unmerged=bool(git.git_text(top, "ls-files", "--unmerged", "--", rel)),
    )


def _runnable(command: str, which: Callable[[str], str | None]) -> bool:
    program = driver_program(command)
    try:
        program = program or shlex.split(command)[0]
    except (ValueError, IndexError):
        return False
    if "/" in program:
        return os.access(program, os.X_OK)
    return which(program) is not None


# -- removing it again -----------------------------------------------------------------------


@dataclass(frozen=True)
class Unregistration:
    """What :func:`unregister` removed from one repository."""

    config_removed: bool  # the merge.tmxd-tasks section of the repository's git config
    attributes: list[Path]  # files a line routing a path to the driver was removed from
    deleted: list[Path]  # ... of which these held nothing else and are gone

    @property
    def summary(self) -> str:
        config = "removed" if self.config_removed else "not set"
        if not self.attributes:
            return f"git config merge.{DRIVER}: {config}; no attributes line"
        lines = ", ".join(
            f"{p.name}: line removed" + (" (file now empty: deleted)" if p in self.deleted else "")
            for p in self.attributes
        )
        return f"git config merge.{DRIVER}: {config}; {lines}"


def _is_driver_line(line: str) -> bool:
    """Whether an attributes line is ``<one pattern> merge=tmxd-tasks`` (what
    :func:`register` writes), and nothing more."""
    stripped = line.strip()
    head = stripped[: -len(ATTRIBUTE)]
    if not stripped.endswith(ATTRIBUTE) or not head[-1:].isspace():
        return False
    pattern = head.strip()
    quoted = len(pattern) >= 2 and pattern[0] == pattern[-1] == '"'
    return bool(pattern) and (quoted or not any(c.isspace() for c in pattern))


def _without_driver_lines(text: str) -> str:
    return "".join(ln for ln in text.splitlines(keepends=True) if not _is_driver_line(ln))


def unregister(cwd: Path) -> Unregistration:
    """Undo :func:`register` (and :func:`config_args`' line) in the repository at ``cwd``:
    drop the ``merge.tmxd-tasks`` section of its git config, and the lines routing a path
    to the driver from the top ``.gitattributes`` and ``info/attributes`` — each line
    only, the rest of the file as it was (a file left empty is deleted). Repeating it
    changes nothing."""
    top = _top(cwd)
    section = f"merge.{DRIVER}"
    found = git.run_git(top, ["config", "--local", "--get-regexp", f"^{section}[.]"], check=False)
    config_removed = found.returncode == 0 and bool(found.stdout.strip())
    if config_removed:
        git.run_git(top, ["config", "--local", "--remove-section", section])
    info = Path(git.git_text(top, "rev-parse", "--git-path", "info/attributes"))
    changed: list[Path] = []
    deleted: list[Path] = []
    for path in (top / ".gitattributes", info if info.is_absolute() else top / info):
        try:
            old = path.read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            continue
        new = _without_driver_lines(old)
        if new == old:
            continue
        changed.append(path)
        if new.strip():
            write_atomic(path, new)
        else:
            path.unlink()
            deleted.append(path)
    return Unregistration(config_removed, changed, deleted)
