"""``tmxd mcp``: the tools of :mod:`tmxd.mcp.tools` and :mod:`tmxd.mcp.own_tools` on stdio.

Built on the official Python SDK (PyPI ``mcp`` 2.x), with its low-level ``Server``: the
tools' JSON schemas are Task Master's own, written out, rather than derived from Python
signatures, and no per-tool model is built at start-up. stdout carries the protocol
only (the SDK points fd 1 at stderr while it serves); logs go to stderr.

Every call is recorded the way the Claude Code hook records a tool call (a
``tool_calls`` row: session, ``mcp__tmxd__<tool>``, success, duration, the task being
worked on) by a worker thread, so no answer waits on the metrics database; the calls
still queued when the client closes the connection are written before the process
exits. Status changes are recorded as transitions with source ``mcp``.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from tmxd import __version__, clock
from tmxd.errors import TmxdError
from tmxd.mcp.own_tools import TMXD_TOOLS
from tmxd.mcp.tools import SERVER_NAME, TASK_MASTER_TOOLS, Outcome, Tool, call, error_text
from tmxd.mcp.workspace import Workspace

if TYPE_CHECKING:
    from tmxd.metrics.recorder import Recorder

log = logging.getLogger("tmxd.mcp")

TOOLS: tuple[Tool, ...] = TASK_MASTER_TOOLS + TMXD_TOOLS
DRAIN_TIMEOUT_S = 15.0
LINGER_S = 0.05  # how long the recording thread gathers calls before it writes them
INSTRUCTIONS = (
    "tmxd serves the project's Task Master tasks (.taskmaster/tasks/tasks.json) natively. "
    "Use next_task or ready_tasks to choose work, set_task_status to move a task or subtask "
    "(in-progress when you start, done when it is finished), update_subtask to append "
    "timestamped notes of progress and findings, and get_task / get_tasks to read. "
    "task_history, report_summary and autopilot_status show what tmxd recorded."
)


def recorded_name(tool: str) -> str:
    """The name Claude Code gives the tool, which its hooks record: ``mcp__tmxd__<tool>``."""
    return f"mcp__{SERVER_NAME}__{tool}"


@dataclass(frozen=True)
class CallRecord:
    """One answered call, waiting for the recording thread."""

    root: Path
    tool: str
    success: bool
    duration_ms: float
    task_id: str | None
    at: datetime


class Metrics:
    """The metrics database, opened on first use and shared by the server's threads."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._recorder: Recorder | None = None
        self._error: str | None = None
        self._lock = threading.Lock()

    def get(self) -> Recorder:
        """The open recorder; :class:`TmxdError` when the database cannot be used."""
        with self._lock:
            if self._recorder is not None:
                return self._recorder
            if self._error is not None:
                raise TmxdError(self._error)
            from tmxd.metrics.recorder import Recorder

            try:
                self._recorder = Recorder.open(self.path)
            except TmxdError as exc:
                self._error = exc.message
                log.warning("nothing is recorded in this session: %s", exc.message)
                raise
            return self._recorder

    def close(self) -> None:
        with self._lock:
            if self._recorder is not None:
                self._recorder.close()
                self._recorder = None


class CallLog:
    """Writes one ``tool_calls`` row per call from a worker thread, in call order, in
    batches (a record that cannot get the database goes to the metrics journal)."""

    def __init__(self, metrics: Metrics, session_id: str) -> None:
        self.metrics = metrics
        self.session_id = session_id
        self._queue: queue.SimpleQueue[CallRecord | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def add(self, record: CallRecord) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="tmxd-mcp-calls", daemon=True)
            self._thread.start()
        self._queue.put(record)

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            # calls come in bursts: gather what follows, then write it in one transaction,
            # after the answers have gone out
            time.sleep(LINGER_S)
            batch = [first]
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[CallRecord]) -> None:
        from tmxd.metrics import records

        try:
            self.metrics.get().store(
                [
                    records.tool_call(
                        r.root,
                        self.session_id,
                        recorded_name(r.tool),
                        r.success,
                        r.duration_ms,
                        r.task_id,
                        at=r.at,
                    )
                    for r in batch
                ]
            )
        except TmxdError:
            pass  # reported once by Metrics.get
        except Exception:
            log.exception("could not record %d tool call(s)", len(batch))

    def close(self, timeout: float = DRAIN_TIMEOUT_S) -> bool:
        """Write what is queued and stop; False when the database did not let it finish."""
        thread = self._thread
        if thread is None:
            return True
        self._queue.put(None)
        thread.join(timeout)
        return not thread.is_alive()


class Session:
    """One server process: the workspace, the metrics database and the call log."""

    def __init__(
        self,
        default_root: Path | None = None,
        env: Mapping[str, str] | None = None,
        db_path: Path | None = None,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        self.metrics = Metrics(db_path)
        self.workspace = Workspace(default_root, self.env, recorder=self.metrics.get)
        session_id = self.env.get("CLAUDE_CODE_SESSION_ID") or f"mcp-{os.getpid()}"
        self.calls = CallLog(self.metrics, session_id)
        self.tools = {tool.name: tool for tool in TOOLS}

    def run_tool(self, name: str, arguments: Mapping[str, Any] | None) -> Outcome:
        """Answer one call and queue its record."""
        tool = self.tools[name]
        started = time.perf_counter()
        try:
            outcome = call(self.workspace, tool, arguments)
        except Exception as exc:  # a bug must not end the session: the model sees it
            log.exception("%s failed", name)
            text = error_text(f"internal error: {type(exc).__name__}: {exc}")
            outcome = Outcome(text, True, None)
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if not tool.read_only and not outcome.is_error:
            log.info("%s %s", name, dict(arguments or {}))
        root = outcome.root or self._fallback_root()
        self.calls.add(
            CallRecord(root, name, not outcome.is_error, elapsed_ms, self._task(root), clock.now())
        )
        return outcome

    def _fallback_root(self) -> Path:
        try:
            return self.workspace.project(None).root
        except TmxdError:
            return self.workspace.default_folder().resolve()

    def _task(self, root: Path) -> str | None:
        """The task being worked on, as the Claude Code hook finds it."""
        explicit = self.env.get("TMXD_TASK_ID", "").strip()
        if explicit:
            return explicit
        from tmxd.taskmaster.ops import working_on

        try:
            project = self.workspace.project(str(root))
            doc = self.workspace.tasks(project)
            tag = self.workspace.tag_of(project, doc, None)
            return self.workspace.derived(
                doc, ("working_on", tag), lambda: working_on(doc.tasks(tag))
            )
        except TmxdError:
            return None

    def close(self) -> None:
        if not self.calls.close():
            log.warning("some tool calls were not recorded: the metrics database is busy")
        self.metrics.close()


def build_server(session: Session) -> Any:
    """The SDK's low-level server, answering ``tools/list`` and ``tools/call``."""
    import mcp_types as types
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import MCPError

    listed = types.ListToolsResult(
        tools=[
            types.Tool(
                name=tool.name,
                title=tool.title,
                description=tool.description,
                input_schema=tool.input_schema(),
                annotations=types.ToolAnnotations.model_validate(tool.annotations()),
            )
            for tool in TOOLS
        ]
    )

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return listed

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name not in session.tools:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        outcome = session.run_tool(params.name, params.arguments)
        return types.CallToolResult(
            content=[types.TextContent(text=outcome.text)], is_error=outcome.is_error
        )

    server: Server[Any] = Server(
        SERVER_NAME,
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    server.middleware = []  # no OpenTelemetry span per message
    return server


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("tmxd mcp: %(levelname)s %(message)s"))
    root = logging.getLogger("tmxd")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("mcp").setLevel(logging.WARNING)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds the server, so queued calls are still recorded


def serve(default_root: Path | None = None) -> int:
    """Serve MCP on stdin/stdout until the client closes the connection; 0 when it does."""
    import anyio
    from mcp.server.stdio import stdio_server

    _configure_logging()
    session = Session(default_root)
    server = build_server(session)

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        anyio.run(main)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        session.close()
    return 0
