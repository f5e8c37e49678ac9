"""Validation: detecting the project's checks, running them with timeouts, keeping the tail."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tmxd.autopilot.tools import MissingTool
from tmxd.autopilot.validation import Check, configured, detect, resolve, run_checks, select

PY = sys.executable


def test_detects_pytest_ruff_npm_and_eslint(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 90\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_x(): pass\n")
    (tmp_path / "package.json").write_text(json.dumps({"scripts": {"test": "jest"}}))
    (tmp_path / "eslint.config.js").write_text("export default [];\n")
    checks = detect(tmp_path)
    names = [c.name for c in checks]
    assert names == ["ruff", "eslint", "pytest", "npm test"]
    assert [c.name for c in select(checks, "simple")] == ["ruff", "eslint"]
    assert [c.name for c in select(checks, "medium")] == names
    assert [c.argv for c in checks] == [
        ("ruff", "check", "."),
        ("eslint", "."),
        ("pytest", "-q"),
        ("npm", "test", "--silent"),
    ]


def _tool(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / name
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return exe


def test_resolve_runs_the_projects_own_tools_and_names_every_missing_one(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / ".venv").mkdir(parents=True)
    (root / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    pytest_exe = _tool(root / ".venv" / "bin", "pytest")
    npm = _tool(tmp_path / "bin", "npm")
    checks = [Check("pytest", ("pytest", "-q"), False), Check("npm test", ("npm", "test"), False)]
    env = {"PATH": str(tmp_path / "bin")}
    found = resolve(checks, [root], env)
    assert [(c.argv, c.venv) for c in found] == [
        ((str(pytest_exe), "-q"), root / ".venv"),
        ((str(npm), "test"), None),
    ]
    assert found[0].describe() == f"pytest -q ({pytest_exe})"
    script = Check("./scripts/test", ("./scripts/test",), False)
    assert resolve([script], [root], env) == [script]  # a path is the project's already
    with pytest.raises(MissingTool) as missing:
        resolve([*checks, Check("ruff", ("ruff", "check"), True)], [root], {"PATH": ""})
    assert str(missing.value).startswith("npm, ruff: not found in the project's virtualenv")


def test_detects_nothing_in_an_empty_project_and_skips_the_npm_placeholder(tmp_path: Path) -> None:
    assert detect(tmp_path) == []
    placeholder = 'echo "Error: no test specified" && exit 1'
    (tmp_path / "package.json").write_text(json.dumps({"scripts": {"test": placeholder}}))
    assert detect(tmp_path) == []
    (tmp_path / "package.json").write_text("{broken")
    assert detect(tmp_path) == []


def test_configured_checks_mark_the_basic_ones() -> None:
    checks = configured([["pytest", "-q"], ["ruff", "check"]], [["ruff", "check"]])
    assert [(c.name, c.basic) for c in checks] == [("ruff check", True), ("pytest -q", False)]


def test_runs_checks_stops_at_the_first_failure_and_keeps_the_tail(tmp_path: Path) -> None:
    ok = Check("ok", (PY, "-c", "print('fine')"), basic=True)
    bad = Check(
        "bad",
        (PY, "-c", "import sys\nfor i in range(100): print('line', i)\nsys.exit(1)"),
        basic=False,
    )
    never = Check("never", (PY, "-c", "open('ran', 'w')"), basic=False)
    report = run_checks([ok, bad, never], tmp_path, timeout_s=60, tail_lines=3)
    assert not report.ok
    assert [r.check.name for r in report.results] == ["ok", "bad"]
    assert not (tmp_path / "ran").exists()
    text = report.failure_text()
    first = text.splitlines()[0]
    assert first.startswith("bad: ") and first.endswith("exited with code 1")
    assert text.splitlines()[-3:] == ["line 97", "line 98", "line 99"]


def test_a_hanging_check_times_out(tmp_path: Path) -> None:
    hang = Check("hang", (PY, "-c", "import time; time.sleep(600)"), basic=False)
    report = run_checks([hang], tmp_path, timeout_s=1, tail_lines=5)
    assert not report.ok
    assert "timed out" in report.results[0].summary


def test_a_missing_program_fails_the_check(tmp_path: Path) -> None:
    missing = Check("x", ("no-such-linter",), True)
    report = run_checks([missing], tmp_path, timeout_s=5, tail_lines=5)
    assert not report.ok
    assert "command not found" in report.failure_text()


def test_no_checks_pass(tmp_path: Path) -> None:
    assert run_checks([], tmp_path, timeout_s=5, tail_lines=5).ok
