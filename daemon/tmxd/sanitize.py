"""The one output sanitizer: what tmxd prints never drives the terminal it lands on.

Commit subjects, task text, tag names, ids and agent output are other people's bytes.
Printed raw, an escape sequence in them can set the clipboard (OSC 52), plant a
hyperlink (OSC 8), retitle the window, clear the screen or move the cursor to hide a
line. :func:`printable` is applied to everything printed that came from such data —
the text output of every command, reports, the daemon's status and log, the
autopilot's output, doctor — and drops:

* every escape sequence: CSI (``ESC [`` ... final byte), OSC (``ESC ]`` ... BEL or ST),
  DCS, SOS, PM and APC (``ESC P/X/^/_`` ... ST), and the short ``ESC`` forms, in their
  7-bit and 8-bit (C1) spellings;
* every other C0 and C1 control character and DEL, except ``\\n`` and ``\\t``;
* lone surrogates (undecodable bytes kept by ``surrogateescape``) become U+FFFD.

Only what is shown changes: tasks.json, the database and the JSON outputs keep the data
byte for byte (JSON escapes control characters itself).
"""

from __future__ import annotations

import re

# An escape sequence, then any single control character (C0, DEL, C1), in one pass.
# String sequences (OSC, DCS, SOS, PM, APC) run to their terminator (BEL or ST, 7- or
# 8-bit) or, when it is missing, to the end of the line: a terminal would swallow the
# text after them, so it is not shown.
_UNSAFE = re.compile(
    r"""
    (?:\x1b\[|\x9b) [\x30-\x3f]* [\x20-\x2f]* [\x40-\x7e]?          # CSI
  | (?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f])                          # OSC DCS SOS PM APC
        [^\x07\x1b\x9c\n]* (?:\x07|\x1b\\|\x9c)?
  | \x1b [\x20-\x2f]* [\x30-\x7e]?                                    # ESC + intermediates + final
  | [\x00-\x08\x0b-\x1f\x7f-\x9f]                                     # other controls
    """,
    re.VERBOSE,
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_ANY_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def printable(text: str, *, keep_colour: bool = False) -> str:
    """``text`` without escape sequences and control characters (``\\n`` and ``\\t``
    kept), safe to print on a terminal.

    ``keep_colour`` keeps SGR sequences (``ESC [ 1;31 m``: colours and bold, nothing
    else) for a line tmxd coloured itself; the data in it was made printable before it
    was coloured (:func:`tmxd.commands.common.style`).
    """
    if _ANY_UNSAFE.search(text) is None:
        return text  # the common case costs one scan
    if keep_colour:
        cleaned = _UNSAFE.sub(lambda m: m[0] if _COLOUR.fullmatch(m[0]) else "", text)
    else:
        cleaned = _UNSAFE.sub("", text)
    return _SURROGATE.sub("\ufffd", cleaned)
