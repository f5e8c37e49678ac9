"""A scripted stand-in agent, for ``tmxd demo`` and the test-suite (no model, no network).

Run as ``python -m tmxd.autopilot.scripted TASK_ID PROMPT_FILE``; it behaves as the
plan file named by ``TMXD_SCRIPTED_PLAN`` says for that task (else the ``default``
entry), and speaks Claude Code's ``stream-json`` on stdout::

    {"default": {"action": "edit"},
     "tasks": {"3": {"action": "edit", "fail_times": 2},
               "4": {"action": "hang"}}}

Actions: ``edit`` writes ``file`` (default ``task-<id>.txt``) in the working directory
with ``content`` (with ``permission_denials``, a list as Claude Code reports it, it
writes nothing and reports those refusals); ``fail`` exits 1 with an error result;
``is_error`` exits 0 but reports ``is_error``; ``malformed`` prints broken JSON and
no result; ``noop`` reports success and changes nothing; ``hang`` starts a child and
sleeps forever (both write their pids to ``TMXD_SCRIPTED_STATE``).
``fail_times: N`` fails the first N runs of that task, then does the action.
``cost`` sets ``total_cost_usd``. Runs are counted in ``TMXD_SCRIPTED_STATE``.

What agents told to follow Task Master's workflow do, which tmxd must not trust:
``set_status: S`` rewrites ``.taskmaster/tasks/tasks.json`` in the working directory
to give its own task status S (as an agent editing the file would); ``commit: true``
commits the file it wrote (``git add`` + ``git commit``) with ``trailer`` (e.g.
``Closes-Task: 3``) in the message. Both happen before the result is reported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _result(
    session: str,
    *,
    is_error: bool,
    text: str,
    cost: float,
    turns: int,
    denials: list[Any] | None = None,
) -> None:
    _emit(
        {
            "type": "result",
            "subtype": "success",
            "is_error": is_error,
            "num_turns": turns,
            "result": text,
            "session_id": session,
            "total_cost_usd": cost,
            "usage": {"input_tokens": 1000, "output_tokens": 50},
            "permission_denials": denials or [],
        }
    )


def _count_run(state: Path | None, task_id: str) -> int:
    """How many runs of this task came before this one (and count this one)."""
    if state is None:
        return 0
    state.mkdir(parents=True, exist_ok=True)
    counter = state / f"runs-{task_id}"
    previous = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(previous + 1))
    with (state / "log").open("a", encoding="utf-8") as fh:
        fh.write(f"{task_id} {os.getcwd()}\n")
    return previous


def _commit(name: str, task_id: str, trailer: str) -> None:
    message = [f"agent work for {task_id}"] + ([trailer] if trailer else [])
    subprocess.run(["git", "add", "--", name], check=True)
    args = [a for m in message for a in ("-m", m)]
    subprocess.run(["git", "commit", "-q", *args], check=True)


def _set_own_status(task_id: str, status: str) -> None:
    """Edit tasks.json as a file, the way an agent's Edit tool would."""
    path = Path(".taskmaster") / "tasks" / "tasks.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    top, _, sub = task_id.partition(".")
    for tag in data.values():
        for task in tag.get("tasks", []) if isinstance(tag, dict) else []:
            if str(task.get("id")) != top:
                continue
            target = task
            if sub:
                target = next(s for s in task.get("subtasks", []) if str(s.get("id")) == sub)
            target["status"] = status
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")


def main(argv: list[str]) -> int:
    if len(argv) < 1:
        print("usage: python -m tmxd.autopilot.scripted TASK_ID [PROMPT_FILE]", file=sys.stderr)
        return 2
    task_id = argv[0]
    plan_path = os.environ.get("TMXD_SCRIPTED_PLAN")
    plan: dict[str, Any] = {}
    if plan_path:
        plan = json.loads(Path(plan_path).read_text(encoding="utf-8"))
    tasks = plan.get("tasks", {})
    spec: dict[str, Any] = {**plan.get("default", {"action": "edit"}), **tasks.get(task_id, {})}
    state_env = os.environ.get("TMXD_SCRIPTED_STATE")
    state = Path(state_env) if state_env else None
    previous_runs = _count_run(state, task_id)
    session = str(uuid.uuid4())
    cost = float(spec.get("cost", 0.01))
    _emit({"type": "system", "subtype": "init", "session_id": session, "cwd": os.getcwd()})
    action = spec.get("action", "edit")
    if previous_runs < int(spec.get("fail_times", 0)):
        action = "fail"
    if action == "edit":
        name = spec.get("file", f"task-{task_id}.txt")
        content = spec.get("content", f"work for task {task_id}\n")
        _emit(
            {
                "type": "assistant",
                "message": {
                    "id": "msg_1",
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "toolu_1",
                            "name": "Write",
                            "input": {"file_path": name, "content": content},
                        },
                    ],
                },
            }
        )
        denials = spec.get("permission_denials") or []
        if not denials:  # a refused Write writes nothing, as Claude Code's does
            Path(name).parent.mkdir(parents=True, exist_ok=True)
            Path(name).write_text(content, encoding="utf-8")
        _emit(
            {
                "type": "user",
                "message": {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}],
                },
            }
        )
        if spec.get("commit") and not denials:
            _commit(name, task_id, str(spec.get("trailer", "")))
        if spec.get("set_status"):
            _set_own_status(task_id, str(spec["set_status"]))
        delay = float(spec.get("sleep", 0))
        if delay:
            time.sleep(delay)
        _result(
            session,
            is_error=False,
            text=f"Implemented task {task_id}.",
            cost=cost,
            turns=2,
            denials=denials,
        )
        return 0
    if action == "noop":  # claims success, changes no file (``set_status`` still applies)
        if spec.get("set_status"):
            _set_own_status(task_id, str(spec["set_status"]))
        _result(session, is_error=False, text=f"Task {task_id} is done.", cost=cost, turns=1)
        return 0
    if action == "fail":
        print(f"scripted failure for task {task_id}", file=sys.stderr)
        _result(session, is_error=True, text="API Error: scripted failure", cost=cost, turns=1)
        return 1
    if action == "is_error":
        _result(session, is_error=True, text="Not logged in · Please run /login", cost=0, turns=1)
        return 0
    if action == "malformed":
        sys.stdout.write('{"type": "assistant", "message": {"content": [\n')
        sys.stdout.write("this is not json\n")
        sys.stdout.flush()
        return 0
    if action == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        if state is not None:
            (state / f"hang-{task_id}.pids").write_text(f"{os.getpid()} {child.pid}\n")
        _emit(
            {
                "type": "assistant",
                "message": {"id": "msg_1", "content": [{"type": "text", "text": "thinking..."}]},
            }
        )
        time.sleep(3600)
        return 0
    print(f"unknown action {action!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
