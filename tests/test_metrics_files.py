from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tmxd.errors import EXIT_USAGE, InputError, TmxdError
from tmxd.metrics.files import check_folder, write_report


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_atomic_creates_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "r.md"
    target.parent.mkdir()
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


def test_a_missing_folder_is_an_input_error_and_nothing_is_created(tmp_path: Path) -> None:
    target = tmp_path / "typo" / "deeper" / "r.html"
    for attempt in (lambda: write_report(target, "text"), lambda: check_folder(target)):
        with pytest.raises(InputError) as caught:
            attempt()
        assert caught.value.exit_code == EXIT_USAGE
        message = caught.value.message
        assert message.startswith(f"{target.parent}: no such folder; create it first (mkdir -p ")
        assert "\n" not in message
    assert list(tmp_path.iterdir()) == []  # no folder grown from a typo
    check_folder(tmp_path / "r.html")  # positive control: an existing folder passes


def test_make_folders_creates_each_missing_folder_private(tmp_path: Path, umask_022: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    target = shared / "reports" / "proj-1234" / "tmxd-2026-11-30.md"
    write_report(target, "daily", make_folders=True)
    assert target.read_text() == "daily" and mode(target) == 0o600
    assert mode(shared / "reports") == 0o700  # not the umask's 0755, parents included
    assert mode(shared / "reports" / "proj-1234") == 0o700
    assert mode(shared) == 0o755  # a folder that existed keeps its mode
    write_report(target, "again", make_folders=True)  # the folders exist now: fine
    assert target.read_text() == "again"


def test_shared_files_are_readable_by_others(tmp_path: Path, umask_022: None) -> None:
    write_report(tmp_path / "tmxd.prom", "x 1\n", shared=True)
    write_report(tmp_path / "r.md", "text")
    assert mode(tmp_path / "tmxd.prom") == 0o644
    assert mode(tmp_path / "r.md") == 0o600
