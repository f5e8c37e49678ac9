"""The exit codes errors.py defines are the ones README's table and `tmxd --help` document."""

from __future__ import annotations

import re

from helpers import REPO_ROOT
from tmxd import errors
from tmxd.cli import cli

CODES = {
    name: value
    for name, value in vars(errors).items()
    if name.startswith("EXIT_") and isinstance(value, int)
}


def test_every_exit_code_is_in_the_readmes_table_and_nothing_else_is() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
    assert documented == set(CODES.values()) == {0, 1, 2, 3, 141}


def test_every_exit_code_is_in_the_help() -> None:
    text = " ".join((cli.help or "").split())
    listed = re.search(r"Exit codes: (.*?)\.", text)
    assert listed is not None
    assert {int(code) for code in re.findall(r"\b(\d+) ", listed.group(1))} == set(CODES.values())


def test_each_error_carries_its_documented_code() -> None:
    assert errors.TmxdError("x").exit_code == errors.EXIT_FAILED
    assert errors.InputError("x").exit_code == errors.EXIT_USAGE
    assert errors.DaemonNotRunning("x").exit_code == errors.EXIT_NO_DAEMON
    assert errors.TmxdError("x", exit_code=errors.EXIT_USAGE).exit_code == errors.EXIT_USAGE
    assert errors.TmxdError("one line").message == "one line"
