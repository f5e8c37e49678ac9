"""Shared test helpers: real git repositories, tmxd commands (in this process or as a real
process), waiting on conditions, the corpus."""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import pytest

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[1]
SOURCE_ROOT = REPO_ROOT / "daemon"


def find_shared() -> Path:
    """``../shared`` beside the checkout (or any ancestor's ``shared/``); ``TMXD_SHARED`` wins."""
    override = os.environ.get("TMXD_SHARED")
    if override:
        return Path(override)
    for parent in REPO_ROOT.parents:
        candidate = parent / "shared"
        if (candidate / "DESIGN.md").is_file():
            return candidate
    return REPO_ROOT.parent / "shared"


SHARED = find_shared()
CORPUS = SHARED / "corpus" / "taskmaster"
EXPECTED = CORPUS / "expected"
ORACLE = SHARED / "oracle"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Ada Tester",
    "GIT_AUTHOR_EMAIL": "ada@example.invalid",
    "GIT_COMMITTER_NAME": "Ada Tester",
    "GIT_COMMITTER_EMAIL": "ada@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}


def git(cwd: Path, *args: str, check: bool = True, input: str | None = None) -> str:
    """Run git in ``cwd`` and return its stdout."""
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
        input=input,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def init_repo(path: Path, *, commit: bool = True) -> Path:
    """A fresh repository on ``main`` with (optionally) one root commit."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    if commit:
        (path / "README.md").write_text("# test project\n")
        git(path, "add", "README.md")
        git(path, "commit", "-q", "-m", "initial commit")
    return path


# The machine is shared and loaded: waits are generous, but each ends as soon as it can.
WAIT_TIMEOUT = 60.0


def wait_until(
    predicate: Callable[[], T],
    timeout: float = WAIT_TIMEOUT,
    what: str = "",
    interval: float = 0.05,
) -> T:
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout`` s.

    The one way tests wait: on a condition, with a deadline, never on a fixed sleep.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(interval)


def tmxd_argv(*args: str) -> list[str]:
    """argv that runs this checkout's tmxd in a subprocess."""
    return [sys.executable, "-m", "tmxd", *args]


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(SOURCE_ROOT), env.get("PYTHONPATH", "")) if p
    )
    if extra:
        env.update(extra)
    return env


_HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_tmxd(
    *args: str,
    cwd: Path | None = None,
    input: str | None = None,
    env: Mapping[str, str | None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``tmxd ARGS`` in this process through ``tmxd.cli.main``, as a shell would run it.

    Returns what :func:`run_tmxd_process` returns (exit code, stdout, stderr), so a test reads
    the same either way. stdin is ``input`` (not a terminal), stdout and stderr are captured,
    ``env`` overrides variables (``None`` removes one) and ``cwd`` is the working directory.
    Everything process-wide the command may touch is put back afterwards: the environment
    (and the time zone), the working directory, logging handlers and levels, and signal
    handlers. An exception that escapes ``main`` is a traceback a user would see: it fails the
    test rather than being turned into an exit code.
    """
    from click.testing import CliRunner

    from tmxd.cli import main

    saved_cwd = os.getcwd()
    saved_env = dict(os.environ)
    saved_signals = {sig: signal.getsignal(sig) for sig in _HANDLED_SIGNALS}
    loggers = [logging.getLogger(), *_named_loggers()]
    saved_logging = {lg: (lg.handlers[:], lg.level, lg.propagate) for lg in loggers}
    tz_before = os.environ.get("TZ")
    runner = CliRunner()
    try:
        with runner.isolation(input=input, env=dict(env or {})) as (out, err, _mixed):
            if env and env.get("TZ") != tz_before:
                time.tzset()
            if cwd is not None:
                os.chdir(cwd)
            code = main(list(args))
            sys.stdout.flush()
            sys.stderr.flush()
            stdout = out.getvalue().decode("utf-8", "replace")
            stderr = err.getvalue().decode("utf-8", "replace")
    finally:
        os.chdir(saved_cwd)
        if os.environ != saved_env:
            os.environ.clear()
            os.environ.update(saved_env)
        if os.environ.get("TZ") != tz_before or (env and "TZ" in env):
            time.tzset()
        for sig, handler in saved_signals.items():
            if signal.getsignal(sig) is not handler and handler is not None:
                signal.signal(sig, handler)
        for lg in _named_loggers():
            if lg not in saved_logging:
                saved_logging[lg] = ([], logging.NOTSET, True)
        for lg, (handlers, level, propagate) in saved_logging.items():
            for handler in lg.handlers[:]:
                if handler not in handlers:
                    lg.removeHandler(handler)
                    handler.close()
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate
    return subprocess.CompletedProcess(["tmxd", *args], code, stdout, stderr)


def _named_loggers() -> list[logging.Logger]:
    return [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]


def run_tmxd_process(
    *args: str,
    cwd: Path | None = None,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = WAIT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run tmxd as a real process (``python -m tmxd``) and capture its output.

    For tests where the process is the point: the entry point itself, the daemon, signals.
    """
    return subprocess.run(
        tmxd_argv(*args),
        cwd=cwd,
        env=subprocess_env(dict(env or {})),
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
        check=False,
    )


def copy_corpus(name: str, project: Path, *, layout: str = ".taskmaster") -> Path:
    """Copy corpus file ``name`` (e.g. ``"001"``) into a Task Master project; return tasks.json."""
    tasks_dir = project / layout / "tasks" if layout == ".taskmaster" else project / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    target = tasks_dir / "tasks.json"
    shutil.copyfile(CORPUS / f"{name}.json", target)
    state = CORPUS / f"{name}.state.json"
    if state.exists() and layout == ".taskmaster":
        shutil.copyfile(state, project / ".taskmaster" / "state.json")
    config = CORPUS / f"{name}.config.json"
    if config.exists() and layout == ".taskmaster":
        shutil.copyfile(config, project / ".taskmaster" / "config.json")
    return target


# The Task Master oracle installs under the *real* home; conftest later points HOME at a
# temporary folder, so remember where the CLI lives now.
ORACLE_DIR = Path(
    os.environ.get("TMXD_ORACLE_DIR") or Path.home() / ".cache" / "tmxd-oracle"
).resolve()


def oracle_missing() -> str | None:
    """Why the real Task Master CLI cannot run here, or ``None`` when it can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (ORACLE_DIR / "node_modules" / "task-master-ai" / "dist" / "task-master.js").is_file():
        return f"Task Master CLI not installed in {ORACLE_DIR} (run {ORACLE / 'install'})"
    return None


def run_oracle(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the real ``task-master`` (via ``oracle/tm``) in ``cwd``."""
    env = dict(os.environ)
    env["TMXD_ORACLE_DIR"] = str(ORACLE_DIR)
    return subprocess.run(
        [str(ORACLE / "tm"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` imported as a module (the benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def once_per_run(factory: pytest.TempPathFactory, name: str) -> Iterator[tuple[Path, bool]]:
    """``(folder, first)`` under a lock that every pytest-xdist worker of this run shares:
    ``folder`` is the run's own temporary folder, and ``first`` is true for the one caller
    that should make ``name`` there (an earlier attempt that failed does not count)."""
    base = factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    done = shared / f"{name}.made"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        first = not done.exists()
        yield shared, first
        done.touch()


def scripted_agent(root: Path) -> None:
    """Give the project at ``root`` the scripted agent as its autopilot agent (a program that
    is there), so a dry run plans rather than saying that Claude Code is not installed."""
    import json

    config = root / ".taskmaster" / "tmxd.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    command = json.dumps([sys.executable, "-m", "tmxd.autopilot.scripted"])
    config.write_text(f'[autopilot]\nagent = "command"\ncommand = {command}\n', encoding="utf-8")


def save_completes_while_waited(monkeypatch: pytest.MonkeyPatch, text: str) -> list[Path]:
    """A tasks.json caught half saved: its writer finishes (``text``) while the store waits
    out the grace for it (``store.wait_settled``). Returns the paths waited on."""
    from tmxd.taskmaster import store

    waited: list[Path] = []

    def save_completes(path: Path) -> bool:
        waited.append(path)
        path.write_text(text, encoding="utf-8")
        return True

    monkeypatch.setattr(store, "wait_settled", save_completes)
    return waited


def saved_by_an_editor_meanwhile(
    monkeypatch: pytest.MonkeyPatch, times: int, save: Callable[[int], None]
) -> list[int]:
    """An editor (which takes no lock) saves tasks.json right after each of the next
    ``times`` locked reads (``TaskStore.read_settled``, inside ``edit()``): ``save(n)``
    writes its ``n``-th save, a different one each time. Returns the saves made."""
    from typing import Any

    from tmxd.taskmaster import store

    real_read = store.TaskStore.read_settled
    saves: list[int] = []

    def read_then_editor_saves(self: store.TaskStore) -> Any:
        doc = real_read(self)
        if len(saves) < times:
            saves.append(len(saves))
            save(len(saves) - 1)
        return doc

    monkeypatch.setattr(store.TaskStore, "read_settled", read_then_editor_saves)
    return saves
