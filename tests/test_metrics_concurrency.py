"""A writer process records while two `tmxd report` processes read: nobody sees a lock error."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from helpers import subprocess_env, tmxd_argv, wait_until
from tmxd.metrics.schema import schema_version

WRITER = r"""
import sys
from pathlib import Path
from tmxd.metrics.recorder import Recorder
db, project, stop, ready = (Path(a) for a in sys.argv[1:5])
project.mkdir(exist_ok=True)
n = 0
with Recorder.open(db) as rec:
    while not stop.exists():
        rec.transition(project, str(n % 50), "pending", "in-progress", "tmxd")
        ex = rec.execution_started(project, str(n % 50), 1, "simple", "script")
        rec.execution_finished(ex, success=n % 3 != 0, exit_code=0, tool_calls=2, turns=1,
                               input_tokens=10, output_tokens=5, cost_usd=0.001,
                               peak_rss_bytes=None, error=None)
        n += 1
        if n == 20:
            ready.touch()
print(n)
"""


def test_reports_read_while_a_writer_writes(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    stop, ready = tmp_path / "stop", tmp_path / "ready"
    env = subprocess_env()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(tmp_path / "proj"), str(stop), str(ready)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(ready.exists, timeout=120, what="the writer's first rows")
        for _round in range(3):
            readers = [
                subprocess.Popen(
                    tmxd_argv("report", "--db", str(db), "--format", "json"),
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(2)
            ]
            for reader in readers:
                out, err = reader.communicate(timeout=120)
                assert reader.returncode == 0, err
                assert "locked" not in err
                assert json.loads(out)["summary"]["total_tasks"] >= 20
    finally:
        stop.touch()
        out, err = writer.communicate(timeout=120)
    assert writer.returncode == 0, err
    assert "locked" not in err
    assert int(out) >= 20


FRESH = r"""
import sys
from pathlib import Path
from tmxd.metrics.recorder import Recorder
with Recorder.open(Path(sys.argv[1])) as rec:
    for i in range(30):
        rec.event(Path(sys.argv[2]), "burst", {"i": i})
"""


def test_writers_racing_on_a_fresh_database(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FRESH, str(db), str(tmp_path)],
            env=subprocess_env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 120
        applied = conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0]
        assert applied == schema_version()
        assert conn.execute("SELECT count(*) FROM projects").fetchone()[0] == 1
    finally:
        conn.close()
