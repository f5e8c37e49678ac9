"""scripts/bench_merge.py runs end to end and reports its timings (timing is not asserted)."""

from __future__ import annotations

import difflib
import json
from types import ModuleType

import pytest

from helpers import CORPUS, load_script


def _bench() -> ModuleType:
    return load_script("bench_merge")


def test_edits_change_the_file_where_they_say() -> None:
    base = (CORPUS / "021.json").read_text(encoding="utf-8")
    ours, theirs = _bench().edited(base, 20, 1), _bench().edited(base, 20, 2)
    assert json.loads(ours) != json.loads(base) != json.loads(theirs) != json.loads(ours)
    # Written as tmxd writes: the changed values spliced in, every other line kept.
    same = difflib.SequenceMatcher(None, base.splitlines(), ours.splitlines(), autojunk=False)
    assert same.ratio() > 0.9


def test_bench_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    assert _bench().main(["--runs", "1", "--edits", "10", "--file", "021"]) == 0
    out = capsys.readouterr().out
    assert "021.json" in out and "10 edits per side, 1 runs each" in out
    for label in ("python -c pass", "git merge-file", "tmxd merge-driver"):
        assert f"  {label}" in out
    assert "ratio merge-driver / git merge-file" in out
    assert "driver exit 0" in out or "driver exit 1" in out
    assert "in process: parse 3 sides" in out
