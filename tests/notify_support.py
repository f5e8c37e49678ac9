"""A notify command for tests: a real program that appends its argv (one JSON list per run)
to a file, so a test sees exactly the arguments it was given."""

from __future__ import annotations

import json
import sys
from pathlib import Path

SCRIPT = """\
import json, sys
with open(sys.argv[1], "a", encoding="utf-8") as out:
    out.write(json.dumps(sys.argv[2:]) + "\\n")
"""


def recorder_command(tmp_path: Path, *template: str) -> tuple[list[str], Path]:
    """``(command, output file)``: the command writes the rest of its argv to the file."""
    script = tmp_path / "notify_recorder.py"
    script.write_text(SCRIPT, encoding="utf-8")
    out = tmp_path / "notified.jsonl"
    fields = template or ("{event}", "{task}", "{title}", "{project}", "{message}")
    return [sys.executable, str(script), str(out), *fields], out


def received(out: Path) -> list[list[str]]:
    """Every argv the command was run with, in order."""
    try:
        text = out.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.endswith("]")]


def notify_toml(command: list[str], on: list[str] | None = None) -> str:
    """A ``[notify]`` table running ``command``."""
    lines = ["[notify]", f"command = {json.dumps(command)}"]
    if on is not None:
        lines.append(f"on = {json.dumps(on)}")
    return "\n".join(lines) + "\n"


def use_command(root: Path, command: list[str]) -> None:
    """Point the ``[notify]`` table `tmxd init` wrote at ``command`` (whatever notifier,
    found on PATH or not, init put there)."""
    path = root / ".taskmaster" / "tmxd.toml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = lines.index("[notify]\n")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
    old = ("command", "# command")
    body = [line for line in lines[start + 1 : end] if not line.startswith(old)]
    lines[start + 1 : end] = [f"command = {json.dumps(command)}\n", *body]
    path.write_text("".join(lines), encoding="utf-8")


def append_notify(root: Path, command: list[str]) -> None:
    """Add a ``[notify]`` table running ``command`` at the end of the project's tmxd.toml (after
    an ``[autopilot]`` table, whose own ``command`` is the agent's)."""
    with open(root / ".taskmaster" / "tmxd.toml", "a", encoding="utf-8") as toml:
        toml.write(notify_toml(command))
