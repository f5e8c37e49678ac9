"""One git worktree per task, merged back after validation.

A task runs in ``<git-common-dir>/tmxd/worktrees/task-<id>`` on branch
``tmxd/task-<id>``, created from the main worktree's HEAD. After the agent and the
validation succeeded, its changes are committed (``Task: <id>`` trailer) and merged
into the main worktree with ``--no-ff``. A merge that does not go through cleanly is
aborted, so the main worktree is never left half-merged; the branch is kept and the
task goes to review.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tmxd.commits import merge_driver
from tmxd.errors import TmxdError
from tmxd.git import decode, run_git

BRANCH_PREFIX = "tmxd/task-"
LOCK_RETRIES = 25
LOCK_WAIT_S = 0.2

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


def worktree_base(root: Path) -> Path:
    return common_dir(root) / "tmxd" / "worktrees"


def require_repo(root: Path) -> None:
    """Parallel runs need a git repository with at least one commit."""
    probe = git(root, "rev-parse", "--verify", "-q", "HEAD", check=False)
    if probe.returncode != 0:
        raise TmxdError(
            f"{root}: parallel autopilot needs a git repository with a commit; "
            "run `git init` and commit, or run without --parallel"
        )


@dataclass(frozen=True)
class Worktree:
    task_id: str
    path: Path
    branch: str
    base: str


def create(root: Path, task_id: str) -> Worktree:
    """A fresh worktree for ``task_id`` at the main worktree's HEAD (leftovers removed)."""
    path = worktree_base(root) / f"task-{task_id}"
    branch = branch_name(task_id)
    with _repo_lock:
        discard(root, path)
        head = git(root, "rev-parse", "HEAD").stdout.strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        git(root, "worktree", "add", "-q", "-B", branch, str(path), head)
    return Worktree(task_id, path, branch, head)


def discard(root: Path, path: Path) -> None:
    """Remove a worktree directory and its registration, whatever state it is in."""
    with _repo_lock:
        if path.exists():
            git(root, "worktree", "remove", "--force", "--force", str(path), check=False)
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
        git(root, "worktree", "prune", check=False)


def has_changes(wt: Worktree) -> bool:
    status = git(wt.path, "status", "--porcelain", "--untracked-files=all").stdout
    return bool(status.strip())


def commit_all(wt: Worktree, subject: str) -> bool:
    """Commit everything the agent left uncommitted; False when there was nothing."""
    if not has_changes(wt):
        return False
    git(wt.path, "add", "-A")
    message = f"{subject}\n\nTask: {wt.task_id}\n"
    git(wt.path, "commit", "-q", "--no-verify", "-m", message)
    return True


@dataclass(frozen=True)
class MergeResult:
    merged: bool
    commits: int
    detail: str


def merge_back(root: Path, wt: Worktree, subject: str) -> MergeResult:
    """Merge the task branch into the main worktree's current branch, or abort cleanly."""
    with _repo_lock:
        count = git(root, "rev-list", "--count", f"HEAD..{wt.branch}").stdout.strip()
        commits = int(count or "0")
        if commits == 0:
            return MergeResult(True, 0, "no commits to merge")
        message = f"{subject}\n\nTask: {wt.task_id}\n"
        # tasks.json goes through tmxd's merge driver, whatever this clone's config says.
        merge = [*merge_driver.config_args(root), "merge", "--no-ff", "--no-edit", "-m", message]
        for _ in range(LOCK_RETRIES):
            result = git(root, *merge, wt.branch, check=False)
            if result.returncode == 0:
                return MergeResult(True, commits, f"merged {commits} commit(s) from {wt.branch}")
            # A busy index also makes git say "Automatic merge failed": only unmerged
            # paths make it a conflict.
            if git(root, "ls-files", "--unmerged", check=False).stdout.strip():
                git(root, "merge", "--abort", check=False)
                break
            # No conflict: another git process (the user's, or one left by a killed run)
            # held the index, so the merge stopped half-way or never started. Undo our
            # half and try again shortly; if the refusal lasts (local changes in the way),
            # it is reported like a conflict.
            if _merging(root) and _merge_head(root) == _rev(root, wt.branch):
                git(root, "merge", "--abort", check=False)
            time.sleep(LOCK_WAIT_S)
        detail = (result.stdout + result.stderr).strip()
        conflicted = [
            line.split()[-1]
            for line in detail.splitlines()
            if line.startswith("CONFLICT") or line.startswith("\t")
        ]
        summary = ", ".join(conflicted[:5]) or (detail.splitlines()[-1] if detail else "")
        return MergeResult(False, commits, f"merge of {wt.branch} failed: {summary}")


def _merging(root: Path) -> bool:
    return git(root, "rev-parse", "-q", "--verify", "MERGE_HEAD", check=False).returncode == 0


def _merge_head(root: Path) -> str:
    return git(root, "rev-parse", "-q", "--verify", "MERGE_HEAD", check=False).stdout.strip()


def _rev(root: Path, ref: str) -> str:
    return git(root, "rev-parse", "-q", "--verify", ref, check=False).stdout.strip()


def finish(root: Path, wt: Worktree, *, keep_branch: bool) -> None:
    """Remove the worktree; delete its branch unless it holds work to keep."""
    with _repo_lock:
        discard(root, wt.path)
        if not keep_branch:
            git(root, "branch", "-D", wt.branch, check=False)


def reset(wt: Worktree) -> None:
    """Back to the base commit with no leftovers, before another attempt."""
    git(wt.path, "reset", "-q", "--hard", wt.base)
    git(wt.path, "clean", "-q", "-f", "-d", "-x")


def abort_stale_merge(root: Path, task_ids: set[str]) -> str | None:
    """Abort a merge of one of ``task_ids`` left half-done by a killed run; return its id.

    A merge that git was running when tmxd was killed dies on its closed pipes and
    leaves MERGE_HEAD behind. Only a merge whose message carries our ``Task:`` trailer
    for one of the given tasks is touched; anyone else's merge is left alone.
    """
    if not task_ids or not _merging(root):
        return None
    msg_path = git(root, "rev-parse", "--git-path", "MERGE_MSG").stdout.strip()
    path = Path(msg_path) if Path(msg_path).is_absolute() else root / msg_path
    try:
        message = path.read_text(encoding="utf-8")
    except OSError:
        return None
    for task_id in task_ids:
        if f"\nTask: {task_id}\n" in message and message.startswith("Merge task "):
            with _repo_lock:
                git(root, "merge", "--abort", check=False)
            return task_id
    return None
