from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tmxd.metrics.jobs import (
    DAILY_REPORT,
    RETENTION,
    daily_report_due,
    daily_report_job,
    daily_report_path,
    retention_job,
)
from tmxd.metrics.recorder import Recorder

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("umask_022")


@pytest.fixture()
def rec(tmp_path: Path) -> Iterator[Recorder]:
    with Recorder.open(tmp_path / "m.db") as recorder:
        yield recorder


def test_daily_report_writes_markdown_and_records_the_run(
    rec: Recorder, tmp_path: Path, hermetic_env: Path
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    rec.transition(project, "1", "pending", "done", "tmxd", at=NOW - timedelta(hours=2), title="A")
    rec.transition(project, "2", "pending", "done", "tmxd", at=NOW - timedelta(days=3))
    assert daily_report_due(project, rec, NOW)
    path = daily_report_job(project, rec, now=NOW)
    assert path == daily_report_path(project, NOW)
    # outside the repository: the state dir, one folder per project
    assert path is not None and path.parent.parent == hermetic_env / "state" / "reports"
    assert path.parent.name.startswith("proj-")
    # folders tmxd creates are private, whatever the umask
    for folder in (path.parent, path.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert not (project / ".taskmaster").exists()
    assert path.name == f"tmxd-{NOW.astimezone().date().isoformat()}.md"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# tmxd report: ")
    assert "| 1 | A |" in text  # done in the last day
    assert re.search(r"\| tasks done \| 1 \|", text)  # task 2 was done three days ago
    assert rec.last_job_run(DAILY_REPORT, project=project) is not None
    assert not daily_report_due(project, rec, datetime.now(UTC))


def test_daily_report_honours_config(rec: Recorder, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / ".taskmaster").mkdir(parents=True)
    cfg = project / ".taskmaster" / "tmxd.toml"
    cfg.write_text('[report]\ndir = "out/daily"\n')
    rec.event(tmp_path, "elsewhere", {})  # another project has records; this one none
    path = daily_report_job(project, rec, now=NOW)
    assert path is not None and path.parent == project / "out" / "daily"
    assert stat.S_IMODE((project / "out").stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "nothing recorded for project proj yet" in path.read_text()
    cfg.write_text("[metrics]\ndaily_report = false\n")
    assert daily_report_job(project, rec, now=NOW) is None
    assert not daily_report_due(project, rec, NOW)


def test_failed_daily_report_is_recorded(rec: Recorder, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    (project / ".taskmaster").mkdir(parents=True)
    (project / ".taskmaster" / "tmxd.toml").write_text('[report]\ndir = "reports"\n')
    (project / "reports").write_text("a file where the folder should be")
    with pytest.raises(Exception, match="cannot write"):
        daily_report_job(project, rec, now=NOW)
    assert rec.last_job_run(DAILY_REPORT, project=project) is None
    row = rec.db.execute("SELECT ok, detail FROM job_runs").fetchone()
    assert row[0] == 0 and "cannot write" in row[1]


def test_retention_job(rec: Recorder, tmp_path: Path) -> None:
    rec.event(tmp_path, "old", {}, at=NOW - timedelta(days=200))
    rec.event(tmp_path, "new", {}, at=NOW - timedelta(days=2))
    assert retention_job(rec, 0, now=NOW) == {}
    deleted = retention_job(rec, 180, now=NOW)
    assert deleted["events"] == 1
    assert [r[0] for r in rec.db.execute("SELECT kind FROM events")] == ["new"]
    assert rec.last_job_run(RETENTION) is not None


def test_jobs_can_leave_recording_to_the_scheduler(rec: Recorder, tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    assert daily_report_job(project, rec, now=NOW, record=False) is not None
    retention_job(rec, 30, now=NOW, record=False)
    assert rec.db.execute("SELECT count(*) FROM job_runs").fetchone()[0] == 0
