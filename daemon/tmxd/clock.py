"""The clock: the one place tmxd reads the time, so tests can hold it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def monotonic() -> float:
    return time.monotonic()


def iso_ms(moment: datetime) -> str:
    """``2026-11-26T12:00:00.123Z``: Task Master's timestamp form (UTC, ms, ``Z``)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
