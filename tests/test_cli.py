from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from helpers import copy_corpus, run_tmxd, run_tmxd_process, subprocess_env, tmxd_argv
from tmxd import __version__
from tmxd.cli import COMMANDS, cli, main
from tmxd.errors import EXIT_BROKEN_PIPE


def test_version_in_process(capsys) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_python_dash_m_help() -> None:
    proc = run_tmxd_process("--help")  # the entry point itself: `python -m tmxd`
    assert proc.returncode == 0
    assert "Exit codes" in proc.stdout


def test_unknown_command_is_usage_error() -> None:
    proc = run_tmxd("no-such-command")
    assert proc.returncode == 2
    assert "No such command" in proc.stderr
    assert "Traceback" not in proc.stderr


def _eager_group() -> click.Group:
    """What `tmxd --help` would be with every command imported up front."""
    eager = click.Group("tmxd", help=cli.help, context_settings=cli.context_settings)
    eager.params = list(cli.params)
    lazy = click.Context(cli)
    for name in cli.list_commands(lazy):
        command = cli.get_command(lazy, name)
        assert command is not None
        eager.add_command(command, name)
    return eager


@pytest.mark.parametrize("width", [60, 80, 120])
def test_help_lists_every_command_as_if_all_were_imported(width: int) -> None:
    def help_of(group: click.Group) -> str:
        settings = {"info_name": "tmxd", "terminal_width": width, **cli.context_settings}
        with click.Context(group, **settings) as ctx:
            return group.get_help(ctx)

    lazy = help_of(cli)
    assert lazy == help_of(_eager_group())
    for name in ("next", "set-status", "start", "autopilot", "report", "doctor", "watch"):
        assert f"\n  {name} " in lazy


def test_each_summary_is_the_commands_own() -> None:
    ctx = click.Context(cli)
    for name, entry in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
        if entry.short_help:
            assert entry.summary == command.short_help, name
        else:
            assert command.short_help is None, name
            first = (command.help or "").split("\n\n")[0]
            assert entry.summary == " ".join(first.split()), name


def test_next_imports_only_what_it_runs(tmp_path: Path) -> None:
    root = tmp_path / "p"
    copy_corpus("133", root)
    probe = (
        "import sys\n"
        "from tmxd.cli import main\n"
        f"code = main(['next', '--format', 'json', '-p', {str(root)!r}])\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n"
        "raise SystemExit(code)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"task"' in proc.stdout
    loaded = set(proc.stderr.split())
    assert "tmxd.commands.tasks" in loaded and "tmxd.taskmaster.ops" in loaded
    unneeded = {
        "tmxd.commands.daemon",
        "tmxd.commands.autopilot",
        "tmxd.daemon",
        "tmxd.autopilot",
        "tmxd.metrics",
        "tmxd.setup",
        "tmxd.history",
        "tmxd.commits",
        "tmxd.taskmaster.jsonedit",  # only writes need the editor
        "git",  # GitPython
        "watchdog",
        "apscheduler",
        "sqlite_utils",
    }
    assert loaded & unneeded == set()


# Read by tmxd but not for users to set: what every program gets from the system, what
# Claude Code gives its hooks, and the scripted stand-in agent's own plumbing.
INTERNAL_ENV = {
    "HOME", "USER", "PATH", "PYTHONPATH", "CLAUDE_CODE_SESSION_ID", "CLAUDE_PROJECT_DIR",
    "TMXD_SCRIPTED_PLAN", "TMXD_SCRIPTED_STATE", "TMXD_TAG",
}  # fmt: skip
_ENV_READ = re.compile(
    r"""(?:environ(?:\.get)?|getenv|env\.get|envvar=)\s*[\[(]?\s*["']([A-Z][A-Z0-9_]+)["']"""
)


def test_help_lists_every_environment_variable_tmxd_reads() -> None:
    source = Path(__file__).resolve().parents[1] / "daemon" / "tmxd"
    read = {
        name
        for path in source.rglob("*.py")
        for name in _ENV_READ.findall(path.read_text(encoding="utf-8"))
    }
    read.add("TASKMASTER_TAG")  # read through project.TAG_ENV
    assert {"TMXD_DB", "TMXD_STATE_DIR", "TMXD_RUNTIME_DIR", "NO_COLOR"} <= read
    help_text = run_tmxd("--help").stdout
    section = help_text.split("Environment:", 1)[1].split("Options:", 1)[0]
    missing = sorted(name for name in read - INTERNAL_ENV if name not in section)
    assert missing == [], f"read by tmxd but not in `tmxd --help`: {missing}"


def _complete(cwd: Path, words: str) -> list[str]:
    env = subprocess_env(
        {"_TMXD_COMPLETE": "bash_complete", "COMP_WORDS": words,
         "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "tmxd"], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return [line.split(",", 1)[1] for line in done.stdout.splitlines()]


def test_shell_completion_of_task_ids_and_statuses(tmp_path: Path) -> None:
    copy_corpus("001", tmp_path)
    ids = _complete(tmp_path, "tmxd show 1")
    assert "11" in ids and "11.1" in ids and all(i.startswith("1") for i in ids)
    listed = _complete(tmp_path, "tmxd show 11,12.")  # the last item of a comma list
    assert "11,12.1" in listed and all(i.startswith("11,12.") for i in listed)
    assert _complete(tmp_path, "tmxd set-status 11 in") == ["in-progress"]
    assert "11.2" in _complete(tmp_path, "tmxd set-status --id 11.")
    assert _complete(tmp_path, "tmxd list --status re") == ["review"]
    assert "11.1" in _complete(tmp_path, "tmxd update-subtask --id 11.")
    assert _complete(tmp_path, "tmxd se") == ["service", "set-status"]


def _with_dependency_errors(project: Path) -> None:
    """Corpus 021 with task 1 depending on a task that does not exist."""
    tasks = copy_corpus("021", project)
    data = json.loads(tasks.read_text(encoding="utf-8"))
    data["master"]["tasks"][0]["dependencies"] = [9999]
    tasks.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize(
    ("args", "alone"),
    [
        (("list",), 0),
        (("next",), 0),
        (("show", "1"), 0),
        (("list", "--format", "json"), 0),
        (("--help",), 0),
        (("validate-dependencies",), 1),
        (("doctor",), 1),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, tuple) else str(a),
)
def test_a_reader_that_closed_the_pipe_ends_tmxd_as_sigpipe_would(
    tmp_path: Path, args: tuple[str, ...], alone: int
) -> None:
    """`tmxd validate-dependencies | head -1`: the reader is gone before tmxd writes (a real
    pipe whose read end is closed), so the write fails with EPIPE; tmxd stops quietly with
    141, what a shell reports for a process killed by SIGPIPE — never 0, which would hide
    the failure the command reports when its output is read to the end (``alone``)."""
    _with_dependency_errors(tmp_path)  # doctor fails too: no git repository, no hooks
    control = _in(tmp_path, tmxd_argv(*args), capture_output=True)
    assert control.returncode == alone, control.stderr
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = _in(tmp_path, tmxd_argv(*args), stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (EXIT_BROKEN_PIPE, "")


def test_head_in_a_shell_pipeline(tmp_path: Path) -> None:
    """The shell sees 141 for a truncated run, 1 for a failure read to the end, and
    `head` still gets the first line."""
    _with_dependency_errors(tmp_path)
    tmxd = " ".join(f"'{a}'" for a in tmxd_argv())
    script = (
        f'{tmxd} validate-dependencies | head -c 0; echo "cut=${{PIPESTATUS[0]}}"; '
        f'{tmxd} validate-dependencies | cat >/dev/null; echo "read=${{PIPESTATUS[0]}}"; '
        f"{tmxd} list | head -1"
    )
    proc = _in(tmp_path, ["bash", "-c", script], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == ["cut=141", "read=1"]
    assert lines[2].startswith("tag: master")
    assert proc.stderr == ""


def test_a_closed_pipe_in_process_is_141(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """main() itself: a BrokenPipeError from a command becomes 141, not a traceback."""

    @click.command()
    def broken() -> None:
        raise BrokenPipeError

    real = cli.get_command
    monkeypatch.setattr(
        cli, "get_command", lambda ctx, name: broken if name == "probe" else real(ctx, name)
    )
    assert main(["probe"]) == EXIT_BROKEN_PIPE
    assert main(["--version"]) == 0  # control: the same entry point, a reader that stays
    assert capsys.readouterr().err == ""


def _in(cwd: Path, argv: list[str], **streams: Any) -> subprocess.CompletedProcess[str]:
    """``argv`` as a real process in ``cwd``, with this checkout's tmxd importable."""
    return subprocess.run(
        argv, cwd=cwd, env=subprocess_env(), text=True, timeout=60, check=False, **streams
    )


def _leaf_commands() -> dict[str, click.Command]:
    ctx = click.Context(cli)
    found: dict[str, click.Command] = {}

    def walk(cmd: click.Command, name: str) -> None:
        if isinstance(cmd, click.Group):
            for sub in cmd.list_commands(ctx):
                sub_cmd = cmd.get_command(ctx, sub)
                assert sub_cmd is not None
                walk(sub_cmd, f"{name} {sub}")
        found[name] = cmd

    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        walk(command, name)
    return found


def test_readme_says_which_commands_take_a_project() -> None:
    """README: the commands about one project take -p/--project; those about the daemon
    and the database do not; on start and run it means "also watch"."""
    from helpers import REPO_ROOT

    takes = {
        name
        for name, cmd in _leaf_commands().items()
        if any("--project" in getattr(p, "opts", ()) for p in cmd.params)
    }
    per_project = {
        "list", "next", "show", "set-status", "update-subtask", "validate-dependencies",
        "sync", "hooks install", "hooks uninstall", "hooks status", "init", "doctor", "report",
        "autopilot", "approve", "reject", "merge-driver", "mcp",
    }  # fmt: skip
    assert takes == per_project | {"start", "run"}
    readme = " ".join((REPO_ROOT / "README.md").read_text().split())
    claim = readme[readme.index("Every command that works on one project") :][:900]
    for name in ("sync", "hooks", "init", "doctor", "report", "autopilot", "merge-driver", "mcp"):
        assert f"`{name}`" in claim, name
    for name in ("status", "stop", "reload", "watch", "service", "metrics", "demo"):
        assert f"`{name}`" in claim and not any(t.split()[0] == name for t in takes), name
    assert '`-p PATH` means "also watch PATH for this run"' in claim
