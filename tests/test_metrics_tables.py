from __future__ import annotations

from metrics_fixture import PLUS2
from tmxd.metrics.tables import duration, local_time, sparkline


def test_duration_forms() -> None:
    assert duration(None) == "–"
    assert duration(0) == "0s"
    assert duration(45) == "45s"
    assert duration(125) == "2m 5s"
    assert duration(3600 * 3 + 60 * 20) == "3h 20m"
    assert duration(86400 * 2 + 3600 * 4) == "2d 4h"
    assert duration(86400) == "1d"


def test_duration_under_a_second_keeps_a_decimal() -> None:
    # a total of 0.66 s beside an average of 0.1 s: both sub-second, both with a decimal
    assert duration(0.66) == "0.7s"
    assert duration(0.1) == "0.1s"
    assert duration(0.01) == "<0.1s"
    assert duration(0.99) == "1.0s"
    assert duration(1.4) == "1s"  # from a second on, whole seconds as before


def test_local_time_and_sparkline() -> None:
    assert local_time("2026-11-13T23:30:00.000Z", PLUS2) == "2026-11-14 01:30"
    assert sparkline([0, 1, 2, 4]) == "▁▂▄█"
    assert sparkline([0, 0]) == "▁▁"
