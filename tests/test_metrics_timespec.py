from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tmxd.errors import InputError
from tmxd.metrics.timespec import check_window, parse_span, parse_when, parse_window

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PLUS2 = timezone(timedelta(hours=2))


def test_spans() -> None:
    assert parse_span("180d") == timedelta(days=180)
    assert parse_span("12h") == timedelta(hours=12)
    assert parse_span("90m") == timedelta(minutes=90)
    assert parse_span("2w") == timedelta(weeks=2)
    assert parse_span("1.5d") == timedelta(hours=36)
    with pytest.raises(InputError, match="--older-than 'soon'"):
        parse_span("soon")


def test_when_relative_date_and_time() -> None:
    assert parse_when("7d", now=NOW) == NOW - timedelta(days=7)
    # A date is local midnight; --until takes the end of that day.
    assert parse_when("2026-11-01", now=NOW, tz=PLUS2) == datetime(2026, 10, 31, 22, tzinfo=UTC)
    assert parse_when("2026-11-01", now=NOW, tz=PLUS2, end=True) == datetime(
        2026, 11, 1, 22, tzinfo=UTC
    )
    assert parse_when("2026-11-01T09:30Z", now=NOW) == datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    assert parse_when("2026-11-01T09:30", now=NOW, tz=PLUS2) == datetime(
        2026, 11, 1, 7, 30, tzinfo=UTC
    )
    with pytest.raises(InputError, match="--until 'later'"):
        parse_when("later", now=NOW, option="--until")


def test_check_window_refuses_a_window_that_does_not_end_after_it_starts() -> None:
    week_ago = NOW - timedelta(days=7)
    check_window(week_ago, None, now=NOW)  # positive controls: ends now, or later
    check_window(week_ago, week_ago + timedelta(seconds=1), now=NOW)
    check_window(None, week_ago, now=NOW)  # from the first record
    check_window(None, None, now=NOW)
    until = parse_when("2026-11-01", now=NOW, end=True)
    with pytest.raises(InputError) as caught:
        check_window(week_ago, until, now=NOW, since_text="7d", until_text="2026-11-01")
    assert caught.value.exit_code == 2
    assert caught.value.message.startswith("--since 7d (")
    assert ") is after --until 2026-11-01 (" in caught.value.message
    assert caught.value.message.endswith("; give a --since before --until")
    with pytest.raises(InputError, match="is the same moment as --until x"):
        check_window(week_ago, week_ago, now=NOW, since_text="y", until_text="x")
    with pytest.raises(InputError, match=r"is after now \(.*, the default --until\)"):
        check_window(NOW + timedelta(days=1), None, now=NOW, since_text="2099-01-01")


def test_parse_window_parses_both_ends_and_refuses_them_inverted() -> None:
    assert parse_window(None, None, now=NOW) == (None, None)
    assert parse_window("7d", "2026-11-25T00:00Z", now=NOW) == (
        NOW - timedelta(days=7),
        datetime(2026, 11, 25, tzinfo=UTC),
    )
    with pytest.raises(InputError, match=r"^since 1d \(.*\) is after until 7d .*before until$"):
        parse_window("1d", "7d", now=NOW, names=("since", "until"))
    with pytest.raises(InputError, match=r"^--until 'soon': expected a span"):
        parse_window("7d", "soon", now=NOW)
