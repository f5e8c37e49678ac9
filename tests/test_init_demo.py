from __future__ import annotations

from pathlib import Path

from helpers import copy_corpus, init_repo
from tmxd import init_demo, registry


def test_step_writes_files_and_prints_doctor(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "proj")
    copy_corpus("001", root)
    lines: list[str] = []
    results = init_demo.init_and_doctor(root, lines.append)
    text = "\n".join(lines)
    assert "  .mcp.json: would create (+" in text
    assert "  .claude/settings.json: would create (+" in text
    assert "tmxd hooks install: git hooks: 4 installed" in text
    assert "a second run would change 0 file(s)" in text
    assert (root / ".claude" / "commands" / "taskmaster-workflow.md").is_file()
    by_name = {r.name: r.status for r in results}
    assert by_name["project"] == by_name["git hooks"] == by_name[".mcp.json"] == "ok"
    assert by_name["daemon"] == "fail"  # no daemon in this test, and doctor says so
    assert "fix: start it: `tmxd start`" in text
    assert registry.list_projects() == []  # the throwaway project is never registered
