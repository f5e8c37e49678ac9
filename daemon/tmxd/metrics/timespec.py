"""Parsing ``--since``/``--until``/``--older-than`` values: ``7d``, ``12h``, ``2026-11-01``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from tmxd.errors import InputError

_UNITS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|min|m|h|d|w)\s*$")


def parse_span(text: str, option: str = "--older-than") -> timedelta:
    """``90m``, ``12h``, ``7d``, ``2w`` → a timedelta (``m`` means minutes)."""
    match = _SPAN.match(text)
    if not match:
        raise InputError(
            f"{option} {text!r}: expected an amount and a unit, like 30m, 12h, 7d or 2w"
        )
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_when(
    text: str,
    *,
    now: datetime,
    tz: tzinfo | None = None,
    option: str = "--since",
    end: bool = False,
) -> datetime:
    """A point in time: a span back from ``now`` (``7d``), a date or an ISO time.

    A date means local midnight at its start (with ``end=True``, at its end,
    so ``--until 2026-11-07`` includes that day); naive times are local.
    """
    if _SPAN.match(text):
        return now - parse_span(text, option)
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        day = None
    if day is not None:
        if end:
            day += timedelta(days=1)
        midnight = datetime.combine(day, time())
        return _localize(midnight, tz)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{option} {text!r}: expected a span like 7d or 12h, a date like 2026-11-01 "
            "or a time like 2026-11-01T09:00"
        ) from None
    return moment.astimezone(UTC) if moment.tzinfo else _localize(moment, tz)


def _localize(naive: datetime, tz: tzinfo | None) -> datetime:
    local = naive.replace(tzinfo=tz) if tz is not None else naive.astimezone()
    return local.astimezone(UTC)


def parse_window(
    since: str | None,
    until: str | None,
    *,
    now: datetime,
    names: tuple[str, str] = ("--since", "--until"),
) -> tuple[datetime | None, datetime | None]:
    """The window ``since`` .. ``until`` as given (either may be absent), parsed by
    :func:`parse_when` and refused by :func:`check_window` when it does not end after it
    starts. ``names``: what the caller calls the two (options, a tool's arguments)."""
    start = parse_when(since, now=now, option=names[0]) if since else None
    end = parse_when(until, now=now, option=names[1], end=True) if until else None
    check_window(start, end, now=now, since_text=since or "", until_text=until or "", names=names)
    return start, end


def check_window(
    since: datetime | None,
    until: datetime | None,
    *,
    now: datetime,
    since_text: str = "",
    until_text: str = "",
    names: tuple[str, str] = ("--since", "--until"),
) -> None:
    """Refuse a window that does not end after it starts (``until=None`` ends ``now``): an
    :class:`InputError` naming both ends as given and as local times. ``names``: what the
    caller calls them (the command's options, the MCP tool's arguments)."""
    end = until if until is not None else now
    if since is None or since < end:
        return
    first, last = names
    relation = "is after" if since > end else "is the same moment as"
    ends = (
        f"{last} {until_text} ({_shown(end)})"
        if until is not None
        else f"now ({_shown(end)}, the default {last})"
    )
    raise InputError(
        f"{first} {since_text} ({_shown(since)}) {relation} {ends}; give a {first} before {last}"
    )


def _shown(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")
