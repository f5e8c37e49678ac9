"""Every git process tmxd runs goes through this module (the demo's too).

git is always run with an argv list (never a shell string), in a given
directory, with the repository-locating ``GIT_*`` variables removed from the
environment: inside a hook git exports ``GIT_DIR``, ``GIT_INDEX_FILE`` and
friends, and handing those to a git process that looks at another place
corrupts its idea of which repository it is in.

Commit text comes back as bytes and is decoded field by field: UTF-8 first,
Latin-1 when the bytes are not UTF-8 (git stores a message in whatever bytes
it was given; Latin-1 never fails and is the usual legacy encoding).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from tmxd.errors import InputError, TmxdError

# ``git rev-parse --local-env-vars`` (git 2.39) plus the config-injection family.
REPO_ENV_VARS = frozenset(
    {
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
        "GIT_OBJECT_DIRECTORY",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_GRAFT_FILE",
        "GIT_INDEX_FILE",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_REPLACE_REF_BASE",
        "GIT_PREFIX",
        "GIT_SHALLOW_FILE",
        "GIT_COMMON_DIR",
        "GIT_QUARANTINE_PATH",
        "GIT_NAMESPACE",
    }
)
TIMEOUT = 60.0


class GitError(TmxdError):
    """git ran and failed (or could not be started)."""


class NotARepository(InputError):
    """The folder is in no git repository (a Task Master project can live outside one)."""


def clean_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) without repository-locating ``GIT_*``."""
    env = dict(os.environ if base is None else base)
    for key in list(env):
        if key in REPO_ENV_VARS or key.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")):
            del env[key]
    env.setdefault("GIT_TERMINAL_PROMPT", "0")
    return env


def run_git(
    cwd: Path,
    args: Sequence[str],
    *,
    check: bool = True,
    input: bytes | None = None,
    timeout: float = TIMEOUT,
    env: Mapping[str, str] | None = None,
    index_file: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git <args>`` in ``cwd``; raise :class:`GitError` on failure when ``check``.

    ``env`` is the environment to start from (default: this process's), always
    cleaned of repository-locating variables (:func:`clean_env`); stdin is ``input``,
    else empty: git never waits on a terminal. ``index_file`` points git at another
    index than the worktree's own (``GIT_INDEX_FILE``), to stage without touching it.
    """
    argv = ["git", *args]
    run_env = clean_env(env)
    if index_file is not None:
        run_env["GIT_INDEX_FILE"] = str(index_file)
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=run_env,
            input=input if input is not None else b"",
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise GitError("git is not installed or not on PATH; install git and retry") from exc
    except NotADirectoryError as exc:
        raise InputError(f"{cwd}: not a directory") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {' '.join(args)} in {cwd} took longer than {timeout:g} s") from exc
    if check and proc.returncode != 0:
        detail = decode(proc.stderr).strip().splitlines()
        reason = detail[-1] if detail else f"exit code {proc.returncode}"
        raise GitError(f"git {' '.join(args)} failed in {cwd}: {reason}")
    return proc


def git_text(cwd: Path, *args: str) -> str:
    """stdout of a successful git command, decoded, without the trailing newline."""
    return decode(run_git(cwd, args).stdout).rstrip("\n")


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


@dataclass(frozen=True)
class RepoPaths:
    """Where a repository keeps things, all absolute, as git itself resolves them."""

    git_dir: Path  # this worktree's git dir (``.git/worktrees/<id>`` for a linked worktree)
    common_dir: Path  # shared by all worktrees: refs, config, hooks, tmxd's spool
    hooks_dir: Path  # ``--git-path hooks``: honours core.hooksPath
    toplevel: Path | None  # None in a bare repository


def repo_paths(cwd: Path) -> RepoPaths:
    """Resolve the repository containing ``cwd``; InputError (exit 2) outside one."""
    if not cwd.is_dir():
        raise InputError(f"{cwd}: no such directory")
    proc = run_git(
        cwd,
        [
            "rev-parse",
            "--path-format=absolute",
            "--git-dir",
            "--git-common-dir",
            "--git-path",
            "hooks",
            "--is-bare-repository",
        ],
        check=False,
    )
    if proc.returncode != 0:
        raise NotARepository(f"{cwd}: not a git repository; run `git init` there or pass -p PATH")
    git_dir, common_dir, hooks_dir, bare = decode(proc.stdout).splitlines()[:4]
    toplevel: Path | None = None
    if bare != "true":
        top = run_git(cwd, ["rev-parse", "--show-toplevel"], check=False)
        if top.returncode == 0:
            toplevel = Path(decode(top.stdout).strip())
    return RepoPaths(Path(git_dir), Path(common_dir), Path(hooks_dir), toplevel)


@dataclass(frozen=True)
class ConfigValue:
    scope: str  # system, global, local, worktree, command
    origin: str  # e.g. ``file:.git/config``
    value: str


def config_get(cwd: Path, key: str) -> ConfigValue | None:
    """The effective value of ``key`` with where it was set, or None when unset."""
    proc = run_git(
        cwd, ["config", "--show-scope", "--show-origin", "--null", "--get", key], check=False
    )
    if proc.returncode == 1:
        return None
    if proc.returncode != 0:
        raise GitError(f"git config --get {key} failed in {cwd}: {decode(proc.stderr).strip()}")
    fields = decode(proc.stdout).split("\0")
    # --null: "<scope>\0<origin>\0<value>\0"
    scope, origin, value = [*fields, "", "", ""][:3]
    return ConfigValue(scope, origin, value)


def head(cwd: Path) -> str | None:
    """The commit HEAD points at, or None on an unborn branch."""
    proc = run_git(cwd, ["rev-parse", "-q", "--verify", "HEAD^{commit}"], check=False)
    if proc.returncode != 0:
        return None
    return decode(proc.stdout).strip() or None


def commit_exists(cwd: Path, sha: str) -> bool:
    proc = run_git(cwd, ["cat-file", "-e", f"{sha}^{{commit}}"], check=False)
    return proc.returncode == 0


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    parents: tuple[str, ...]
    author: str  # "Name <email>"
    committed_at: datetime  # aware, UTC
    authored_at: datetime  # aware, UTC; a rebase or an amend keeps it
    subject: str  # first paragraph joined into one line, as git's %s
    message: str  # the whole raw message (%B)
    files: int  # changed against the first parent (the empty tree for a root commit)
    insertions: int
    deletions: int
    paths: tuple[str, ...] = ()  # those files, from the top of the work tree

    @property
    def short(self) -> str:
        return self.sha[:7]


_FORMAT = "%H%x00%P%x00%an <%ae>%x00%ct%x00%at%x00%s%x00%B"


def commit_info(cwd: Path, sha: str) -> CommitInfo:
    """Details of one commit; GitError when git does not know it."""
    proc = run_git(cwd, ["show", "-s", f"--format={_FORMAT}", f"{sha}^{{commit}}", "--"])
    raw = proc.stdout
    parts = raw.split(b"\0", 6)
    if len(parts) < 7:
        raise GitError(f"git show {sha}: unexpected output")
    full, parents, author, ctime, atime, subject, message = parts
    message = message.rstrip(b"\n")
    parent_list = tuple(decode(parents).split())
    stats = diff_stats(cwd, decode(full), parent_list[0] if parent_list else None)
    return CommitInfo(
        sha=decode(full),
        parents=parent_list,
        author=decode(author),
        committed_at=datetime.fromtimestamp(int(ctime), tz=UTC),
        authored_at=datetime.fromtimestamp(int(atime), tz=UTC),
        subject=decode(subject),
        message=decode(message),
        files=len(stats.paths),
        insertions=stats.insertions,
        deletions=stats.deletions,
        paths=stats.paths,
    )


class DiffStats(NamedTuple):
    paths: tuple[str, ...]  # the changed files, from the top of the work tree
    insertions: int
    deletions: int


def diff_stats(cwd: Path, sha: str, parent: str | None) -> DiffStats:
    """The files, insertions and deletions of ``sha`` against ``parent`` (None: a root commit).

    Binary files count as changed files with no lines; renames count as a
    deletion and an addition (no rename detection, like ``diff-tree`` plumbing).
    """
    args = ["diff-tree", "-r", "--numstat", "-z", "--no-renames", "--no-commit-id"]
    args += [parent, sha] if parent else ["--root", sha]
    out = run_git(cwd, args).stdout
    paths: list[str] = []
    ins = dels = 0
    for record in out.split(b"\0"):
        if not record or b"\t" not in record:
            continue
        added, deleted, path = record.split(b"\t", 2)
        paths.append(decode(path))
        ins += int(added) if added.isdigit() else 0
        dels += int(deleted) if deleted.isdigit() else 0
    return DiffStats(tuple(paths), ins, dels)
