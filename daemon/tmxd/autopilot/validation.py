"""Validation: the project's own checks, run after the agent.

Commands come from ``[autopilot] validate`` (a list of argv lists) or, when that is
empty, are detected from the project: pytest, ``npm test``, ruff, eslint. The
``simple`` route runs only the basic commands (``validate_basic``, or the detected
linters); every other route runs them all. Each command has a timeout; the tail of
its output is kept for the failure note.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tmxd import proc
from tmxd.errors import TmxdError


@dataclass(frozen=True)
class Check:
    name: str
    argv: tuple[str, ...]
    basic: bool


@dataclass(frozen=True)
class CheckResult:
    check: Check
    ok: bool
    summary: str
    tail: str
    duration_s: float


@dataclass(frozen=True)
class ValidationReport:
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    def failure_text(self) -> str:
        """What failed and the end of its output."""
        lines = []
        for result in self.results:
            if not result.ok:
                lines.append(f"{result.check.name}: {result.summary}")
                if result.tail:
                    lines.append(result.tail)
        return "\n".join(lines)


def _pyproject(root: Path) -> dict[str, object]:
    try:
        return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _tool(name: str, python_module: bool) -> list[str]:
    found = shutil.which(name)
    if found:
        return [found]
    return [sys.executable, "-m", name] if python_module else [name]


def detect(root: Path) -> list[Check]:
    """The checks a project visibly uses: pytest, npm test, ruff, eslint."""
    checks: list[Check] = []
    pyproject = _pyproject(root)
    tool = pyproject.get("tool", {})
    tool_table = tool if isinstance(tool, dict) else {}
    if (root / "ruff.toml").exists() or (root / ".ruff.toml").exists() or "ruff" in tool_table:
        checks.append(Check("ruff", (*_tool("ruff", True), "check", "."), basic=True))
    package = root / "package.json"
    scripts: dict[str, object] = {}
    if package.exists():
        try:
            data = json.loads(package.read_text(encoding="utf-8"))
            raw = data.get("scripts", {}) if isinstance(data, dict) else {}
            scripts = raw if isinstance(raw, dict) else {}
        except (OSError, ValueError):
            scripts = {}
    eslint_configs = [
        "eslint.config.js",
        "eslint.config.mjs",
        "eslint.config.cjs",
        ".eslintrc",
        ".eslintrc.js",
        ".eslintrc.json",
        ".eslintrc.cjs",
        ".eslintrc.yml",
    ]
    if any((root / name).exists() for name in eslint_configs):
        checks.append(Check("eslint", ("npx", "--no-install", "eslint", "."), basic=True))
    pytest_markers = [root / "pytest.ini", root / "conftest.py", root / "tests" / "conftest.py"]
    has_tests_dir = (root / "tests").is_dir() and any((root / "tests").glob("test_*.py"))
    if (
        any(p.exists() for p in pytest_markers)
        or "pytest" in tool_table
        or has_tests_dir
        or any(root.glob("test_*.py"))
    ):
        checks.append(Check("pytest", (*_tool("pytest", True), "-q"), basic=False))
    test_script = scripts.get("test")
    if isinstance(test_script, str) and "no test specified" not in test_script:
        checks.append(Check("npm test", ("npm", "test", "--silent"), basic=False))
    return checks


def configured(validate: Sequence[Sequence[str]], basic: Sequence[Sequence[str]]) -> list[Check]:
    """Checks from the config: ``validate_basic`` ones are basic, ``validate`` ones full."""
    checks = [Check(" ".join(argv), tuple(argv), basic=True) for argv in basic if argv]
    seen = {c.argv for c in checks}
    checks += [
        Check(" ".join(argv), tuple(argv), basic=False)
        for argv in validate
        if argv and tuple(argv) not in seen
    ]
    return checks


def select(checks: Sequence[Check], route: str) -> list[Check]:
    """The simple route runs the basic checks only; the others run everything."""
    if route == "simple":
        return [c for c in checks if c.basic]
    return list(checks)


def run_checks(
    checks: Sequence[Check],
    workdir: Path,
    *,
    timeout_s: float,
    tail_lines: int,
    env: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
) -> ValidationReport:
    """Run each check in ``workdir``; stop at the first failure."""
    results = []
    run_env = dict(env if env is not None else os.environ)
    for check in checks:
        try:
            res = proc.run(check.argv, cwd=workdir, timeout_s=timeout_s, env=run_env, cancel=cancel)
        except TmxdError as exc:
            results.append(CheckResult(check, False, str(exc), "", 0.0))
            break
        results.append(
            CheckResult(check, res.ok, res.describe(), res.output_tail(tail_lines), res.duration_s)
        )
        if not res.ok:
            break
    return ValidationReport(tuple(results))
