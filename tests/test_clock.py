from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from tmxd.clock import iso_ms, now


def test_iso_ms_is_utc_with_milliseconds() -> None:
    moment = datetime(2026, 1, 2, 5, 4, 3, 987654, tzinfo=timezone(timedelta(hours=2)))
    assert iso_ms(moment) == "2026-01-02T03:04:03.987Z"


def test_now_is_aware_utc() -> None:
    assert now().tzinfo is UTC
