from __future__ import annotations

from pathlib import Path

import pytest

from tmxd.errors import InputError
from tmxd.metrics.settings import METRICS, MetricsConfig


def test_defaults_and_overrides(tmp_path: Path) -> None:
    assert METRICS.load(tmp_path) == MetricsConfig()
    assert MetricsConfig().retention_days == 180
    (tmp_path / ".taskmaster").mkdir()
    (tmp_path / ".taskmaster" / "tmxd.toml").write_text("[metrics]\nstale_hours = 8\n")
    assert METRICS.load(tmp_path).stale_hours == 8


def test_bad_value_names_the_key(tmp_path: Path) -> None:
    (tmp_path / ".taskmaster").mkdir()
    (tmp_path / ".taskmaster" / "tmxd.toml").write_text('[metrics]\nretention_days = "x"\n')
    with pytest.raises(InputError, match=r"metrics\.retention_days"):
        METRICS.load(tmp_path)
