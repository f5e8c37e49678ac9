from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from helpers import run_tmxd
from tmxd import clock
from tmxd.metrics.prometheus import parse_samples
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
    proc = run_tmxd("metrics", "--db", str(db), "--prometheus", "--textfile", str(target))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == target.read_text()
    names = {n for n, _l, _v in parse_samples(proc.stdout)}
    assert "tmxd_transitions_total" in names
    assert [p.name for p in target.parent.iterdir()] == ["tmxd.prom"]


def test_prune(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    with Recorder.open(db) as rec:
        rec.event(tmp_path, "old", {}, at=clock.now() - timedelta(days=400))
        rec.event(tmp_path, "new", {})
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
