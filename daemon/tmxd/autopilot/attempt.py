"""One attempt at a unit: prompt, agent run, evidence, checks, and the row it leaves.

:meth:`Attempt.run` snapshots the folder the agent works in, writes the prompt file,
runs the agent there (its own process group, a timeout, peak memory measured;
Claude Code's stream-json parsed) and decides on evidence. An attempt succeeded
only when all of these hold, checked in this order (the first that fails is the
attempt's error):

1. the agent succeeded: exit 0, and for Claude Code a ``result`` event with
   ``subtype: success`` and no ``is_error``;
2. no edit or write was refused (``permission_denials``; every refused call is
   stored with the execution and named in the note);
3. it changed something: a diff or a commit (``allow_empty`` and
   ``allow_empty_tasks`` waive this);
4. the checks pass — detected afresh in that folder after the agent ran, or
   the configured ones — run with the project's own tools (``tools``). A tool
   they need that is installed nowhere is a setup problem, not a failed check:
   the attempt ends with ``setup problem: …`` and the runner stops the run.

Every attempt is an ``executions`` row. A failed or interrupted attempt's changes
are saved as a patch in the state dir and removed from the folder, so the next
attempt starts clean; the failure note names the patch. Deciding what happens next
(retry, give up, commit, merge) is the runner's job.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tmxd import clock, proc
from tmxd.autopilot import prompt as prompts
from tmxd.autopilot import state, validation, workspace
from tmxd.autopilot.agents import Agent, AgentOutcome, StreamStats, describe_denial, judge
from tmxd.autopilot.config import AutopilotConfig
from tmxd.autopilot.plan import Unit
from tmxd.autopilot.tools import MissingTool
from tmxd.errors import TmxdError
from tmxd.fsutil import write_atomic
from tmxd.taskmaster import ops
from tmxd.taskmaster.store import TaskStore

if TYPE_CHECKING:
    from tmxd.autopilot.worktrees import Worktree
    from tmxd.metrics.recorder import Recorder

INTERRUPTED = "interrupted"
SETUP_ERROR = "setup problem: "


@dataclass(frozen=True)
class Place:
    """Where an attempt runs: the project itself (sequential) or a task's worktree."""

    top: Path  # the git top level of the folder the agent works in
    workdir: Path  # the agent's working directory (the project root inside ``top``)
    exclude: tuple[str, ...]  # paths tmxd writes or provisioned: never evidence, never committed
    worktree: Worktree | None = None


@dataclass(frozen=True)
class AttemptResult:
    ok: bool
    error: str | None  # None on success; "interrupted" when the run was stopped
    cost_usd: float | None
    execution_id: int | None = None
    before: workspace.Snapshot | None = None
    after: workspace.Snapshot | None = None
    denials: tuple[dict[str, Any], ...] = ()
    patch: Path | None = None
    reverted: tuple[str, ...] = ()  # commits the agent made, taken off the branch again


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

    def checks(self, folder: Path) -> list[validation.Check]:
        """The configured checks, else those the project in ``folder`` visibly uses now,
        each with the project's own tool (MissingTool when one is installed nowhere)."""
        cfg = self.config
        if cfg.validate or cfg.validate_basic:
            found = validation.configured(cfg.validate, cfg.validate_basic)
        else:
            found = validation.detect(folder)
        return validation.resolve(found, [folder, self.root], self.env)

    def snapshot(self, place: Place) -> workspace.Snapshot:
        """The folder before the agent: a fresh worktree is its base commit."""
        if place.worktree is not None:
            return workspace.of_commit(place.top, place.worktree.base)
        return workspace.snapshot(place.top, place.exclude, state.project_dir(self.root))

    def run(self, unit: Unit, number: int, place: Place) -> AttemptResult:
        """Run the agent once on ``unit`` in ``place``; judge, record, clean up on failure."""
        before = self.snapshot(place)
        tasks_file = self.store.read_settled()  # another unit's agent may be saving it
        task = tasks_file.find(unit.id, self.tag) or unit.task
        parent = tasks_file.find(task.parent_id, self.tag) if task.parent_id else None
        deps = [d for d in (tasks_file.find(i, self.tag) for i in task.dependencies) if d]
        text = prompts.build(
            task,
            parent=parent,
            dependencies=deps,
            validation=[c.name for c in validation.select(self.checks(place.workdir), unit.route)],
            tag=self.tag,
            mcp=self.config.mcp and self.config.agent == "claude",
        )
        prompt_dir = state.prompts_dir(self.root)
        prompt_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        prompt_file = prompt_dir / f"{self.tag}-{unit.id}-{number}.md"
        write_atomic(prompt_file, text)  # private, like every file tmxd creates
        inv = self.agent.invocation(
            task_id=unit.id,
            tag=self.tag,
            prompt=text,
            prompt_file=prompt_file,
            workdir=place.workdir,
            # tmxd's own tools started by the agent (hooks, MCP) act on the main project
            base_env={**self.env, "TMXD_PROJECT_ROOT": str(self.root)},
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
        # what a later run needs to undo this attempt if this process is killed: its row,
        # and (in the project itself) what the project looked like before it
        undo = None
        if place.worktree is None:
            undo = {
                "top": str(place.top),
                "head": before.head,
                "tree": before.tree,
                "index_tree": before.index_tree,
                "exclude": list(place.exclude),
            }
        self.state.update_claim(self.tag, unit.id, execution_id=exec_id, workspace=undo)
        stats = StreamStats()
        started = time.monotonic()
        outcome: AgentOutcome | None = None
        res: proc.ProcResult | None = None
        try:
            res = proc.run(
                inv.argv,
                cwd=place.workdir,
                timeout_s=self.config.timeout_s,
                env=inv.env,
                stdin_text=inv.stdin_text,
                on_stdout_line=stats.feed,
                cancel=self.stop,
                on_start=lambda pgid, ticks: self.state.set_agent(self.tag, unit.id, pgid, ticks),
            )
        except TmxdError as exc:
            error: str | None = str(exc)
        else:
            outcome = judge(
                stats,
                res.exit_code,
                timed_out=res.timed_out,
                cancelled=res.cancelled,
                failure_text=_last_line(res.output_tail(self.config.output_tail_lines)),
                require_result=self.agent.requires_result,
            )
            error = outcome.error
        denials = outcome.permission_denials if outcome is not None else ()
        # the index's tree is only needed to undo an attempt, from the snapshot before it
        after = workspace.snapshot(
            place.top, place.exclude, state.project_dir(self.root), with_index=False
        )
        report = None
        if error is None and outcome is not None and outcome.denied_edits:
            named = ", ".join(describe_denial(d) for d in outcome.denied_edits)
            error = f"denied: Claude Code refused {named}"
        if error is None and not workspace.changed(before, after) and not self._may_be_empty(unit):
            error = "no changes: the agent changed no file and made no commit"
        if error is None:
            try:
                checks = validation.select(self.checks(place.workdir), unit.route)
            except MissingTool as exc:  # e.g. the agent added the project's first tests
                error = SETUP_ERROR + exc.message
            else:
                report = validation.run_checks(
                    checks,
                    place.workdir,
                    timeout_s=self.config.validate_timeout_s,
                    tail_lines=self.config.output_tail_lines,
                    env=self.env,
                    cancel=self.stop,
                )
                if self.stop.is_set():
                    error = INTERRUPTED
                elif not report.ok:
                    error = "validation failed: " + report.headline
        if self.stop.is_set() and error is not None:
            error = INTERRUPTED
        setup = error is not None and error.startswith(SETUP_ERROR)
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
                # a setup problem interrupted the attempt before its verdict
                error=None
                if success
                else (f"{INTERRUPTED}: {error}" if setup else error or "")[:2000],
                duration_ms=(time.monotonic() - started) * 1000.0,
                permission_denials=denials,
            )
        patch = None
        reverted: tuple[str, ...] = ()
        if not success:
            reverted = workspace.commits_between(place.top, before.head, after.head)
            patch = self.discard(unit, number, place, before, after)
            if reverted and workspace.head(place.top) != before.head:
                reverted = ()  # not the agent's own commits (a merge): they stay
        if not success and error != INTERRUPTED and not setup:
            details = _failure_details(report, res, stats, self.config.output_tail_lines)
            self._failure_note(unit, number, error or "", details, denials, patch)
        return AttemptResult(success, error, cost, exec_id, before, after, denials, patch, reverted)

    def _may_be_empty(self, unit: Unit) -> bool:
        return self.config.allow_empty or unit.id in self.config.allow_empty_tasks

    def discard(
        self,
        unit: Unit,
        number: int,
        place: Place,
        before: workspace.Snapshot,
        after: workspace.Snapshot,
    ) -> Path | None:
        """Save a failed attempt's changes as a patch and take them out of the folder.

        The patch is the agent's work (``before → after``); what is taken out is measured
        now, so files the checks made beside it (``__pycache__/``, reports) go too.
        """
        stamp = clock.now().strftime("%Y%m%dT%H%M%S")
        name = f"{self.tag}-{unit.id}-attempt{number}-{stamp}.patch"
        try:
            patch = workspace.save_patch(
                place.top, before, after, state.patches_dir(self.root) / name
            )
            now = workspace.snapshot(
                place.top, place.exclude, state.project_dir(self.root), with_index=False
            )
            workspace.restore(place.top, before, now)
        except (TmxdError, OSError) as exc:
            self.out(f"task {unit.id}: could not clean up attempt {number}: {exc}")
            return None
        if patch is not None:
            self.out(f"task {unit.id}: attempt {number}'s changes saved to {patch} and removed")
        return patch

    def _failure_note(
        self,
        unit: Unit,
        number: int,
        error: str,
        details: str,
        denials: Sequence[dict[str, Any]],
        patch: Path | None,
    ) -> None:
        note = (
            f"tmxd autopilot: attempt {number}/{self.config.max_attempts} failed "
            f"({unit.route}, {self.agent.name}): {error}"
        )
        if denials:
            note += "\nrefused tool calls: " + ", ".join(describe_denial(d) for d in denials)
        if patch is not None:
            note += f"\nits changes were saved to {patch} and removed"
        if details:
            note += "\n" + _tail_lines(details, self.config.output_tail_lines)
        ops.append_note(self.store, unit.id, note, tag=self.tag)
        self.out(f"task {unit.id}: attempt {number} failed: {error}")


def _failure_details(
    report: validation.ValidationReport | None,
    res: proc.ProcResult | None,
    stats: StreamStats,
    limit: int,
) -> str:
    """What goes under a failure note: the failing check's output; for an agent that
    spoke stream-json, its last words and stderr (never the raw events); else the end
    of its output."""
    if report is not None and not report.ok:
        return report.failure_text()
    if res is None:
        return ""
    if not stats.is_stream:
        return res.output_tail(limit)
    parts = []
    said = (stats.result or {}).get("result")
    last = said if isinstance(said, str) and said.strip() else (stats.texts or [""])[-1]
    if last.strip():
        parts.append("the agent's last words: " + last.strip())
    if res.stderr_tail:
        parts.append("stderr:\n" + "\n".join(list(res.stderr_tail)[-limit:]))
    return "\n".join(parts)


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _tail_lines(text: str, limit: int) -> str:
    return "\n".join(text.splitlines()[-limit:])
