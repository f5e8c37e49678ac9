"""A loopback stand-in for the Anthropic Messages API, for driving the real ``claude`` CLI.

The stub plays the model. The first request of a conversation is answered with
``tool_use`` blocks, and any request whose messages already carry a ``tool_result``
is answered with a final text block and ``end_turn``. Which tool calls:

- ``Script.tool_uses`` when given: those canned blocks;
- else, in ``mode = "follow"``, a ``Write`` for the first sentence of the prompt of the
  form ``Create the file `NAME` containing `TEXT`.`` (a task's own details come before
  its dependencies' notes in tmxd's prompt), written into the working directory
  Claude Code names in its system prompt ("Primary working directory: …"), so a
  task's prompt says what a good model would write, and where;
- ``mode = "deny"``: the same files, but under that directory's ``.git/``, which
  Claude Code refuses to edit (the run still ends ``success``, with the refusals in
  ``permission_denials``);
- ``mode = "nothing"``: no tool call at all, just the final text;
- ``Script.steps`` when given, one turn per step instead: the request carrying ``n``
  tool results is answered with the calls of ``steps[n]`` (a list, or a function of the
  request giving one), then the final text.

It binds to 127.0.0.1 only and records every request it saw (``requests``) and
every file it asked to write (``writes``: (working directory, absolute path)).
``gates`` orders concurrent runs without timing: the final answer of a conversation
whose working directory ends with a given suffix waits until its condition holds.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from helpers import REPO_ROOT, wait_until


def claude_binary() -> Path | None:
    """The cached Claude Code CLI installed by ``scripts/install-claude-code``, if present."""
    override = os.environ.get("TMXD_CLAUDE_BIN")
    if override:
        return Path(override)
    base = Path(os.environ.get("TMXD_CLAUDE_DIR", Path.home() / ".cache" / "tmxd-claude-code"))
    candidates = [base / "node_modules" / ".bin" / "claude"]
    real_home = os.environ.get("TMXD_REAL_HOME")
    if real_home:
        candidates.append(
            Path(real_home) / ".cache" / "tmxd-claude-code" / "node_modules" / ".bin" / "claude"
        )
    for candidate in candidates:
        if candidate.exists():
            return candidate
    found = shutil.which("claude")
    return Path(found) if found else None


INSTALL_SCRIPT = REPO_ROOT / "scripts" / "install-claude-code"


@dataclass
class Script:
    """What the fake model answers: tool calls first, then a final text.

    With ``steps``, one turn per step instead: the request that carries ``n`` tool results
    is answered with the tool calls of ``steps[n]``, and once every step is answered, with
    the final text (``tool_uses`` is then ignored).
    """

    tool_uses: list[dict[str, Any]] = field(default_factory=list)
    final_text: str = "Done."
    mode: str = "follow"  # "follow", "deny" or "nothing" (see the module docstring)
    input_tokens: int = 1200
    output_tokens: int = 42
    requests: list[dict[str, Any]] = field(default_factory=list)
    # one turn each: the tool calls, or a function of the request that gives them
    steps: list[list[dict[str, Any]] | Callable[[dict[str, Any]], list[dict[str, Any]]]] = field(
        default_factory=list
    )
    writes: list[tuple[str, str]] = field(default_factory=list)
    # working-directory suffix -> a condition the final answer waits for (to order runs)
    gates: dict[str, Callable[[], bool]] = field(default_factory=dict)

    def started_in(self, suffix: str) -> bool:
        """Has a conversation in a working directory ending with ``suffix`` begun?"""
        return any(cwd.endswith(suffix) for cwd, _ in self.writes)


DIRECTIVE = re.compile(r"Create the file `([^`]+)` containing `([^`]*)`")
WORKDIR = re.compile(r"Primary working directory: ([^\n]+)")


def _texts(value: Any) -> list[str]:
    """Every text string inside a system field or a list of messages."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    if isinstance(value, dict):
        if value.get("type") == "tool_result":
            return []
        if isinstance(value.get("text"), str):
            return [value["text"]]
        return _texts(value.get("content"))
    return []


def directives(prompt: str) -> list[tuple[str, str]]:
    """The (file, content) pairs a prompt asks for."""
    return [(m.group(1), m.group(2)) for m in DIRECTIVE.finditer(prompt)]


def working_directory(body: dict[str, Any]) -> str | None:
    found = WORKDIR.search("\n".join(_texts(body.get("system"))))
    return found.group(1).strip() if found else None


def _planned_writes(script: Script, body: dict[str, Any]) -> list[dict[str, Any]]:
    if script.mode == "nothing":
        return []
    cwd = working_directory(body)
    if cwd is None:
        return []
    prompt = "\n".join(t for m in body.get("messages", []) for t in _texts(m.get("content")))
    uses = []
    for name, content in directives(prompt)[:1]:
        target = Path(cwd) / name
        if script.mode == "deny":
            target = Path(cwd) / ".git" / Path(name).name
        script.writes.append((cwd, str(target)))
        uses.append(
            {"name": "Write", "input": {"file_path": str(target), "content": content + "\n"}}
        )
    return uses


def _tool_results(messages: list[dict[str, Any]]) -> int:
    """How many tool_result blocks the conversation so far carries."""
    count = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            count += sum(
                1
                for block in content
                if isinstance(block, dict) and block.get("type") == "tool_result"
            )
    return count


def _has_tool_result(messages: list[dict[str, Any]]) -> bool:
    return _tool_results(messages) > 0


def _sse(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
    )


def _answer(script: Script, body: dict[str, Any], counter: int) -> tuple[list[Any], str]:
    messages = body.get("messages", [])
    if script.steps:
        done = _tool_results(messages)
        step = script.steps[done] if done < len(script.steps) else []
        uses = step(body) if callable(step) else step
    elif not _has_tool_result(messages):
        uses = script.tool_uses or _planned_writes(script, body)
    else:
        uses = []
    if uses:
        blocks = [
            {
                "type": "tool_use",
                "id": f"toolu_{counter:04d}_{i}",
                "name": t["name"],
                "input": t["input"],
            }
            for i, t in enumerate(uses)
        ]
        return blocks, "tool_use"
    return [{"type": "text", "text": script.final_text}], "end_turn"


def _stream(script: Script, body: dict[str, Any], counter: int) -> bytes:
    blocks, stop = _answer(script, body, counter)
    msg_id = f"msg_stub_{counter:04d}"
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": body.get("model", "claude-stub"),
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": script.input_tokens, "output_tokens": 1},
                },
            },
        )
    ]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": script.output_tokens},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return _sse(events)


@contextmanager
def messages_stub(script: Script) -> Iterator[str]:
    """Serve ``script`` on 127.0.0.1; yield the base URL for ``ANTHROPIC_BASE_URL``."""
    lock = threading.Lock()
    counter = [0]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _empty(self, code: int) -> None:
            self.send_response(code)
            self.send_header("content-length", "0")
            self.end_headers()

        def do_HEAD(self) -> None:
            self._empty(200)

        def do_GET(self) -> None:
            self._empty(404)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            if "count_tokens" in self.path:
                payload = json.dumps({"input_tokens": 100}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            with lock:
                counter[0] += 1
                n = counter[0]
                script.requests.append(body)
            cwd = working_directory(body) or ""
            if _has_tool_result(body.get("messages", [])):
                for suffix, ready in script.gates.items():
                    if cwd.endswith(suffix):
                        wait_until(ready, timeout=120, what=f"the gate of {suffix}")
            if body.get("stream"):
                payload = _stream(script, body, n)
                ctype = "text/event-stream"
            else:
                blocks, stop = _answer(script, body, n)
                payload = json.dumps(
                    {
                        "id": f"msg_stub_{n:04d}",
                        "type": "message",
                        "role": "assistant",
                        "model": body.get("model", "claude-stub"),
                        "content": blocks,
                        "stop_reason": stop,
                        "stop_sequence": None,
                        "usage": {
                            "input_tokens": script.input_tokens,
                            "output_tokens": script.output_tokens,
                        },
                    }
                ).encode()
                ctype = "application/json"
            self.send_response(200)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
