"""One attempt at a unit: prompt, agent run, validation, and the execution row it leaves.

:meth:`Attempt.run` writes the prompt file, runs the agent in ``workdir`` (its own
process group, a timeout, peak memory measured; Claude Code's stream-json parsed),
runs the route's checks when the agent reports success, records the attempt as an
``executions`` row and, on failure, appends what went wrong to the task. Deciding
what happens next (retry, give up, settle) is the runner's job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tmxd import proc
from tmxd.autopilot import prompt as prompts
from tmxd.autopilot import state, validation
from tmxd.autopilot.agents import Agent, StreamStats, judge
from tmxd.autopilot.config import AutopilotConfig
from tmxd.autopilot.plan import Unit
from tmxd.errors import TmxdError
from tmxd.taskmaster import ops
from tmxd.taskmaster.store import TaskStore

if TYPE_CHECKING:
    from tmxd.metrics.recorder import Recorder


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    error: str | None  # None on success; "interrupted" when the run was stopped
    cost_usd: float | None


@dataclass(frozen=True)
class Attempt:
    """What every attempt of one autopilot run shares."""

    root: Path
    tag: str
    config: AutopilotConfig
    agent: Agent
    recorder: Recorder | None
    store: TaskStore
    state: state.StateFile
    env: dict[str, str]
    stop: threading.Event
    out: Callable[[str], None]

    def run(
        self, unit: Unit, number: int, workdir: Path, checks: Sequence[validation.Check]
    ) -> AttemptResult:
        """Run the agent once on ``unit`` in ``workdir`` and validate; record the row."""
        tasks_file = self.store.read()
        task = tasks_file.find(unit.id, self.tag) or unit.task
        parent = tasks_file.find(task.parent_id, self.tag) if task.parent_id else None
        deps = [d for d in (tasks_file.find(i, self.tag) for i in task.dependencies) if d]
        text = prompts.build(
            task,
            parent=parent,
            dependencies=deps,
            validation=[c.name for c in checks],
            tag=self.tag,
        )
        prompt_dir = state.prompts_dir(self.root)
        prompt_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        prompt_file = prompt_dir / f"{self.tag}-{unit.id}-{number}.md"
        prompt_file.write_text(text, encoding="utf-8")
        inv = self.agent.invocation(
            task_id=unit.id,
            tag=self.tag,
            prompt=text,
            prompt_file=prompt_file,
            workdir=workdir,
            base_env=self.env,
        )
        exec_id = None
        if self.recorder is not None:
            exec_id = self.recorder.execution_started(
                self.root,
                unit.id,
                number,
                unit.route,
                self.agent.name,
                tag=self.tag,
                session_id=inv.session_id,  # the agent's tool calls (Claude Code hooks) join it
            )
            self.state.set_execution(self.tag, unit.id, exec_id)
        stats = StreamStats()
        started = time.monotonic()
        error: str | None
        res: proc.ProcResult | None
        try:
            res = proc.run(
                inv.argv,
                cwd=workdir,
                timeout_s=self.config.timeout_s,
                env=inv.env,
                stdin_text=inv.stdin_text,
                on_stdout_line=stats.feed,
                cancel=self.stop,
                on_start=lambda pgid, ticks: self.state.set_agent(self.tag, unit.id, pgid, ticks),
            )
        except TmxdError as exc:
            outcome = None
            error = str(exc)
            res = None
        else:
            assert res is not None
            tail = res.output_tail(self.config.output_tail_lines)
            outcome = judge(
                stats,
                res.exit_code,
                timed_out=res.timed_out,
                cancelled=res.cancelled,
                failure_text=_last_line(tail),
            )
            error = outcome.error
        report = None
        if outcome is not None and outcome.success:
            report = validation.run_checks(
                checks,
                workdir,
                timeout_s=self.config.validate_timeout_s,
                tail_lines=self.config.output_tail_lines,
                env=self.env,
                cancel=self.stop,
            )
            if self.stop.is_set():
                error = "interrupted"
            elif not report.ok:
                error = "validation failed: " + report.failure_text().splitlines()[0]
        success = error is None
        cost = outcome.cost_usd if outcome is not None else None
        if self.recorder is not None and exec_id is not None:
            self.recorder.execution_finished(
                exec_id,
                success=success,
                exit_code=res.exit_code if res is not None else None,
                tool_calls=outcome.tool_calls if outcome else 0,
                turns=outcome.turns if outcome else None,
                input_tokens=outcome.input_tokens if outcome else None,
                output_tokens=outcome.output_tokens if outcome else None,
                cost_usd=cost,
                peak_rss_bytes=res.peak_rss_bytes if res is not None else None,
                error=None if success else (error or "")[:2000],
                duration_ms=(time.monotonic() - started) * 1000.0,
            )
            self.state.set_execution(self.tag, unit.id, None)
        if not success and error != "interrupted":
            details = ""
            if report is not None and not report.ok:
                details = report.failure_text()
            elif res is not None:
                details = res.output_tail(self.config.output_tail_lines)
            note = (
                f"tmxd autopilot: attempt {number}/{self.config.max_attempts} failed "
                f"({unit.route}, {self.agent.name}): {error}"
            )
            if details:
                note += "\n" + _tail_lines(details, self.config.output_tail_lines)
            ops.append_note(self.store, unit.id, note, tag=self.tag)
            self.out(f"task {unit.id}: attempt {number} failed: {error}")
        if error == "interrupted":
            return AttemptResult(False, "interrupted", cost)
        return AttemptResult(success, error, cost)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _tail_lines(text: str, limit: int) -> str:
    return "\n".join(text.splitlines()[-limit:])
