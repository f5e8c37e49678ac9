"""The package's shape: arrows point down only, no import cycles, one owner per side effect.

Every ``import`` counts, at module level or inside a function, and so do imports made
for type checking only: each is an arrow a reader has to follow.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "daemon" / "tmxd"

# Top to bottom. A module may import from its own folder and from the layers below; the
# single-file modules of a layer (the entry point, the leaf helpers) also from their layer.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"cli", "__main__", "commands"}),
    frozenset({"setup", "demo", "mcp"}),
    frozenset({"daemon"}),
    frozenset({"autopilot"}),
    frozenset({"history", "commits"}),
    frozenset({"metrics"}),
    frozenset({"taskmaster"}),
    frozenset({"__init__", "errors", "clock", "paths", "config", "fsutil", "git", "proc"}),
)

# Who may do what: (what, where it is allowed).
OWNERS: tuple[tuple[str, frozenset[str]], ...] = (
    ("import fcntl", frozenset({"fsutil"})),
    ("os.fsync", frozenset({"fsutil"})),
    ("tempfile.mkstemp", frozenset({"fsutil"})),
    ("import watchdog", frozenset({"daemon/watch"})),
    ("import apscheduler", frozenset({"daemon/schedule"})),
    ("import sqlite_utils", frozenset({"metrics/schema", "metrics/recorder"})),
    # a stand-in agent is its own program (python -m tmxd.autopilot.scripted)
    ("subprocess.run", frozenset({"git", "proc", "autopilot/scripted"})),
    ("subprocess.Popen", frozenset({"git", "proc", "autopilot/scripted"})),
    ("/proc/", frozenset({"proc"})),
)


def modules() -> dict[str, Path]:
    """``"daemon/engine"`` → its file (``"taskmaster"`` for a package's ``__init__``)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("").as_posix()
        found[rel.removesuffix("/__init__") if rel != "__init__" else rel] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The tmxd modules ``name`` imports (``from tmxd.x import y`` counts ``x/y`` when it is a
    module, else ``x``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for target in targets:
            if target == "tmxd" or not target.startswith("tmxd."):
                continue
            rel = target.removeprefix("tmxd.").replace(".", "/")
            if rel in known:
                out.add(rel)
    # ``from tmxd.x import y`` where y is a module already names x/y; drop the package then
    return {m for m in out if not any(o.startswith(m + "/") for o in out)} - {name}


def layer(module: str) -> int:
    top = module.split("/")[0]
    return next(n for n, names in enumerate(LAYERS) if top in names)


def test_every_module_has_a_layer() -> None:
    for module in modules():
        layer(module)  # raises StopIteration for a folder or module LAYERS does not know


def test_arrows_point_down_only() -> None:
    known = modules()
    wrong = []
    for name, path in known.items():
        for target in imported(name, path, known):
            same_folder = name.split("/")[0] == target.split("/")[0]
            single_file = "/" not in name
            if same_folder or layer(target) > layer(name):
                continue
            if not (single_file and layer(target) == layer(name)):
                wrong.append(f"{name} -> {target}")
    assert wrong == []


def test_no_import_cycles() -> None:
    known = modules()
    graph = {name: imported(name, path, known) for name, path in known.items()}
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            pytest.fail("import cycle: " + " -> ".join([*trail[trail.index(name) :], name]))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])


@pytest.mark.parametrize(("what", "owners"), OWNERS, ids=[what for what, _ in OWNERS])
def test_each_side_effect_has_one_owner(what: str, owners: frozenset[str]) -> None:
    users = {
        name
        for name, path in modules().items()
        if what in path.read_text(encoding="utf-8") and name not in owners
    }
    assert users == set()


def test_the_daemons_engine_is_the_daemons_alone() -> None:
    """The autopilot and the commands use history, never the daemon's engine."""
    known = modules()
    users = {
        name
        for name, path in known.items()
        if "daemon/engine" in imported(name, path, known) and not name.startswith("daemon/")
    }
    assert users == set()
