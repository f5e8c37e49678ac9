"""Hook install/uninstall/status and the hook script itself, on real repositories."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from helpers import git, init_repo
from tmxd.commits import hooks, spool
from tmxd.errors import TmxdError


def records(common_dir: Path) -> list[spool.SpoolRecord]:
    queue = spool.Spool(common_dir)
    with queue.lock():
        return [e.record for e in queue.entries() if e.record is not None]


def commit_file(repo: Path, name: str, message: str) -> str:
    path = repo / name
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{message}\n")
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def write_hook(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_install_writes_the_four_hooks_and_is_idempotent(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    first = hooks.install(repo)
    assert [(c.hook, c.action) for c in first] == [(n, "installed") for n in hooks.HOOK_NAMES]
    for name in hooks.HOOK_NAMES:
        path = repo / ".git" / "hooks" / name
        assert hooks.is_ours(path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
        code = [ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("#")]
        assert not [ln for ln in code if "python" in ln.lower() or "tmxd " in ln]
    before = {p.name: p.read_bytes() for p in (repo / ".git" / "hooks").iterdir()}
    second = hooks.install(repo)
    assert {c.action for c in second} == {"unchanged"}
    after = {p.name: p.read_bytes() for p in (repo / ".git" / "hooks").iterdir()}
    assert before == after


def test_post_commit_spools_sha_and_branch_on_the_root_commit(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r", commit=False)
    hooks.install(repo)
    sha = commit_file(repo, "a.txt", "root commit")
    (rec,) = records(repo / ".git")
    assert (rec.hook, rec.head, rec.ref, rec.branch) == (
        "post-commit",
        sha,
        "refs/heads/main",
        "main",
    )
    assert rec.at is None  # the commit carries its own time
    assert rec.common_dir == (repo / ".git").resolve()


def test_checkout_merge_and_detached_head_are_spooled(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    hooks.install(repo)
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "feature")
    side = commit_file(repo, "b.txt", "side work")
    git(repo, "checkout", "-q", "main")
    commit_file(repo, "c.txt", "main work")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge feature", "feature")
    merge = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "--detach", side)
    detached = commit_file(repo, "d.txt", "detached work")
    recs = records(repo / ".git")
    kinds = [r.hook for r in recs]
    assert kinds == [
        "post-checkout",
        "post-commit",
        "post-checkout",
        "post-commit",
        "post-merge",
        "post-checkout",
        "post-commit",
    ]
    assert recs[0].args == (base, base, "1") and recs[0].branch == "feature"
    assert recs[4].head == merge and recs[4].args == ("0",)
    assert recs[5].ref == "HEAD" and recs[5].branch is None
    assert recs[6].head == detached and recs[6].ref == "HEAD"
    assert all(r.at is not None for r in recs if r.hook != "post-commit")


def test_a_packed_branch_ref_falls_back_to_git(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    git(repo, "branch", "other")
    git(repo, "pack-refs", "--all")  # as after a clone: no loose ref file to read
    assert not (repo / ".git" / "refs" / "heads" / "other").exists()
    hooks.install(repo)
    git(repo, "checkout", "-q", "other")
    (rec,) = records(repo / ".git")
    assert rec.head == git(repo, "rev-parse", "other").strip()
    assert rec.branch == "other" and rec.common_dir == (repo / ".git").resolve()


def test_amend_and_rebase_spool_the_rewrite_pairs(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    hooks.install(repo)
    old = commit_file(repo, "a.txt", "to amend")
    git(repo, "commit", "-q", "--amend", "-m", "amended")
    new = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "topic", "HEAD~1")
    olds = [commit_file(repo, f"t{i}.txt", f"topic {i}") for i in range(3)]
    git(repo, "rebase", "-q", "main")
    news = git(repo, "rev-list", "--reverse", "main..topic").split()
    recs = records(repo / ".git")
    amend = next(r for r in recs if r.hook == "post-rewrite" and r.args == ("amend",))
    assert amend.rewrites == ((old, new),)
    rebase = next(r for r in recs if r.hook == "post-rewrite" and r.args == ("rebase",))
    assert rebase.rewrites == tuple(zip(olds, news, strict=True))
    replayed = [r.head for r in recs if r.hook == "post-commit"][-3:]
    assert replayed == news


def test_linked_worktree_shares_the_repository_hooks_and_spool(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "wt-branch")
    wt = tmp_path / "wt"
    changes = hooks.install(wt)  # installing from the worktree targets the common hooks dir
    assert changes[0].path.parent == (repo / ".git" / "hooks").resolve()
    sha = commit_file(wt, "w.txt", "from the worktree")
    (rec,) = records(repo / ".git")
    assert (rec.head, rec.branch) == (sha, "wt-branch")
    assert rec.common_dir == (repo / ".git").resolve()


def test_submodule_hooks_live_in_its_own_git_dir(tmp_path: Path) -> None:
    lib = init_repo(tmp_path / "lib")
    outer = init_repo(tmp_path / "outer")
    git(outer, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    git(outer, "commit", "-q", "-m", "add lib")
    sub = outer / "lib"
    changes = hooks.install(sub)
    modules = (outer / ".git" / "modules" / "lib").resolve()
    assert changes[0].path.parent == modules / "hooks"
    sha = commit_file(sub, "s.txt", "inside the submodule")
    (rec,) = records(modules)
    assert rec.head == sha
    assert records(outer / ".git") == []


def test_local_core_hooks_path_is_followed(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    git(repo, "config", "core.hooksPath", ".githooks")
    changes = hooks.install(repo)
    assert changes[0].path.parent == (repo / ".githooks").resolve()
    sha = commit_file(repo, "a.txt", "with hooksPath")
    assert [r.head for r in records(repo / ".git")] == [sha]
    hooks.uninstall(repo)
    assert not (repo / ".githooks").exists()  # we created it, and it is empty again


def test_global_hooks_path_is_refused_without_force(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = init_repo(tmp_path / "r")
    shared = tmp_path / "company-hooks"
    cfg = tmp_path / "gitconfig"
    cfg.write_text(f"[core]\n\thooksPath = {shared}\n")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(cfg))
    with pytest.raises(TmxdError, match=r"global git config .* --force"):
        hooks.install(repo)
    assert not shared.exists()
    changes = hooks.install(repo, force=True)
    assert changes[0].path.parent == shared.resolve()
    sha = commit_file(repo, "a.txt", "forced")
    assert [r.head for r in records(repo / ".git")] == [sha]


def test_foreign_hook_is_chained_with_argv_and_stdin_and_restored(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    log = tmp_path / "foreign.log"
    hook = repo / ".git" / "hooks" / "post-rewrite"
    original = f'echo "args:$*" >> {log}\ncat >> {log}\nexit 0\n'
    write_hook(hook, original)
    original_bytes = hook.read_bytes()
    changes = {c.hook: c.action for c in hooks.install(repo)}
    assert changes["post-rewrite"] == "chained"
    assert hooks.status(repo).hooks[3].state == "chained"
    old = commit_file(repo, "a.txt", "x")
    git(repo, "commit", "-q", "--amend", "-m", "y")
    new = git(repo, "rev-parse", "HEAD").strip()
    assert log.read_text() == f"args:amend\n{old} {new}\n"
    assert any(r.rewrites == ((old, new),) for r in records(repo / ".git"))
    hooks.uninstall(repo)
    assert hook.read_bytes() == original_bytes
    assert not (repo / ".git" / "hooks" / "post-rewrite.pre-tmxd").exists()


def test_chained_hook_failure_still_fails_the_commit(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    write_hook(
        repo / ".git" / "hooks" / "prepare-commit-msg", "echo 'policy says no' >&2\nexit 1\n"
    )
    write_hook(repo / ".git" / "hooks" / "pre-commit", "exit 0\n")
    hooks.install(repo, suggest_trailer=True)
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    proc = subprocess.run(
        ["git", "commit", "-q", "-m", "blocked"], cwd=repo, capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert "policy says no" in proc.stderr
    assert git(repo, "rev-list", "--count", "HEAD").strip() == "1"
    assert not hooks.is_ours(repo / ".git" / "hooks" / "pre-commit")  # not ours to touch


def test_chained_post_checkout_exit_code_is_git_checkouts(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    write_hook(repo / ".git" / "hooks" / "post-checkout", "exit 3\n")
    alone = subprocess.run(["git", "checkout", "-q", "-b", "x"], cwd=repo, capture_output=True)
    hooks.install(repo)
    proc = subprocess.run(["git", "checkout", "-q", "-b", "y"], cwd=repo, capture_output=True)
    assert alone.returncode != 0
    assert proc.returncode == alone.returncode  # git reports the failing hook as before
    assert [r.hook for r in records(repo / ".git")] == ["post-checkout"]
    write_hook(repo / ".git" / "hooks" / "post-checkout.pre-tmxd", "exit 0\n")
    ok = subprocess.run(["git", "checkout", "-q", "-b", "z"], cwd=repo, capture_output=True)
    assert ok.returncode == 0


def test_foreign_hook_replacing_ours_is_not_clobbered(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    write_hook(repo / ".git" / "hooks" / "post-commit", "exit 0\n")
    hooks.install(repo)
    write_hook(repo / ".git" / "hooks" / "post-commit", "echo another tool\n")
    with pytest.raises(TmxdError, match="merge them"):
        hooks.install(repo)
    assert "another tool" in (repo / ".git" / "hooks" / "post-commit").read_text()


def test_a_tool_rewriting_the_saved_hook_is_chained_again(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    hook = repo / ".git" / "hooks" / "post-commit"
    write_hook(hook, "echo stub\n")
    hooks.install(repo)
    write_hook(hook, "echo stub\n")  # e.g. husky regenerating its stubs
    assert {c.hook: c.action for c in hooks.install(repo)}["post-commit"] == "chained"
    assert hooks.is_ours(hook)
    assert hook.with_name("post-commit.pre-tmxd").read_text() == "#!/bin/sh\necho stub\n"


def test_status_reports_foreign_missing_outdated_and_pending(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    write_hook(repo / ".git" / "hooks" / "post-merge", "exit 0\n")
    st = hooks.status(repo)
    assert {h.hook: h.state for h in st.hooks}["post-merge"] == "foreign"
    assert {h.hook: h.state for h in st.hooks}["post-commit"] == "missing"
    hooks.install(repo)
    commit_file(repo, "a.txt", "one")
    commit_file(repo, "a.txt", "two")
    (repo / ".git" / "hooks" / "post-commit").write_text("#!/bin/sh\n# tmxd-managed-hook v0\n")
    st = hooks.status(repo)
    states = {h.hook: h.state for h in st.hooks}
    assert states == {
        "post-commit": "outdated",
        "post-merge": "chained",
        "post-checkout": "installed",
        "post-rewrite": "installed",
        "prepare-commit-msg": "missing",
    }
    assert st.pending == 2
    assert st.problem == f"{st.hooks_dir}: post-commit outdated"
    hooks.install(repo)
    fixed = hooks.status(repo)
    assert fixed.problem is None
    assert fixed.summary.endswith("(post-merge chained with the previous hook)")


def test_hostile_message_is_spooled_without_running_anything(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    hooks.install(repo)
    message = "evil $(touch pwned) `touch pwned2` \"q\" 'q'\n\nline two; touch pwned3\n"
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    git(repo, "commit", "-q", "-F", "-", input=message)
    assert not list(repo.glob("pwned*")) and not list(tmp_path.glob("pwned*"))
    (rec,) = records(repo / ".git")
    assert rec.head == git(repo, "rev-parse", "HEAD").strip()


def test_git_keeps_working_when_the_spool_cannot_be_written(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    hooks.install(repo)
    blocker = repo / ".git" / "tmxd" / "spool"
    blocker.mkdir()  # the repository's spool cannot be written (even by root)
    fallback = spool.fallback_path()
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    proc = subprocess.run(
        ["git", "commit", "-m", "still works"], cwd=repo, capture_output=True, text=True
    )
    blocker.rmdir()
    assert proc.returncode == 0
    assert "tmxd" not in proc.stderr and "cannot" not in proc.stderr
    sha = git(repo, "rev-parse", "HEAD").strip()
    assert sha in fallback.read_text()
    assert [r.head for r in records(repo / ".git")] == [sha]  # moved home when read
    assert not fallback.exists() or sha not in fallback.read_text()


def test_git_keeps_working_when_the_disk_is_full(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    hooks.install(repo)
    # Every write to the spool and to the fallback fails with ENOSPC, as on a full disk.
    full = Path("/dev/full") if Path("/dev/full").exists() else None
    for target in (repo / ".git" / "tmxd" / "spool", spool.fallback_path()):
        if full is not None:
            target.symlink_to(full)
        else:  # no /dev/full on this system: a directory in the way fails the write too
            target.mkdir()
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "a.txt")
    commit = subprocess.run(["git", "commit", "-m", "works"], cwd=repo, capture_output=True)
    switch = subprocess.run(["git", "checkout", "-b", "other"], cwd=repo, capture_output=True)
    assert commit.returncode == 0 and b"tmxd" not in commit.stderr and commit.stderr == b""
    assert switch.returncode == 0 and b"space" not in switch.stderr
    assert git(repo, "log", "-1", "--format=%s").strip() == "works"


def test_git_keeps_working_with_tmxd_uninstalled_and_no_python(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    hooks.install(repo)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = "/usr/bin:/bin"  # no venv, no tmxd on PATH
    (repo / "a.txt").write_text("a\n")
    subprocess.run(["git", "add", "a.txt"], cwd=repo, env=env, check=True)
    proc = subprocess.run(
        ["git", "commit", "-q", "-m", "plain"], cwd=repo, env=env, capture_output=True
    )
    assert proc.returncode == 0 and proc.stderr == b"" and proc.stdout == b""
    assert len(records(repo / ".git")) == 1


def test_suggest_trailer_offers_the_in_progress_subtask_only_when_fresh(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    hooks.install(repo, suggest_trailer=True)
    tasks = repo / ".taskmaster" / "tasks" / "tasks.json"
    tasks.parent.mkdir(parents=True)
    tasks.write_text("{}")
    os.utime(tasks, (1_000_000, 1_000_000))
    hooks.write_suggestion(repo / ".git", "5.2", tasks)
    msg = tmp_path / "MSG"
    msg.write_text("\n# Please enter the commit message\n")
    hook = repo / ".git" / "hooks" / "prepare-commit-msg"
    subprocess.run([str(hook), str(msg)], cwd=repo, check=True)
    assert msg.read_text().endswith("\n# Task: 5.2\n")
    msg.write_text("given with -m\n")
    subprocess.run([str(hook), str(msg), "message"], cwd=repo, check=True)
    assert msg.read_text() == "given with -m\n"
    os.utime(tasks, None)  # tasks.json changed after the suggestion: stay silent
    msg.write_text("\n")
    subprocess.run([str(hook), str(msg)], cwd=repo, check=True)
    assert msg.read_text() == "\n"


def test_uninstall_without_install_changes_nothing(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    before = sorted(p.name for p in (repo / ".git" / "hooks").iterdir())
    changes = hooks.uninstall(repo)
    assert {c.action for c in changes} == {"absent"}
    assert sorted(p.name for p in (repo / ".git" / "hooks").iterdir()) == before


def test_not_a_repository_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(TmxdError, match="not a git repository") as info:
        hooks.install(tmp_path)
    assert info.value.exit_code == 2


def test_sh_quote_survives_hostile_paths() -> None:
    text = 'it\'s $(here) `x` "y"'
    out = subprocess.run(
        ["sh", "-c", f"printf %s {hooks.sh_quote(text)}"], capture_output=True, text=True
    )
    assert out.stdout == text
