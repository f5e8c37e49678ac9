from __future__ import annotations

from pathlib import Path

from tmxd.fsutil import fsync_dir


def test_fsync_dir_on_a_real_folder_keeps_its_entries(tmp_path: Path) -> None:
    (tmp_path / "a.tmp").write_text("x")
    (tmp_path / "a.tmp").rename(tmp_path / "a")
    fsync_dir(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["a"]


def test_fsync_dir_ignores_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "gone"
    fsync_dir(missing)
    assert not missing.exists()
