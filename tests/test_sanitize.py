from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmxd.sanitize import printable

CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("copy\x1b]52;c;cHduZWQ=\x07 me", "copy me"),  # OSC 52, BEL-terminated
        ("a\x1b]8;;https://x.invalid\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),  # OSC 8, ST
        ("\x1b]0;title\x07t", "t"),  # window title
        ("\x1b[31mred\x1b[0m \x1b[2J\x1b[Hclear", "red clear"),  # CSI: colour, clear, home
        ("\x1b[?1049h\x1b[38;5;196mx", "x"),  # private CSI, 256 colours
        (
            "dcs\x1bPq#0;2;0\x1b\\ apc\x1b_hidden\x1b\\ pm\x1b^p\x1b\\ sos\x1bXs\x1b\\",
            "dcs apc pm sos",
        ),
        ("\x9b31m\x9d0;t\x9c\x90q\x9cz", "z"),  # the 8-bit (C1) forms
        ("reset\x1bc charset\x1b(B save\x1b7", "reset charset save"),  # short ESC forms
        ("tab\tnew\nline", "tab\tnew\nline"),  # kept
        ("cr\rnul\x00bell\x07del\x7fbs\x08", "crnulbelldelbs"),  # other controls go
        ("\x1b]2;unterminated\nnext line", "\nnext line"),  # ends at the line's end
        ("bytes \udcff\udc80 kept", "bytes \ufffd\ufffd kept"),  # undecodable -> U+FFFD
        ("日本語 é ✓ ▶", "日本語 é ✓ ▶"),
        ("", ""),
    ],
)
def test_printable_drops_what_a_terminal_acts_on(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_keep_colour_keeps_only_colour_sequences() -> None:
    raw = "\x1b[1;31mbold red\x1b[0m \x1b]52;c;eA==\x07\x1b[2J\x9b1m"
    assert printable(raw, keep_colour=True) == "\x1b[1;31mbold red\x1b[0m "


def test_plain_text_is_returned_as_is() -> None:
    text = "Task 5.2: Parse the config — done ✓"
    assert printable(text) is text


@given(st.text())
def test_nothing_a_terminal_acts_on_survives(text: str) -> None:
    shown = printable(text)
    assert CONTROL.search(shown) is None
    assert printable(shown) == shown  # idempotent


@given(st.text(alphabet=st.characters(blacklist_categories=["Cc", "Cs"])) | st.just("\t\n"))
def test_text_without_controls_is_unchanged(text: str) -> None:
    assert printable(text) == text
