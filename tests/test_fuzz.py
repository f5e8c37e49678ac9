"""A fuzzer over the tasks.json reader and every command that reads tasks.json, the tools
of ``tmxd mcp``, and ``tmxd merge-driver``.

Inputs: arbitrary bytes, arbitrary text, and mutations of the real files of the corpus
(bytes flipped, cut, inserted, repeated; values replaced by other JSON values, NaN and
Infinity among them). Whatever the file holds, each command answers, or exits 2 with
one line; nothing raises; a read command writes nothing. Commands run in this process
(``tmxd.cli.main``), so an example costs milliseconds.

Modest example counts for CI; ``TMXD_FUZZ=long`` runs the ``tmxd-fuzz-long`` profile
(thousands of examples) locally.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers import CORPUS, git, init_repo, scripted_agent
from tmxd.cli import main
from tmxd.commits.hooks import install
from tmxd.errors import InputError
from tmxd.mcp.server import TOOLS as MCP_TOOLS
from tmxd.mcp.tools import call as mcp_call
from tmxd.mcp.workspace import Workspace
from tmxd.taskmaster import cli_json
from tmxd.taskmaster.dependencies import validate_dependencies
from tmxd.taskmaster.document import parse_tasks
from tmxd.taskmaster.ops import next_task
from tmxd.taskmaster.store import TaskStore

_COMMON = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}
settings.register_profile("tmxd-fuzz-ci", max_examples=30, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("tmxd-fuzz-long", max_examples=3000, **_COMMON)  # type: ignore[arg-type]
FUZZ = settings.get_profile(f"tmxd-fuzz-{os.environ.get('TMXD_FUZZ', 'ci')}")
# a long run takes minutes per test: no per-test time limit then
pytestmark = [pytest.mark.timeout(0)] if os.environ.get("TMXD_FUZZ") == "long" else []
READER_FUZZ = settings(FUZZ, max_examples=FUZZ.max_examples * 5)

# Real files small enough that an example stays fast (the big ones add nothing new).
SEEDS = sorted(
    p
    for p in CORPUS.glob("*.json")
    if p.stat().st_size < 40_000 and not p.name.endswith((".state.json", ".config.json"))
) + sorted((CORPUS / "near_miss").glob("*.json"))


def _parses(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8-sig"))
    except ValueError:
        return False
    return True


JSON_SEEDS = [p for p in SEEDS if _parses(p)]

# -- inputs ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and Infinity too: json.dumps writes them, JSON.parse rejects them
    | st.text(max_size=30)
    | st.sampled_from(["done", "pending", "in-progress", "completed", "1", "1.1", "", "."]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def byte_mutation(draw: st.DrawFn) -> bytes:
    """A corpus file with a few bytes flipped, cut, inserted or repeated."""
    data = bytearray(draw(st.sampled_from(SEEDS)).read_bytes())
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "truncate"]))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at : at + draw(st.integers(1, 64))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
        else:
            del data[at:]
    return bytes(data)


def _containers(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        yield path
        for key, child in value.items():
            yield from _containers(child, (*path, key))
    elif isinstance(value, list):
        yield path
        for index, child in enumerate(value):
            yield from _containers(child, (*path, index))


@st.composite
def value_mutation(draw: st.DrawFn) -> bytes:
    """A corpus file with values replaced, removed or retyped: the shapes a buggy writer,
    a merge or a person leaves behind."""
    doc = json.loads(draw(st.sampled_from(JSON_SEEDS)).read_text(encoding="utf-8-sig"))
    places = list(_containers(doc))
    for _ in range(draw(st.integers(1, 5))):
        path = draw(st.sampled_from(places))
        node = doc
        for key in path:
            node = node[key]
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            if draw(st.booleans()):
                node[key] = draw(json_values)
            else:
                del node[key]
        elif isinstance(node, list) and node:
            index = draw(st.integers(0, len(node) - 1))
            if draw(st.booleans()):
                node[index] = draw(json_values)
            else:
                node.insert(index, node[index])  # a duplicate task or subtask
        places = list(_containers(doc))
    return json.dumps(doc, indent=draw(st.sampled_from([None, 2])), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )


files = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(SEEDS).map(Path.read_bytes),
    byte_mutation(),
    value_mutation(),
)


# -- the reader --------------------------------------------------------------------------


@READER_FUZZ
@given(files)
@example(b'{"t": [{"status": []}]}')  # found by the long profile: a status that is a list
def test_the_reader_answers_or_names_the_problem(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tasks.json"
        path.write_bytes(raw)
        try:
            doc = TaskStore(path).read()
        except InputError as exc:
            assert exc.exit_code == 2 and "\n" not in exc.message
            return
    for tag in doc.tag_names():
        views = list(doc.iter_all(tag))
        doc.status_map(tag)
        next_task(doc, tag)
        validate_dependencies(doc, tag)
        validate_dependencies(doc, tag, cli_quirks=True)
        cli_json.list_json(doc, tag, statuses=None, with_subtasks=True, complexity={})
        for view in views[:5]:
            assert doc.find(view.id, tag) is not None
    assert doc.render() == doc.text  # nothing changed, nothing rewritten


# -- every command -----------------------------------------------------------------------


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time."""
    return {
        str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in root.rglob("*")
    }


def _ids(raw: bytes) -> list[str]:
    """Task ids the file may hold (any string-ish id values), for show and set-status."""
    try:
        text = raw.decode("utf-8")
        doc = json.loads(text)
    except ValueError:
        return []
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            value = node.get("id")
            if isinstance(value, int | str) and not isinstance(value, bool):
                found.append(str(value))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(doc)
    return found[:20]


READS = [
    ["list"],
    ["list", "--with-subtasks", "--format", "json"],
    ["list", "all"],
    ["next"],
    ["next", "--format", "json"],
    ["validate-dependencies"],
    ["validate-dependencies", "--like-cli", "--format", "json"],
    ["autopilot", "--dry-run"],
]
EXIT_1_MEANS_AN_ANSWER = {"validate-dependencies", "doctor"}  # problems found / checks failed


def _check(args: list[str], code: int, out: str, err: str) -> None:
    where = f"tmxd {' '.join(args)}"
    assert "Traceback" not in out + err, where
    if code == 2 and err.startswith("Usage: "):  # click's usage error: an empty id
        assert err.count("\nError: ") == 1 and err.endswith("\n"), (where, err)
    elif code == 2:
        assert err.startswith("error: ") and err.count("\n") == 1, (where, err)
    else:
        assert code == 0 or (code == 1 and args[0] in EXIT_1_MEANS_AN_ANSWER), (where, code, err)


@pytest.mark.slow
@FUZZ
@given(
    raw=files,
    picks=st.lists(st.integers(0, 19), min_size=1, max_size=3),
    other_id=st.text(max_size=8),
    status=st.sampled_from(["done", "in-progress", "pending", "review", "completed", "bogus"]),
    with_doctor=st.booleans(),
)
def test_every_command_answers_or_exits_2_and_reads_never_write(
    raw: bytes, picks: list[int], other_id: str, status: str, with_doctor: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        tasks = root / ".taskmaster" / "tasks" / "tasks.json"
        tasks.parent.mkdir(parents=True)
        tasks.write_bytes(raw)
        scripted_agent(root)  # an agent that is there: the dry run plans
        ids = _ids(raw)
        wanted = [ids[i % len(ids)] for i in picks] if ids else []
        wanted.append(other_id)
        reads = [
            *READS,
            ["show", f"--id={','.join(wanted)}"],
            ["show", f"--id={wanted[0]}", "--format", "json"],
        ]
        if with_doctor:
            reads.append(["doctor"])
        before = _tree(root)
        for args in reads:
            code, out, err = _run(*args, "-p", str(root))
            _check(args, code, out, err)
            assert _tree(root) == before, f"tmxd {' '.join(args)} wrote in the project"
        for args in (
            ["set-status", f"--id={wanted[0]}", f"--status={status}"],
            ["update-subtask", f"--id={wanted[-1]}", "--prompt=fuzzed note"],
            ["approve", "--", wanted[0]],  # a task in review goes on
            ["reject", "--", wanted[-1]],
        ):
            text_before = tasks.read_bytes()
            code, out, err = _run(*args, "-p", str(root))
            _check(args, code, out, err)
            if code != 0:
                assert tasks.read_bytes() == text_before, "a refused write changed the file"
            else:  # what tmxd wrote, it can read again
                parse_tasks(tasks.read_text(encoding="utf-8"), tasks)
            assert [p.name for p in tasks.parent.iterdir()] == ["tasks.json"]  # no temp, lock
        shutil.rmtree(root / ".taskmaster")


ARGUMENTS = {"id": None, "status": None, "prompt": "fuzzed note"}  # None: drawn per example


@pytest.mark.slow
@FUZZ
@given(
    raw=files,
    pick=st.integers(0, 19),
    status=st.sampled_from(["done", "in-progress", "pending", "review", "completed", "bogus"]),
)
@example(  # found by the long profile: get_tasks counted a status that is a list
    raw=b'{"tasks": [{"id": 1, "title": "a", "status": [], "dependencies": [], '
    b'"subtasks": [{"id": 1, "status": {}}]}]}',
    pick=0,
    status="done",
)
def test_every_mcp_tool_answers_and_reads_never_write(raw: bytes, pick: int, status: str) -> None:
    """`tmxd mcp`'s tools (called as the server calls them) over the same files: an answer
    or an error for the model, never an exception; a read tool writes nothing."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        tasks = root / ".taskmaster" / "tasks" / "tasks.json"
        tasks.parent.mkdir(parents=True)
        tasks.write_bytes(raw)
        ids = _ids(raw) or ["1"]
        drawn = {"id": ids[pick % len(ids)], "status": status}
        ws = Workspace(default_root=root)
        for tool in sorted(MCP_TOOLS, key=lambda t: t.read_only, reverse=True):  # reads first
            args = {name: ARGUMENTS[name] or drawn[name] for name in tool.required}
            before, text_before = _tree(root), tasks.read_bytes()
            outcome = mcp_call(ws, tool, args)
            assert "Traceback" not in outcome.text, (tool.name, outcome.text)
            if outcome.is_error:
                assert outcome.text.startswith("Error: "), (tool.name, outcome.text)
            if tool.read_only:
                assert _tree(root) == before, f"{tool.name} wrote in the project"
            elif outcome.is_error:
                assert tasks.read_bytes() == text_before, f"a refused {tool.name} changed the file"
            else:  # what tmxd wrote, it can read again
                parse_tasks(tasks.read_text(encoding="utf-8"), tasks)
            assert [p.name for p in tasks.parent.iterdir()] == ["tasks.json"]  # no temp, lock


@FUZZ
@given(
    base=st.one_of(st.sampled_from(JSON_SEEDS).map(Path.read_bytes), files),
    ours=files,
    theirs=st.one_of(value_mutation(), files),
)
@example(  # found by the long profile: theirs' task renumbered, with a null subtask
    base=b"",
    ours=b'{"master": {"tasks": [{"id": 1, "title": "a", "dependencies": [], "subtasks": []}]}}',
    theirs=b'{"master": {"tasks": [{"id": 1, "title": "b", "dependencies": [], '
    b'"subtasks": [null]}]}}',
)
def test_the_merge_driver_merges_or_exits_1_with_ours_kept(
    base: bytes, ours: bytes, theirs: bytes
) -> None:
    """``tmxd merge-driver %O %A %B %P`` as git runs it, whatever the three sides hold:
    exit 0 with a file that parses, or exit 1 with lines of its own on stderr and %A
    either untouched (a side it cannot merge) or holding ours for each listed conflict."""
    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        sides = {"base": base, "ours": ours, "theirs": theirs}
        for name, data in sides.items():
            Path(name).write_bytes(data)
        code, out, err = _run("merge-driver", "base", "ours", "theirs", "tasks.json")
        assert "Traceback" not in out + err and out == ""
        assert code in (0, 1), (code, err)
        assert all(line.startswith("tmxd merge-driver: ") for line in err.splitlines()), err
        merged = Path("ours").read_bytes()
        if code == 1 and " conflict(s) in " not in err:
            assert merged == ours, "a side it could not merge changed %A"
        elif merged != ours:  # what it wrote, Task Master can read
            parse_tasks(merged.decode("utf-8"), Path("ours"))


def test_the_seeds_are_there() -> None:
    assert len(SEEDS) > 20, f"corpus files missing in {CORPUS}"


def test_sync_answers_or_exits_2_whatever_tasks_json_holds(tmp_path: Path) -> None:
    """``tmxd sync`` with a commit waiting in the spool, over the same inputs."""
    root = tmp_path / "p"
    init_repo(root)
    tasks = root / ".taskmaster" / "tasks" / "tasks.json"
    tasks.parent.mkdir(parents=True)
    install(root)
    (root / "f.txt").write_text("x")
    git(root, "add", "f.txt")
    git(root, "commit", "-q", "-m", "Change\n\nTask: 1.1\nCloses-Task: 2")
    spool = root / ".git" / "tmxd"
    waiting = {p.name: p.read_bytes() for p in spool.iterdir() if p.is_file()}

    @FUZZ
    @given(raw=files)
    def sync_over(raw: bytes) -> None:
        shutil.rmtree(spool)
        spool.mkdir()
        for name, data in waiting.items():  # the same commit, never processed
            (spool / name).write_bytes(data)
        tasks.write_bytes(raw)
        code, out, err = _run("sync", "--no-metrics", "-p", str(root))
        _check(["sync"], code, out, err)
        if code != 0:
            assert tasks.read_bytes() == raw, "a refused sync changed tasks.json"
        assert [p.name for p in tasks.parent.iterdir()] == ["tasks.json"]

    sync_over()
