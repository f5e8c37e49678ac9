"""Validation: the project's own checks, run after the agent.

Commands come from ``[autopilot] validate`` (a list of argv lists) or, when that is
empty, are detected from the project: pytest, ``npm test``, ruff, eslint. The
``simple`` route runs only the basic commands (``validate_basic``, or the detected
linters); every other route runs them all. Each command has a timeout; the tail of
its output is kept for the failure note.

A command named by a bare name runs the project's own tool (:func:`resolve`, see
``tools``): its virtualenv's, its ``node_modules``', else the one on PATH — never
tmxd's own interpreter. A tool found nowhere is :class:`~tmxd.autopilot.tools.MissingTool`.
"""

from __future__ import annotations

import json
import os
import threading
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from tmxd import proc
from tmxd.autopilot import tools
from tmxd.errors import TmxdError


@dataclass(frozen=True)
class Check:
    name: str
    argv: tuple[str, ...]
    basic: bool
    venv: Path | None = None  # the virtualenv its program belongs to (activated to run it)

    def describe(self) -> str:
        """``pytest -q (/app/.venv/bin/pytest)``: the check and the program it runs."""
        shown = " ".join((os.path.basename(self.argv[0]), *self.argv[1:]))
        return f"{shown} ({self.argv[0]})" if os.sep in self.argv[0] else shown


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
        """What failed (:attr:`headline`) and the end of its output."""
        lines = []
        for result in self.results:
            if not result.ok:
                lines.append(_headline(result))
                if result.tail:
                    lines.append(result.tail)
        return "\n".join(lines)

    @property
    def headline(self) -> str:
        """``pytest: exited with code 1``: the first failing check, on one line."""
        failed = next((r for r in self.results if not r.ok), None)
        return _headline(failed) if failed is not None else ""


def _headline(result: CheckResult) -> str:
    name = result.check.name
    first = name.splitlines()[0] if name.strip() else name
    short = first if first == name and len(first) <= 80 else first[:80].rstrip() + " …"
    return f"{short}: {result.summary}"


def _pyproject(root: Path) -> dict[str, object]:
    try:
        return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def detect(root: Path) -> list[Check]:
    """The checks a project visibly uses: pytest, npm test, ruff, eslint."""
    checks: list[Check] = []
    pyproject = _pyproject(root)
    tool = pyproject.get("tool", {})
    tool_table = tool if isinstance(tool, dict) else {}
    if (root / "ruff.toml").exists() or (root / ".ruff.toml").exists() or "ruff" in tool_table:
        checks.append(Check("ruff", ("ruff", "check", "."), basic=True))
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
        checks.append(Check("eslint", ("eslint", "."), basic=True))
    pytest_markers = [root / "pytest.ini", root / "conftest.py", root / "tests" / "conftest.py"]
    has_tests_dir = (root / "tests").is_dir() and any((root / "tests").glob("test_*.py"))
    if (
        any(p.exists() for p in pytest_markers)
        or "pytest" in tool_table
        or has_tests_dir
        or any(root.glob("test_*.py"))
    ):
        checks.append(Check("pytest", ("pytest", "-q"), basic=False))
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


def resolve(
    checks: Sequence[Check], folders: Sequence[Path], env: Mapping[str, str]
) -> list[Check]:
    """``checks`` with each bare program name replaced by the project's own tool.

    ``folders``: the folder the checks run in, then the project root. Raises
    MissingTool naming every tool found nowhere (a path, like ``./scripts/test``, is
    left as it is).
    """
    out, missing = [], []
    for check in checks:
        program = check.argv[0]
        if os.sep in program:
            out.append(check)
            continue
        tool = tools.find(program, folders, env)
        if tool is None:
            missing.append(program)
            continue
        out.append(replace(check, argv=(tool.path, *check.argv[1:]), venv=tool.venv))
    if missing:
        raise tools.MissingTool(tools.missing_message(list(dict.fromkeys(missing)), folders, env))
    return out


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
    base = dict(env if env is not None else os.environ)
    for check in checks:
        run_env = tools.run_env(check.venv, base)
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
