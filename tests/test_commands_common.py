"""The options and output helpers every command shares."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from helpers import copy_corpus
from tmxd.cli import cli
from tmxd.commands import common

ESC_TITLE = "Title \x1b]0;pwned\x07 \x1b[31mred\x1b[0m\x9b2J"


def test_echo_makes_data_printable(capsys: pytest.CaptureFixture[str]) -> None:
    common.echo(ESC_TITLE)
    common.echo(ESC_TITLE, err=True)
    out, err = capsys.readouterr()
    assert out == err == "Title  red\n"


def test_a_coloured_line_keeps_only_its_colours(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    line = common.style("done", fg="green") + " " + common.style(ESC_TITLE, bold=True)
    with click.Context(cli, color=common.color_override()):  # as tmxd.cli.main runs commands
        common.echo(line, coloured=True)
    out = capsys.readouterr().out
    assert out.startswith("\x1b[32mdone\x1b[0m \x1b[1mTitle  red")
    assert "\x1b]" not in out and "\x9b" not in out and "\x07" not in out
    monkeypatch.setenv("FORCE_COLOR", "0")
    monkeypatch.setenv("NO_COLOR", "1")
    assert common.style("done", fg="green") == "done"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"NO_COLOR": "1"}, False),
        ({"NO_COLOR": ""}, None),
        ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, True),
        ({"CLICOLOR_FORCE": "yes"}, True),
        ({"FORCE_COLOR": "0"}, None),
        ({"FORCE_COLOR": "false", "NO_COLOR": "x"}, False),
    ],
)
def test_colour_override(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: bool | None
) -> None:
    for key in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert common.color_override() is expected


def test_json_output_escapes_what_a_terminal_acts_on_and_keeps_the_data(
    capsys: pytest.CaptureFixture[str],
) -> None:
    value = {"title": "a\x7fb\x9bc\x1bd", "ok": "ünïcode ✓"}
    common.echo_json(value)
    out = capsys.readouterr().out
    assert "\x7f" not in out and "\x9b" not in out and "\x1b" not in out
    assert "\\u007f" in out and "\\u009b" in out and "ünïcode ✓" in out
    assert json.loads(out) == value
    assert common.json_text('"\ud800"') == '"\\ud800"'


def test_other_formats_print_made_printable(capsys: pytest.CaptureFixture[str]) -> None:
    common.echo_formatted(ESC_TITLE, "markdown", nl=False)
    assert capsys.readouterr().out == "Title  red"


def _context(project: Path) -> click.Context:
    ctx = click.Context(cli)
    ctx.params = {"project": project, "tag": None}
    return ctx


def test_task_ids_complete_with_titles_and_after_a_comma(tmp_path: Path) -> None:
    copy_corpus("021", tmp_path)
    ctx = _context(tmp_path)
    items = common.complete_task_ids(ctx, ctx.command.params[0], "1")
    values = [item.value for item in items]
    assert "1" in values and "1.1" in values and "10" in values
    assert all(v.startswith("1") for v in values)
    assert next(i for i in items if i.value == "1").help == "Setup Project Repository"
    listed = common.complete_task_ids(ctx, ctx.command.params[0], "2,3.")
    assert listed and all(item.value.startswith("2,3.") for item in listed)


def test_task_ids_complete_to_nothing_outside_a_project(tmp_path: Path) -> None:
    ctx = _context(tmp_path / "nowhere")
    assert common.complete_task_ids(ctx, ctx.command.params[0], "") == []


def test_statuses_complete_after_a_comma() -> None:
    ctx = click.Context(cli)
    values = [i.value for i in common.complete_statuses(ctx, ctx.command.params[0], "done,in")]
    assert values == ["done,in-progress"]
