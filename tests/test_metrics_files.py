from __future__ import annotations

from pathlib import Path

import pytest

from tmxd.errors import TmxdError
from tmxd.metrics.files import write_report


def test_write_atomic_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "r.md"
    write_report(target, "one")
    write_report(target, "two ✓")
    assert target.read_text(encoding="utf-8") == "two ✓"
    assert [p.name for p in target.parent.iterdir()] == ["r.md"]  # no temp file left


def test_write_atomic_error_names_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TmxdError, match="cannot write"):
        write_report(blocker / "r.md", "text")
    assert blocker.read_text() == "x"
