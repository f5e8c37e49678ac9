"""Install, remove and inspect tmxd's git hooks.

The hooks folder is the one git itself uses (``git rev-parse --git-path
hooks``), so ``core.hooksPath``, linked worktrees and submodules are honoured.
A hook that is already there and is not ours is renamed to
``<hook>.pre-tmxd`` and run first by ours (same argv and stdin; its exit code
is the hook's). Ours is recognised by :data:`MARKER` and simply rewritten.
Uninstall removes only our files and renames the previous hooks back.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from tmxd import git
from tmxd.commits import spool
from tmxd.errors import TmxdError
from tmxd.fsutil import write_atomic

HOOK_NAMES: tuple[str, ...] = ("post-commit", "post-merge", "post-checkout", "post-rewrite")
SUGGEST_HOOK = "prepare-commit-msg"
ALL_HOOKS: tuple[str, ...] = (*HOOK_NAMES, SUGGEST_HOOK)
MARKER = "tmxd-managed-hook"
CHAINED_SUFFIX = ".pre-tmxd"
TEMPLATE_NAME = "tmxd-hook.sh"
SUGGEST_NAME = "suggest"
STATE_NAME = "hooks.json"
HOOK_MODE = 0o755
BAD = ("missing", "outdated", "foreign")


def load_template() -> str:
    """The hook script template, shipped inside the package (``tmxd/resources``)."""
    try:
        return (resources.files("tmxd") / "resources" / TEMPLATE_NAME).read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        raise TmxdError(
            f"hook template {TEMPLATE_NAME} is missing from the tmxd package; reinstall tmxd"
        ) from None


def sh_quote(text: str) -> str:
    """A POSIX sh single-quoted literal."""
    return "'" + text.replace("'", "'\\''") + "'"


def render_hook(name: str, template: str | None = None) -> str:
    """The script installed as hook ``name``."""
    body = template if template is not None else load_template()
    return body.replace("@HOOK@", name).replace("@FALLBACK@", sh_quote(str(spool.fallback_path())))


def is_ours(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return False
    return MARKER.encode() in head


@dataclass(frozen=True)
class HooksLocation:
    repo: git.RepoPaths
    hooks_dir: Path
    hooks_path: git.ConfigValue | None  # core.hooksPath when set
    shared: bool  # hooks_dir serves more than this repository


def locate(cwd: Path) -> HooksLocation:
    repo = git.repo_paths(cwd)
    configured = git.config_get(cwd, "core.hooksPath")
    shared = False
    if configured is not None:
        inside = [repo.common_dir, *([repo.toplevel] if repo.toplevel else [])]
        local = configured.scope in ("local", "worktree")
        shared = not local or not any(_is_within(repo.hooks_dir, base) for base in inside)
    return HooksLocation(repo, repo.hooks_dir, configured, shared)


def _is_within(path: Path, base: Path) -> bool:
    try:
        path.resolve().relative_to(base.resolve())
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class HookChange:
    hook: str
    action: str  # installed, updated, unchanged, chained, removed, restored, absent, foreign
    path: Path


def install(cwd: Path, *, force: bool = False, suggest_trailer: bool = False) -> list[HookChange]:
    """Install (or refresh) the hooks; installing twice changes nothing."""
    where = locate(cwd)
    if where.shared and not force:
        cfg = where.hooks_path
        assert cfg is not None
        raise TmxdError(
            f"core.hooksPath is set in the {cfg.scope} git config ({cfg.origin}) to "
            f"{cfg.value!r}, a hooks folder other repositories use too; re-run with --force "
            "to install there anyway, or give this repository its own: "
            "git config core.hooksPath .git/hooks"
        )
    names = ALL_HOOKS if suggest_trailer else HOOK_NAMES
    template = load_template()
    created = _ensure_dir(where.hooks_dir)
    spool.Spool(where.repo.common_dir).ensure()
    if created:
        _save_state(where.repo.common_dir, {"created_hooks_dir": str(where.hooks_dir)})
    for name in names:  # check every hook before touching any
        _check_installable(where.hooks_dir / name)
    return [_install_one(where.hooks_dir / name, render_hook(name, template)) for name in names]


def _check_installable(path: Path) -> None:
    saved = _chained(path)
    if _same_file_content(path, saved):
        return  # a tool rewrote the hook we had saved (husky does): chain it again
    if (path.exists() or path.is_symlink()) and not is_ours(path) and saved.exists():
        raise TmxdError(
            f"{path} is not tmxd's and {saved.name} (a hook tmxd saved earlier) is there too; "
            f"merge them into one file by hand, then run `tmxd hooks install` again"
        )


def _install_one(path: Path, script: str) -> HookChange:
    action = "installed"
    if path.exists() or path.is_symlink():
        if is_ours(path):
            if _read(path) == script and _mode(path) == HOOK_MODE:
                return HookChange(path.name, "unchanged", path)
            action = "updated"
        else:
            # Same content as the hook saved earlier: that copy stays, this one is ours now.
            os.replace(path, _chained(path))
            action = "chained"
    _write_executable(path, script)
    return HookChange(path.name, action, path)


def uninstall(cwd: Path) -> list[HookChange]:
    """Remove our hooks and put back what was there before."""
    where = locate(cwd)
    changes: list[HookChange] = []
    for name in ALL_HOOKS:
        path = where.hooks_dir / name
        saved = _chained(path)
        present = path.exists() or path.is_symlink()
        if present and not is_ours(path):
            changes.append(HookChange(name, "foreign", path))
            continue
        if present:
            path.unlink()
        if saved.exists() or saved.is_symlink():
            os.rename(saved, path)
            changes.append(HookChange(name, "restored", path))
        else:
            changes.append(HookChange(name, "removed" if present else "absent", path))
    (spool.spool_dir(where.repo.common_dir) / SUGGEST_NAME).unlink(missing_ok=True)
    state = _load_state(where.repo.common_dir)
    created = state.pop("created_hooks_dir", None)
    if created == str(where.hooks_dir):
        with contextlib.suppress(OSError):  # not empty: something else lives there now
            where.hooks_dir.rmdir()
    _save_state(where.repo.common_dir, state)
    return changes


@dataclass(frozen=True)
class HookState:
    hook: str
    state: str  # installed, chained, outdated, foreign, missing
    path: Path
    optional: bool = False


@dataclass(frozen=True)
class HooksStatus:
    hooks_dir: Path
    hooks_path: git.ConfigValue | None
    shared: bool
    hooks: list[HookState]
    spool_dir: Path
    pending: int
    fallback: Path

    @property
    def problem(self) -> str | None:
        """What keeps commits from reaching tmxd, or None when every hook is in place."""
        bad = [f"{h.hook} {h.state}" for h in self.hooks if not h.optional and h.state in BAD]
        return f"{self.hooks_dir}: " + ", ".join(bad) if bad else None

    @property
    def summary(self) -> str:
        chained = [h.hook for h in self.hooks if h.state == "chained"]
        extra = f" ({', '.join(chained)} chained with the previous hook)" if chained else ""
        return f"installed in {self.hooks_dir}{extra}"


def status(cwd: Path) -> HooksStatus:
    where = locate(cwd)
    template = load_template()
    states = [
        HookState(name, _state_of(where.hooks_dir / name, template), where.hooks_dir / name)
        for name in HOOK_NAMES
    ]
    suggest = where.hooks_dir / SUGGEST_HOOK
    states.append(HookState(SUGGEST_HOOK, _state_of(suggest, template), suggest, optional=True))
    queue = spool.Spool(where.repo.common_dir)
    return HooksStatus(
        hooks_dir=where.hooks_dir,
        hooks_path=where.hooks_path,
        shared=where.shared,
        hooks=states,
        spool_dir=queue.dir,
        pending=queue.pending().lines,
        fallback=spool.fallback_path(),
    )


def _state_of(path: Path, template: str) -> str:
    if not (path.exists() or path.is_symlink()):
        return "missing"
    if not is_ours(path):
        return "foreign"
    if _read(path) != render_hook(path.name, template) or _mode(path) & 0o111 == 0:
        return "outdated"
    return "chained" if _chained(path).exists() else "installed"


def write_suggestion(common_dir: Path, task_id: str | None, tasks_path: Path) -> bool:
    """Record the in-progress task the prepare-commit-msg hook offers; True if changed."""
    target = spool.spool_dir(common_dir) / SUGGEST_NAME
    if task_id is None:
        if target.exists():
            target.unlink()
            return True
        return False
    text = f"{task_id}\n{tasks_path}\n"
    if target.is_file() and _read(target) == text:
        target.touch()  # newer than tasks.json again: still true
        return False
    spool.Spool(common_dir).ensure()
    write_atomic(target, text)
    return True


def _same_file_content(a: Path, b: Path) -> bool:
    try:
        return a.is_file() and b.is_file() and not is_ours(a) and a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def _chained(path: Path) -> Path:
    return path.with_name(path.name + CHAINED_SUFFIX)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _ensure_dir(folder: Path) -> bool:
    if folder.is_dir():
        return False
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise TmxdError(f"{folder}: cannot create the hooks folder: {exc}") from exc
    return True


def _write_executable(path: Path, script: str) -> None:
    try:
        write_atomic(path, script, mode=HOOK_MODE)
    except OSError as exc:
        raise TmxdError(f"{path}: cannot write the hook: {exc}") from exc


def _load_state(common_dir: Path) -> dict[str, str]:
    path = spool.spool_dir(common_dir) / STATE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _save_state(common_dir: Path, state: dict[str, str]) -> None:
    path = spool.spool_dir(common_dir) / STATE_NAME
    if not state:
        path.unlink(missing_ok=True)
        return
    spool.Spool(common_dir).ensure()
    write_atomic(path, json.dumps(state, indent=2) + "\n")
