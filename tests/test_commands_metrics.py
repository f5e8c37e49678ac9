from __future__ import annotations

import json
import stat
from datetime import timedelta
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from helpers import run_tmxd
from tmxd import clock
from tmxd.metrics.recorder import Recorder
from tmxd.metrics.schema import schema_version


def test_counts_text_and_json(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    with Recorder.open(db) as rec:
        rec.event(tmp_path, "x", {})
    proc = run_tmxd("metrics", "--db", str(db), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["events"], out["projects"], out["schema"]) == (1, 1, schema_version())
    text = run_tmxd("metrics", "--db", str(db)).stdout
    assert text.startswith(f"database  {db}")
    assert "  events" in text


def test_prometheus_stdout_and_textfile(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    with Recorder.open(db) as rec:
        rec.transition(tmp_path, "1", None, "done", "tmxd")
    target = tmp_path / "collector" / "tmxd.prom"
    target.parent.mkdir()
    proc = run_tmxd("metrics", "--db", str(db), "--prometheus", "--textfile", str(target))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == target.read_text()
    names = {s.name for f in text_string_to_metric_families(proc.stdout) for s in f.samples}
    assert "tmxd_transitions_total" in names
    assert [p.name for p in target.parent.iterdir()] == ["tmxd.prom"]
    # --textfile alone writes quietly (cron would mail anything printed)
    quiet = run_tmxd("metrics", "--db", str(db), "--textfile", str(target))
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    # node_exporter reads it as another user (a report would be 0600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_textfile_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    Recorder.open(db).close()
    target = tmp_path / "colector" / "tmxd.prom"  # a typo
    for extra in ((), ("--prometheus",)):
        proc = run_tmxd("metrics", "--db", str(db), *extra, "--textfile", str(target))
        assert proc.returncode == 2
        assert proc.stdout == ""  # nothing printed, with --prometheus neither
        assert proc.stderr == (
            f"error: {target.parent}: no such folder; create it first "
            f"(mkdir -p {target.parent}) or write tmxd.prom somewhere that exists\n"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.db"]


def test_read_commands_refuse_a_missing_db(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    for argv in (
        ("report", "--db", str(missing)),
        ("metrics", "--db", str(missing)),
        ("metrics", "--db", str(missing), "--prometheus"),
        ("metrics", "prune", "--older-than", "1d", "--db", str(missing)),
    ):
        proc = run_tmxd(*argv)
        assert proc.returncode == 2, argv
        assert proc.stderr.startswith(f"error: {missing}: no such metrics database"), argv
        assert not missing.exists()


def test_prune(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    with Recorder.open(db) as rec:
        rec.event(tmp_path, "old", {}, at=clock.now() - timedelta(days=400))
        rec.event(tmp_path, "new", {})
    dry = run_tmxd("metrics", "prune", "--older-than", "180d", "--dry-run", "--db", str(db))
    assert dry.stdout.strip() == "would delete 1 rows (1 events)"
    proc = run_tmxd("metrics", "prune", "--older-than", "180d", "--db", str(db))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "deleted 1 rows (1 events)"
    with Recorder.open(db) as rec:
        rec.event(tmp_path, "old", {}, at=clock.now() - timedelta(days=400))
    proc = run_tmxd("metrics", "prune", "--older-than", "180d", "--db", str(db), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["total"] == 1 and result["deleted"]["events"] == 1
    bad = run_tmxd("metrics", "prune", "--older-than", "later", "--db", str(db))
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: --older-than 'later'")


def test_prune_of_everything_needs_yes(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    old = clock.now() - timedelta(days=2)
    with Recorder.open(db) as rec:
        for n in range(3):
            rec.event(tmp_path, "e", {"n": n}, at=old)
        rec.transition(tmp_path, "1", None, "pending", "external", at=old - timedelta(hours=1))
        rec.transition(tmp_path, "1", "pending", "done", "external", at=old)
    for span in ("0d", "1d"):
        refused = run_tmxd("metrics", "prune", "--older-than", span, "--db", str(db))
        assert refused.returncode == 2, span
        assert refused.stderr.startswith(
            f"error: --older-than {span} would delete all 4 rows (3 events, 1 transitions); "
            "add --yes"
        )
    with Recorder.open(db) as rec:
        assert rec.row_counts()["events"] == 3
    done = run_tmxd("metrics", "prune", "--older-than", "0d", "--yes", "--db", str(db))
    assert done.stdout.strip() == "deleted 4 rows (3 events, 1 transitions)"
    with Recorder.open(db) as rec:
        # each task's current status stays: the project still has its task
        assert rec.db.execute("SELECT new_status FROM transitions").fetchall() == [("done",)]
