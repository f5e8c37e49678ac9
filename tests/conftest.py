"""Hermetic test environment (no real home, no user git config, fixed authors), and guards:
a test that leaves a thread or a process behind fails."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from helpers import GIT_ENV, once_per_run, subprocess_env, tmxd_argv, wait_until
from tmxd import proc

# Hypothesis on a shared, loaded machine (and in CI, which runs on one): no per-example
# deadline, because how long one example takes measures the machine, not the code (timing is
# the benchmarks' business). Health checks stay on; the one test whose inputs are legitimately
# slow to draw says so where it is defined. HYPOTHESIS_PROFILE picks another profile.
settings.register_profile("ci", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Set in every test's environment, so every process a test starts carries it and can be found
# again after the test, wherever it was reparented to.
TEST_MARK = "TMXD_TEST_RUN"

# How long a test's leftovers get to finish on their own before the guard calls them leaks
# (threads and processes asked to stop may take a moment to go, more on a loaded machine).
# TMXD_TEST_LEFTOVER_GRACE changes it (the guards' own test uses a short one).
LEFTOVER_GRACE = 30.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Spread the tests marked ``slow`` so that parallel workers finish together.

    ``--dist worksteal`` gives each of N workers one contiguous share of the list, and a
    worker that runs out takes the back half of the longest remaining share. A test that
    takes many seconds left near the end keeps one worker busy while the others have
    nothing to do. So each share gets an equal number of the slow tests, spread over its
    first third among quick ones (a share is run from its front while idle workers take
    its back), and the shares reach theirs at different times: side by side, slow tests
    mostly wait on their processes and leave the cores idle.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    slow = [item for item in items if item.get_closest_marker("slow")]
    quick = [item for item in items if not item.get_closest_marker("slow")]
    ordered: list[pytest.Item] = []
    remaining = len(items)
    for share in range(workers):
        size = remaining // (workers - share)  # what worksteal hands this worker
        remaining -= size
        mine = slow[share::workers]
        fill = max(size - len(mine), 0) if share < workers - 1 else len(quick)
        rest, quick = quick[:fill], quick[fill:]
        gap = max(len(rest) // (3 * len(mine)), 1) if mine else 0
        lead = gap * share // workers  # shares reach their slow tests at different times
        ordered += rest[:lead]
        for index, item in enumerate(mine):
            ordered += [item, *rest[lead + index * gap : lead + (index + 1) * gap]]
        ordered += rest[lead + len(mine) * gap :]
    items[:] = ordered


@pytest.fixture(autouse=True)
def no_leftovers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a thread or a process it started running.

    Autouse, so it is set up before the fixtures a test asks for and torn down after them:
    what a fixture stops in its teardown is not a leftover.
    """
    grace = float(os.environ.get("TMXD_TEST_LEFTOVER_GRACE", LEFTOVER_GRACE))
    threads_before = set(threading.enumerate())
    mark = f"{os.getpid()}-{request.node.nodeid}"
    os.environ[TEST_MARK] = mark
    try:
        yield
    finally:
        os.environ.pop(TEST_MARK, None)

    def processes_gone() -> bool:
        return not _marked_processes(mark)

    try:
        wait_until(processes_gone, timeout=grace, what="the test's processes to end")
    except AssertionError:
        left = _marked_processes(mark)
        if left:
            pytest.fail(f"test left processes running: {_describe(left)}", pytrace=False)

    def threads_gone() -> bool:
        return not [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]

    try:
        wait_until(threads_gone, timeout=grace, what="the test's threads to end")
    except AssertionError:
        left = [t.name for t in threading.enumerate() if t not in threads_before]
        if left:
            pytest.fail(f"test left threads running: {', '.join(sorted(left))}", pytrace=False)


def _marked_processes(mark: str) -> dict[int, str]:
    """Live processes (not zombies) whose environment carries ``mark``: ``{pid: command}``."""
    needle = f"{TEST_MARK}={mark}\0".encode()
    found: dict[int, str] = {}
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                if needle not in fh.read() + b"\0":
                    continue
            if proc.state_letter(int(entry.name)) in ("Z", "X", "?"):
                continue  # ended (a zombie waits for its parent) or gone
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                found[int(entry.name)] = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return found


def _describe(processes: dict[int, str]) -> str:
    return "; ".join(f"pid {pid}: {cmd.strip()[:120]}" for pid, cmd in sorted(processes.items()))


def hermetic_variables(home: Path) -> dict[str, str | None]:
    """The environment of a hermetic test: ``None`` means the variable is removed."""
    variables: dict[str, str | None] = {
        "HOME": str(home),
        "TMXD_STATE_DIR": str(home / "state"),
        "TMXD_RUNTIME_DIR": str(home / "run"),
        "TMXD_DB": str(home / "state" / "metrics.db"),
        "XDG_RUNTIME_DIR": None,
        "XDG_STATE_HOME": None,
        "TASKMASTER_TAG": None,
        "NO_COLOR": "1",
    }
    variables.update({key: None for key in os.environ if key.startswith("GIT_")})
    variables.update(GIT_ENV)
    return variables


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask (files 0644, folders 0755 unless made otherwise), whatever this
    process was started with: what tmxd makes private must be so by its own doing."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture(autouse=True)
def hermetic_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Point HOME, tmxd's state/runtime dirs and git's config at throwaway folders."""
    home = tmp_path_factory.mktemp("home")
    for key, value in hermetic_variables(home).items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    yield home


@pytest.fixture(scope="session")
def demo_transcript(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """One run of ``tmxd demo`` as a user runs it (a real process, hermetic), shared by the
    tests that read its transcript: it is the slowest command there is.

    Under pytest-xdist the workers share it too: the first one to get here runs the demo and
    leaves the transcript in the run's own temporary folder for the others.
    """
    with once_per_run(tmp_path_factory, "demo-transcript") as (shared, first):
        cache = shared / "demo-transcript.json"
        if first:
            done = _run_demo(tmp_path_factory.mktemp("demo-home"))
            cache.write_text(json.dumps([done.returncode, done.stdout, done.stderr]))
        code, out, err = json.loads(cache.read_text())
    return subprocess.CompletedProcess(tmxd_argv("demo"), code, out, err)


def _run_demo(home: Path) -> subprocess.CompletedProcess[str]:
    env = subprocess_env()
    env.pop(TEST_MARK, None)
    for key, value in hermetic_variables(home).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        tmxd_argv("demo"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
