"""The [autopilot] table: defaults, validation, routing rules from config."""

from __future__ import annotations

from pathlib import Path

import pytest

from tmxd.autopilot.config import AUTOPILOT, load
from tmxd.config import SECTIONS
from tmxd.errors import InputError


def _write(root: Path, text: str) -> None:
    (root / ".taskmaster").mkdir(parents=True, exist_ok=True)
    (root / ".taskmaster" / "tmxd.toml").write_text(text)


def test_defaults_without_a_file(tmp_path: Path) -> None:
    cfg = load(tmp_path)
    assert SECTIONS["autopilot"] is AUTOPILOT
    assert cfg.agent == "claude" and cfg.parallel == 3 and cfg.max_attempts == 3
    assert "Edit" in cfg.allowed_tools
    assert cfg.routing_rules().critical_min_score == 9


def test_values_from_the_file(tmp_path: Path) -> None:
    _write(
        tmp_path,
        '[autopilot]\nagent = "command"\ncommand = ["my-agent", "{task_id}"]\n'
        'validate = [["pytest", "-q"]]\nsimple_patterns = ["\\\\bchore\\\\b"]\nmax_cost_usd = 2\n',
    )
    cfg = load(tmp_path)
    assert cfg.command == ["my-agent", "{task_id}"]
    assert cfg.validate == [["pytest", "-q"]]
    assert cfg.routing_rules().simple == (r"\bchore\b",)
    assert cfg.max_cost_usd == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('agent = "gpt"', "autopilot.agent = 'gpt'"),
        ('on_failure = "explode"', "autopilot.on_failure"),
        ("parallel = 0", "autopilot.parallel must be at least 1"),
        ("timeout_s = 0", "autopilot.timeout_s must be positive"),
        ('permission_mode = "bypassPermissions"', "bypassPermissions is refused"),
        ('critical_patterns = ["(oops"]', "invalid routing pattern"),
        ('max_turns = "many"', "autopilot.max_turns = 'many' is not a valid int"),
        ("colour = 1", "unknown key autopilot.colour"),
    ],
)
def test_bad_values_are_input_errors(tmp_path: Path, text: str, message: str) -> None:
    _write(tmp_path, f"[autopilot]\n{text}\n")
    with pytest.raises(InputError) as info:
        load(tmp_path)
    assert message in info.value.message
    assert "tmxd.toml" in info.value.message
