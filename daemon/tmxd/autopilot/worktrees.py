"""One git worktree per task, outside the repository, merged back after validation.

Where: ``<base>/task-<id>`` on branch ``tmxd/task-<id>``, created from the main
worktree's HEAD, where ``<base>`` is ``<state dir>/worktrees/<project key>`` (or
``[autopilot] worktree_dir``/``<project key>``). Never under ``.git/``: Claude Code
treats every path there as sensitive and refuses to edit it (the run still ends
"success"). Never inside the user's working tree either: the project's own checks,
linters and file watchers would see every task's copy.

What a worktree holds: git checks out tracked files only. Of the files an agent's
tools read that are often untracked, these are provisioned from the main worktree
when the checkout lacks them:

- ``.claude/`` files (``settings.json``, ``settings.local.json``, commands, agents,
  skills): *copied*, so the hooks and slash commands work and an agent cannot write
  through into the user's folder;
- ``.mcp.json``: copied, so the same MCP servers start;
- ``.taskmaster/``: *linked* (a symlink to the main one) when it is not tracked, so
  Task Master's own tools see the live tasks. When it is tracked, the checkout has
  the committed copy; tmxd writes statuses to the main tasks.json only, and never
  commits a worktree's tasks.json.

Provisioned paths are left out of the attempt's evidence and of its commit (see
``workspace``). After validation the task's changes are committed (``Task: <id>``
trailer) and merged into the main worktree with ``--no-ff``. A merge that does not
go through cleanly is aborted, so the main worktree is never left half-merged; the
branch is kept and the task goes to review. Its worktree stays checked out on the
branch (cleaned of untracked files), so the conflict can be resolved there without
switching branches — and without stashing — in the user's own working tree;
approve or reject removes it (:func:`remove_branch`).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tmxd.autopilot.state import project_key
from tmxd.commits import merge_driver
from tmxd.errors import InputError
from tmxd.git import decode, run_git

BRANCH_PREFIX = "tmxd/task-"
LOCK_RETRIES = 25
LOCK_WAIT_S = 0.2
COPIED = (".mcp.json",)
COPIED_DIRS = (".claude",)
LINKED = (".taskmaster",)

# Worktree bookkeeping (add, remove, prune) and merges into the main worktree happen
# one at a time: `git worktree prune` would otherwise drop a worktree being added.
_repo_lock = threading.RLock()


@dataclass(frozen=True)
class GitResult:
    returncode: int
    stdout: str
    stderr: str


def git(cwd: Path, *args: str, check: bool = True) -> GitResult:
    """Run git through ``tmxd.git`` (clean ``GIT_*`` environment); decoded output."""
    proc = run_git(cwd, args, check=check, timeout=300)
    return GitResult(proc.returncode, decode(proc.stdout), decode(proc.stderr))


def branch_name(task_id: str) -> str:
    return f"{BRANCH_PREFIX}{task_id}"


def common_dir(root: Path) -> Path:
    out = git(root, "rev-parse", "--git-common-dir").stdout.strip()
    path = Path(out)
    return path if path.is_absolute() else (root / path).resolve()


def legacy_base(root: Path) -> Path:
    """Where tmxd once made worktrees (inside ``.git``); only pruned now."""
    return common_dir(root) / "tmxd" / "worktrees"


def default_parent() -> Path:
    """``<state dir>/worktrees``: the default home of every project's worktrees."""
    from tmxd import paths

    return paths.state_dir() / "worktrees"


def base_dir(root: Path, configured: str = "") -> Path:
    """The folder holding this project's worktrees (``<parent>/<project key>``).

    ``configured`` is ``[autopilot] worktree_dir``: empty for the state dir; a
    relative path is taken from the project root; ``~`` is expanded.
    """
    if configured.strip():
        parent = Path(configured.strip()).expanduser()
        if not parent.is_absolute():
            parent = root / parent
    else:
        parent = default_parent()
    return Path(os.path.abspath(parent)) / project_key(root)


def location_problem(root: Path, base: Path) -> str | None:
    """Why ``base`` cannot hold worktrees, or None: not in the working tree, not in .git."""
    real = base.resolve()
    top = Path(git(root, "rev-parse", "--show-toplevel").stdout.strip()).resolve()
    for forbidden, what in (
        (
            common_dir(root).resolve(),
            "inside the repository's .git folder (Claude Code refuses to edit files there)",
        ),
        (top, "inside the project's working tree (its checks and watchers would see every copy)"),
    ):
        if real == forbidden or real.is_relative_to(forbidden):
            return f"{base} is {what}"
    return None


def require_location(root: Path, base: Path) -> None:
    problem = location_problem(root, base)
    if problem is not None:
        raise InputError(
            f"autopilot.worktree_dir: {problem}; set it to a folder outside the project "
            "in .taskmaster/tmxd.toml, or remove it to use tmxd's state dir"
        )


def require_repo(root: Path) -> None:
    """The autopilot needs a git repository with at least one commit."""
    probe = git(root, "rev-parse", "--verify", "-q", "HEAD", check=False)
    if probe.returncode != 0:
        raise InputError(
            f"{root}: the autopilot needs a git repository with a commit (it proves that each "
            "task changed something and commits it); run `git init` and commit"
        )


@dataclass(frozen=True)
class Worktree:
    task_id: str
    path: Path  # the worktree's top level
    branch: str
    base: str  # the commit it started from
    workdir: Path  # the project root inside it (the agent's working directory)
    provisioned: tuple[str, ...] = field(default=())  # relative to the top level


def create(root: Path, task_id: str, base: Path) -> Worktree:
    """A clean worktree for ``task_id`` at the main worktree's HEAD (leftovers removed).

    A spare (a finished task's worktree, see :func:`finish`) is reused when there is
    one: moving it and checking out the new commit rewrites only the files that
    differ, where a new worktree would write every file of the repository again.
    """
    path = base / f"task-{task_id}"
    branch = branch_name(task_id)
    top = Path(git(root, "rev-parse", "--show-toplevel").stdout.strip())
    with _repo_lock:
        if path.exists() or path.is_symlink():
            discard(root, path)  # left by a killed run
        head = git(root, "rev-parse", "HEAD").stdout.strip()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        spare = _take_spare(root, base, path)
        if not spare:
            git(root, "worktree", "prune", check=False)  # a registration left without its folder
            # registered now; its files are written below, outside the lock
            git(root, "worktree", "add", "-q", "--no-checkout", "-B", branch, str(path), head)
    # only this worktree's files and its own branch from here: no need to hold the repo
    if spare:  # a clean spare: only the files that differ are written
        git(path, "checkout", "-q", "-f", "-B", branch, head)
    else:
        git(path, "reset", "-q", "--hard")
    provisioned = provision(top, path)
    rel = root.resolve().relative_to(top.resolve())
    return Worktree(task_id, path, branch, head, path / rel, tuple(provisioned))


def provision(main_top: Path, wt_top: Path) -> list[str]:
    """Copy or link what the agent needs that the checkout lacks; return those paths."""
    done: list[str] = []
    for name in COPIED:
        src, dst = main_top / name, wt_top / name
        if src.is_file() and not dst.exists():
            shutil.copy2(src, dst)
            done.append(name)
    for name in COPIED_DIRS:
        src_dir = main_top / name
        if not src_dir.is_dir():
            continue
        for src in sorted(src_dir.rglob("*")):
            rel = src.relative_to(main_top)
            dst = wt_top / rel
            if src.is_file() and not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)
                done.append(rel.as_posix())
    for name in LINKED:
        src, dst = main_top / name, wt_top / name
        if src.is_dir() and not dst.exists():
            dst.symlink_to(src, target_is_directory=True)
            done.append(name)
    return done


def discard(root: Path, path: Path) -> None:
    """Remove a worktree directory and its registration, whatever state it is in."""
    with _repo_lock:
        if path.exists():
            git(root, "worktree", "remove", "--force", "--force", str(path), check=False)
        if path.exists() or path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        git(root, "worktree", "prune", check=False)


@dataclass(frozen=True)
class MergeResult:
    merged: bool
    commits: int
    detail: str
    conflicts: tuple[str, ...] = ()
    fix: str = ""  # what to do about it, when it is not a conflict to resolve


# git refuses a merge that would overwrite a file in the working tree: (its words, ours)
OVERWRITE = (
    (
        "untracked working tree files would be overwritten by merge",
        "would overwrite untracked file(s) in {root}: {files}",
        "move or delete {them} (or commit {them} on the current branch)",
    ),
    (
        "local changes to the following files would be overwritten by merge",
        "would overwrite uncommitted changes to {files} in {root}",
        "commit or stash those changes",
    ),
)


def merge_back(root: Path, wt: Worktree, subject: str) -> MergeResult:
    """Merge the task branch into the main worktree's current branch, or abort cleanly."""
    return merge_branch(root, wt.branch, wt.task_id, subject)


def merge_branch(root: Path, branch: str, task_id: str, subject: str) -> MergeResult:
    """Merge ``branch`` into the main worktree's branch with ``--no-ff``, or abort cleanly.

    Already merged (nothing of it missing from HEAD) is a success with 0 commits. A
    conflict is aborted and reported with the conflicting files.
    """
    with _repo_lock:
        count = git(root, "rev-list", "--count", f"HEAD..{branch}").stdout.strip()
        commits = int(count or "0")
        if commits == 0:
            return MergeResult(True, 0, f"{branch} is already merged")
        message = f"{subject}\n\nTask: {task_id}\n"
        # tasks.json goes through tmxd's merge driver, whatever this clone's config says.
        merge = [*merge_driver.config_args(root), "merge", "--no-ff", "--no-edit", "-m", message]
        for _ in range(LOCK_RETRIES):
            result = git(root, *merge, branch, check=False)
            if result.returncode == 0:
                return MergeResult(True, commits, f"merged {commits} commit(s) from {branch}")
            # A busy index also makes git say "Automatic merge failed": only unmerged
            # paths make it a conflict.
            unmerged = unmerged_paths(root)
            if unmerged:
                git(root, "merge", "--abort", check=False)
                return MergeResult(
                    False,
                    commits,
                    f"merging {branch} conflicts in {', '.join(unmerged[:5])}"
                    + (f" and {len(unmerged) - 5} more" if len(unmerged) > 5 else ""),
                    tuple(unmerged),
                )
            # No conflict: another git process (the user's, or one left by a killed run)
            # held the index, so the merge stopped half-way or never started. Undo our
            # half and try again shortly; if the refusal lasts (local changes in the way),
            # it is reported like a conflict.
            if _merging(root) and _merge_head(root) == _rev(root, branch):
                git(root, "merge", "--abort", check=False)
            refused = _overwrite(root, branch, commits, result.stdout + result.stderr)
            if refused is not None and not _index_busy(root):
                return refused  # a file of the working tree is in the way, and stays there
            time.sleep(LOCK_WAIT_S)
        detail = (result.stdout + result.stderr).strip()
        refused = _overwrite(root, branch, commits, detail)
        if refused is not None:
            return refused
        files = [line.strip() for line in detail.splitlines() if line.startswith("\t")]
        last = detail.splitlines()[-1] if detail else "git merge failed"
        return MergeResult(
            False,
            commits,
            f"merging {branch} failed: " + (", ".join(files[:5]) or last),
            tuple(files),
        )


def _overwrite(root: Path, branch: str, commits: int, output: str) -> MergeResult | None:
    """A merge git refused because it would overwrite files in the working tree."""
    text = " ".join(output.split()).lower()
    for words, detail, fix in OVERWRITE:
        if words in text:
            files = [line.strip() for line in output.splitlines() if line.startswith("\t")]
            shown = ", ".join(files[:5]) + (f" and {len(files) - 5} more" if len(files) > 5 else "")
            them = "it" if len(files) == 1 else "them"
            return MergeResult(
                False,
                commits,
                f"merging {branch} " + detail.format(root=root, files=shown or "some files"),
                tuple(files),
                fix.format(them=them),
            )
    return None


def resolve_hint(wt: Worktree) -> str:
    """How to resolve a conflicting task branch in its own worktree (no stash needed)."""
    return (
        f"Resolve it there: `git -C {wt.path} merge <your branch>`, fix the conflicts and "
        "commit (or change your branch)"
    )


def unmerged_paths(root: Path) -> list[str]:
    out = git(root, "diff", "--name-only", "--diff-filter=U", check=False).stdout
    return sorted({line for line in out.splitlines() if line})


def branch_exists(root: Path, branch: str) -> bool:
    ref = f"refs/heads/{branch}"
    return git(root, "rev-parse", "-q", "--verify", ref, check=False).returncode == 0


def checked_out_at(root: Path, branch: str) -> Path | None:
    """The worktree (other than the main one) that has ``branch`` checked out, if any."""
    listing = git(root, "worktree", "list", "--porcelain", check=False).stdout
    path: Path | None = None
    for line in listing.splitlines():
        if line.startswith("worktree "):
            path = Path(line.removeprefix("worktree ").strip())
        elif line.strip() == f"branch refs/heads/{branch}":
            return path
    return None


def remove_branch(root: Path, branch: str) -> None:
    """Delete a task branch, and the worktree a review kept it checked out in."""
    with _repo_lock:
        held = checked_out_at(root, branch)
        top = Path(git(root, "rev-parse", "--show-toplevel").stdout.strip())
        if held is not None and held.resolve() != top.resolve():
            discard(root, held)
        git(root, "branch", "-D", branch, check=False)


def _index_busy(root: Path) -> bool:
    """Another git process holds the main worktree's index (its files may be changing)."""
    out = git(root, "rev-parse", "--git-path", "index.lock", check=False).stdout.strip()
    lock = Path(out) if Path(out).is_absolute() else root / out
    return bool(out) and lock.exists()


def _merging(root: Path) -> bool:
    return git(root, "rev-parse", "-q", "--verify", "MERGE_HEAD", check=False).returncode == 0


def _merge_head(root: Path) -> str:
    return git(root, "rev-parse", "-q", "--verify", "MERGE_HEAD", check=False).stdout.strip()


def _rev(root: Path, ref: str) -> str:
    return git(root, "rev-parse", "-q", "--verify", ref, check=False).stdout.strip()


SPARE_PREFIX = "spare-"


def spares(base: Path) -> list[Path]:
    return sorted(base.glob(f"{SPARE_PREFIX}*")) if base.is_dir() else []


def _take_spare(root: Path, base: Path, path: Path) -> bool:
    """Move a spare worktree to ``path``; False when there is none (or it is unusable)."""
    for spare in spares(base):
        moved = git(root, "worktree", "move", str(spare), str(path), check=False)
        if moved.returncode == 0:
            return True
        discard(root, spare)  # not a worktree any more: drop it
    return False


def finish(
    root: Path, wt: Worktree, *, keep_branch: bool, spare: bool = True, review: bool = False
) -> None:
    """Done with the worktree: keep it, clean and detached, as a spare for the next task
    (or remove it); delete its branch unless it holds work to keep. ``review``: the
    task waits in review for a merge, so the worktree stays on its branch (clean, the
    provisioned files gone) for the conflict to be resolved there."""
    kept = review and wt.path.is_dir()
    if kept and git(wt.path, "clean", "-q", "-f", "-d", "-x", check=False).returncode == 0:
        return
    cleaned = spare and wt.path.is_dir()
    if cleaned:  # this worktree's files only, outside the repo lock
        for args in (("checkout", "-q", "-f", "--detach"), ("clean", "-q", "-f", "-d", "-x")):
            cleaned = cleaned and git(wt.path, *args, check=False).returncode == 0
    with _repo_lock:
        kept = False
        if cleaned:
            target = wt.path.parent / f"{SPARE_PREFIX}{wt.path.name.removeprefix('task-')}"
            if target.exists():
                discard(root, target)
            moved = git(root, "worktree", "move", str(wt.path), str(target), check=False)
            kept = moved.returncode == 0
        if not kept:
            discard(root, wt.path)
        if not keep_branch:
            git(root, "branch", "-D", wt.branch, check=False)


def reset(wt: Worktree, main_top: Path) -> None:
    """Back to the base commit with no leftovers (ignored files too), before a retry."""
    git(wt.path, "reset", "-q", "--hard", wt.base)
    git(wt.path, "clean", "-q", "-f", "-d", "-x")
    provision(main_top, wt.path)


def present(root: Path, base: Path) -> list[Path]:
    """tmxd's task worktrees of this project (spares aside): registered with git or left
    on disk, under ``base`` and under the old ``.git/tmxd/worktrees``."""
    listing = git(root, "worktree", "list", "--porcelain", check=False).stdout
    registered = {
        Path(line.removeprefix("worktree ").strip())
        for line in listing.splitlines()
        if line.startswith("worktree ")
    }
    found: set[Path] = set()
    for folder in (base, legacy_base(root)):
        found |= {p for p in registered if p.parent == folder and p.name.startswith("task-")}
        if folder.is_dir():
            found |= {p for p in folder.iterdir() if p.name.startswith("task-")}
    return sorted(found)


def prune(root: Path, base: Path, keep: set[str], spares_kept: int = 0) -> list[str]:
    """Remove tmxd's worktrees and ``tmxd/task-*`` branches except those of ``keep``.

    Run when a run starts: what a finished or killed run left behind goes. Worktrees
    (see :func:`present`) and branches of tasks not in ``keep`` (tasks being worked
    on, or waiting in review for a merge) are removed, and spares beyond
    ``spares_kept``. Returns what was removed.
    """
    removed: list[str] = []
    with _repo_lock:
        for path in present(root, base):
            if path.name.removeprefix("task-") in keep:
                continue
            discard(root, path)
            removed.append(str(path))
        for path in spares(base)[spares_kept:]:
            discard(root, path)
        refs = git(
            root, "for-each-ref", "--format=%(refname:short)", f"refs/heads/{BRANCH_PREFIX}*"
        ).stdout.split()
        for branch in refs:
            if branch.removeprefix(BRANCH_PREFIX) not in keep:
                git(root, "branch", "-D", branch, check=False)
                removed.append(branch)
    return removed


def abort_stale_merge(root: Path, task_ids: set[str]) -> str | None:
    """Abort a merge of one of ``task_ids`` left half-done by a killed run; return its id.

    A merge that git was running when tmxd was killed dies on its closed pipes and
    leaves MERGE_HEAD behind. Only a merge whose message carries our ``Task:`` trailer
    for one of the given tasks is touched; anyone else's merge is left alone.
    """
    for _ in range(LOCK_RETRIES):
        if not task_ids or not _merging(root):
            return None
        msg_path = git(root, "rev-parse", "--git-path", "MERGE_MSG").stdout.strip()
        path = Path(msg_path) if Path(msg_path).is_absolute() else root / msg_path
        try:
            message = path.read_text(encoding="utf-8")
        except OSError:
            return None
        ours = [
            task_id
            for task_id in task_ids
            if f"\nTask: {task_id}\n" in message and message.startswith("Merge task ")
        ]
        if not ours:
            return None
        with _repo_lock:
            if git(root, "merge", "--abort", check=False).returncode == 0:
                return ours[0]
        # The killed run's git may still be finishing the merge (it holds the index):
        # once it has, there is nothing to abort and the task's work has landed.
        time.sleep(LOCK_WAIT_S)
    return None
