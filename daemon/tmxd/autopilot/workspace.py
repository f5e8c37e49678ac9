"""What an attempt changed in the folder it ran in, and what becomes of it.

Success needs evidence that the agent changed something, and a failed attempt must
leave nothing behind, while whatever was there before (the user's own uncommitted
work, with ``--allow-dirty``) stays exactly as it was. Both come from one idea: a
*snapshot* is the tree git would commit if everything in the folder were staged —
tracked and untracked files, ignored ones left out — written with a scratch index
(a copy of the real one, so only changed files are hashed) and never touching the
real index. Two snapshots, before and after the agent, say what it changed:

- :func:`changed_paths` — the evidence (empty: "no changes");
- :func:`save_patch` — a failed attempt's work, kept as a binary patch;
- :func:`restore` — puts those paths back as they were (HEAD and the index too, if
  the agent moved them); nothing else is touched;
- :func:`commit` — commits exactly those paths (``git commit --only``), leaving
  anything else the user had staged or changed alone.

Paths tmxd itself writes (tasks.json) and files it provisioned into a worktree are
excluded from snapshots, so they are never evidence, never committed, never reverted.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tmxd.git import decode, run_git

# One scratch index per thread: parallel attempts snapshot at the same time.
_local = threading.local()


@dataclass(frozen=True)
class Snapshot:
    """The state of a working tree: its HEAD, the tree of all it holds, its index's tree."""

    head: str
    tree: str
    index_tree: str | None  # None when the index could not be written (a merge in progress)


def toplevel(folder: Path) -> Path:
    out = run_git(folder, ["rev-parse", "--show-toplevel"]).stdout
    return Path(decode(out).strip())


def excludes(top: Path, paths: Sequence[str]) -> list[str]:
    """Pathspecs that leave ``paths`` (relative to the top level) out of ``git add -A``.

    Ignored ones are left out already, and naming them would make git refuse.
    """
    if not paths:
        return []
    out = run_git(
        top,
        ["check-ignore", "-z", "--stdin"],
        input=_pathspec_input(paths),
        check=False,
    ).stdout
    ignored = set(decode(out).split("\0"))
    return [f":(top,exclude,literal){p}" for p in paths if p not in ignored]


def _scratch_index(top: Path, scratch_dir: Path) -> Path:
    scratch_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = scratch_dir / f"index-{os.getpid()}-{threading.get_ident()}"
    real = Path(decode(run_git(top, ["rev-parse", "--git-path", "index"]).stdout).strip())
    real = real if real.is_absolute() else top / real
    try:
        shutil.copyfile(real, path)
    except FileNotFoundError:
        path.unlink(missing_ok=True)
    return path


def snapshot(
    top: Path, exclude: Sequence[str], scratch_dir: Path, *, with_index: bool = True
) -> Snapshot:
    """What ``top`` (a working tree's top level) holds now; see the module docstring.

    ``with_index=False`` skips the real index's tree (only needed to restore it).
    """
    head_now = head(top)
    index = _scratch_index(top, scratch_dir)
    try:
        run_git(top, ["add", "-A", "--", ":/", *excludes(top, exclude)], index_file=index)
        tree = decode(run_git(top, ["write-tree"], index_file=index).stdout).strip()
    finally:
        index.unlink(missing_ok=True)
    if not with_index:
        return Snapshot(head_now, tree, None)
    real = run_git(top, ["write-tree"], check=False)
    index_tree = decode(real.stdout).strip() if real.returncode == 0 else None
    return Snapshot(head_now, tree, index_tree)


def of_commit(top: Path, commit: str) -> Snapshot:
    """The snapshot of a clean checkout of ``commit`` (a fresh worktree)."""
    tree = decode(run_git(top, ["rev-parse", f"{commit}^{{tree}}"]).stdout).strip()
    return Snapshot(commit, tree, tree)


def changed_paths(top: Path, before: Snapshot, after: Snapshot) -> list[str]:
    """Paths whose content differs between two snapshots (relative to the top level)."""
    if before.tree == after.tree:
        return []
    out = run_git(top, ["diff", "--name-only", "-z", "--no-renames", before.tree, after.tree])
    return [p for p in decode(out.stdout).split("\0") if p]


def changed(before: Snapshot, after: Snapshot) -> bool:
    """The evidence: a different tree, or a commit (even one that changed nothing)."""
    return before.tree != after.tree or before.head != after.head


def save_patch(top: Path, before: Snapshot, after: Snapshot, path: Path) -> Path | None:
    """Write ``before → after`` as a binary patch at ``path``; None when there is none."""
    if before.tree == after.tree:
        return None
    diff = run_git(top, ["diff", "--binary", "--no-renames", before.tree, after.tree]).stdout
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(diff)
    return path


def _pathspec_input(paths: Sequence[str]) -> bytes:
    return b"".join(p.encode("utf-8", "surrogateescape") + b"\0" for p in paths)


def restore(top: Path, before: Snapshot, after: Snapshot) -> list[str]:
    """Undo what happened between the snapshots; return the paths put back.

    HEAD goes back to ``before.head`` if the agent committed, the index to its earlier
    tree if the agent staged, and each changed path to its content in ``before`` (or
    away, if it did not exist). Paths the agent did not change are not touched.
    """
    paths = changed_paths(top, before, after)
    if after.head != before.head and _own_commits(top, before.head, after.head):
        run_git(top, ["reset", "-q", "--soft", before.head])
    if paths:
        in_before = _present(top, before.tree, paths)
        kept = [p for p in paths if p in in_before]
        if kept:
            run_git(
                top,
                [
                    "--literal-pathspecs",
                    "restore",
                    f"--source={before.tree}",
                    "--worktree",
                    "--pathspec-from-file=-",
                    "--pathspec-file-nul",
                ],
                input=_pathspec_input(kept),
            )
        for rel in paths:
            if rel not in in_before:
                _remove(top, rel)
    if before.index_tree is not None:
        now = run_git(top, ["write-tree"], check=False)
        if now.returncode != 0 or decode(now.stdout).strip() != before.index_tree:
            run_git(top, ["read-tree", before.index_tree])
            run_git(top, ["update-index", "-q", "--refresh"], check=False)
    return paths


def head(top: Path) -> str:
    return decode(run_git(top, ["rev-parse", "HEAD"]).stdout).strip()


def commits_between(top: Path, old: str, new: str) -> tuple[str, ...]:
    """The commits in ``old..new`` (what an agent committed during an attempt), newest first."""
    if old == new:
        return ()
    out = run_git(top, ["rev-list", f"{old}..{new}"], check=False)
    return tuple(decode(out.stdout).split()) if out.returncode == 0 else ()


def _own_commits(top: Path, old: str, new: str) -> bool:
    """True when ``old..new`` is plain commits on top of ``old`` (the agent's own), not a
    merge or a moved branch someone else made: only then is HEAD put back."""
    ancestor = run_git(top, ["merge-base", "--is-ancestor", old, new], check=False)
    if ancestor.returncode != 0:
        return False
    merges = run_git(top, ["rev-list", "--merges", f"{old}..{new}"]).stdout
    return not merges.strip()


def _present(top: Path, tree: str, paths: Sequence[str]) -> set[str]:
    """Which of ``paths`` exist in ``tree``."""
    out = run_git(top, ["ls-tree", "-r", "-z", "--name-only", tree]).stdout
    names = set(decode(out).split("\0"))
    return {p for p in paths if p in names}


def _remove(top: Path, rel: str) -> None:
    target = top / rel
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target, ignore_errors=True)
    parent = target.parent
    while parent != top and parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()
        parent = parent.parent


def commit(top: Path, before: Snapshot, after: Snapshot, message: str) -> str | None:
    """Commit the paths the attempt changed that HEAD does not already have.

    Only those paths go in (``git commit --only``): what else the user had changed
    or staged stays as it was. ``--no-verify`` skips pre-commit and commit-msg hooks
    (the attempt's own checks already ran); post-commit hooks run, so tmxd's hook
    links the commit to its task. Returns the new commit, or None when the agent had
    committed everything itself.
    """
    paths = changed_paths(top, before, after)
    if not paths:
        return None
    now, now_tree = decode(run_git(top, ["rev-parse", "HEAD", "HEAD^{tree}"]).stdout).split()
    if now != before.head:  # some of it is committed already (by the agent, say)
        pending = set(changed_paths(top, Snapshot(now, now_tree, None), after))
        paths = [p for p in paths if p in pending]
    if not paths:
        return None
    spec = ["--pathspec-from-file=-", "--pathspec-file-nul"]
    run_git(top, ["--literal-pathspecs", "add", "-A", *spec], input=_pathspec_input(paths))
    run_git(
        top,
        ["--literal-pathspecs", "commit", "-q", "--no-verify", "--only", "-m", message, *spec],
        input=_pathspec_input(paths),
        timeout=300,
    )
    return decode(run_git(top, ["rev-parse", "HEAD"]).stdout).strip()


def dirty(top: Path, ignore_prefixes: Sequence[str]) -> list[str]:
    """Tracked files with uncommitted changes (staged or not), except under ``ignore_prefixes``.

    Untracked files do not count: an attempt never commits or removes a file it did
    not change itself.
    """
    out = run_git(top, ["status", "--porcelain", "-z", "--untracked-files=no"]).stdout
    found = []
    records = decode(out).split("\0")
    skip = False
    for record in records:
        if skip:
            skip = False
            continue
        if len(record) < 4:
            continue
        status, rel = record[:2], record[3:]
        if status[0] in "RC":
            skip = True  # the next record is the rename's source
        if not any(rel == p.rstrip("/") or rel.startswith(p) for p in ignore_prefixes):
            found.append(rel)
    return found
