"""The execution loop: ready task → in progress → agent → validation → done.

What is ready comes from ``plan``, one agent run and its checks from ``attempt``;
this module claims units, retries, settles, recovers and keeps the breaker.

Sequential runs work in the project itself, one task at a time. Parallel runs take
every ready task whose dependencies are met, at most N at once and never two from
one subtree, each in its own git worktree, merged back after validation.

Each task is routed (see ``routing``); a failed attempt is retried with backoff,
every attempt is an ``executions`` row, and a circuit breaker pauses dispatch after
repeated failures. Stopping (SIGINT/SIGTERM → ``stop``) ends the agents' process
groups and puts their tasks back to the status they had. A run killed outright is
recovered by the next one: its claimed tasks go back to their old status and any
agent it left behind is ended.
"""

from __future__ import annotations

import os
import random
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tmxd import proc
from tmxd.autopilot import routing, state, validation, worktrees
from tmxd.autopilot.agents import Agent, expand_template, make_agent
from tmxd.autopilot.attempt import Attempt
from tmxd.autopilot.config import AutopilotConfig
from tmxd.autopilot.plan import DONE, Gate, Outcome, Plan, Unit, done_ids, plan_tasks, related
from tmxd.autopilot.resilience import (
    Backoff,
    BreakerSnapshot,
    CircuitBreaker,
    load_snapshot,
    save_snapshot,
)
from tmxd.errors import InputError, TmxdError
from tmxd.history.observe import attributed
from tmxd.metrics.recorder import Recorder
from tmxd.taskmaster import ops
from tmxd.taskmaster.document import TasksFile
from tmxd.taskmaster.project import Project
from tmxd.taskmaster.store import TaskStore


@dataclass
class RunOptions:
    once: bool = False
    parallel: int | None = None
    task_id: str | None = None
    dry_run: bool = False
    max_cost_usd: float | None = None
    tag: str | None = None


@dataclass
class UnitResult:
    unit: Unit
    outcome: Outcome
    attempts: int
    cost_usd: float
    detail: str


@dataclass
class RunSummary:
    results: list[UnitResult] = field(default_factory=list)
    gated: list[Gate] = field(default_factory=list)
    planned: list[Unit] = field(default_factory=list)
    stop_reason: str = ""
    breaker: str = "closed"
    cost_usd: float = 0.0

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def ok(self) -> bool:
        failed = any(r.outcome in ("failed", "paused") for r in self.results)
        return not failed and self.breaker != "open"


class Autopilot:
    """Runs a project's ready tasks through an agent."""

    def __init__(
        self,
        project: Project,
        config: AutopilotConfig,
        recorder: Recorder | None,
        *,
        options: RunOptions | None = None,
        stop: threading.Event | None = None,
        out: Callable[[str], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        env: dict[str, str] | None = None,
        agent: Agent | None = None,
    ) -> None:
        self.project = project
        self.root = project.root
        self.config = config
        self.recorder = recorder
        self.options = options or RunOptions()
        self.stop = stop or threading.Event()
        self.out = out or (lambda line: None)
        self.rng = rng or random.Random()
        self.env = dict(os.environ if env is None else env)
        self.tag = project.active_tag(self.options.tag)
        self.store = TaskStore(project)
        self.state = state.StateFile(self.root)
        self.parallel = self.options.parallel
        self.use_worktrees = self.parallel is not None
        self.agent = agent or make_agent(
            config.agent,
            command=config.command,
            claude_bin=config.claude_bin,
            allowed_tools=config.allowed_tools,
            permission_mode=config.permission_mode,
            max_turns=config.max_turns,
            max_budget_usd=config.max_budget_usd,
            model=config.model,
            extra_args=config.extra_args,
        )
        self.backoff = Backoff(config.backoff_base_s, config.backoff_cap_s, config.max_attempts)
        self._breaker_lock = threading.Lock()
        self.breaker = CircuitBreaker(
            config.breaker_threshold,
            config.breaker_cooldown_s,
            wall_clock,
            load_snapshot(state.breaker_path(self.root)),
            on_change=self._breaker_changed,
        )
        self.rules = config.routing_rules()
        self._cost = 0.0
        self._cost_lock = threading.Lock()
        self._checks: list[validation.Check] | None = None
        self.attempt = Attempt(
            self.root,
            self.tag,
            config,
            self.agent,
            recorder,
            self.store,
            self.state,
            self.env,
            self.stop,
            self.out,
        )

    # -- bookkeeping -------------------------------------------------------------

    def _breaker_changed(self, old: BreakerSnapshot, new: BreakerSnapshot) -> None:
        save_snapshot(state.breaker_path(self.root), new)
        if old.state != new.state:
            self.out(f"circuit breaker {old.state} → {new.state}")
            if self.recorder is not None:
                self.recorder.event(
                    self.root,
                    "autopilot.breaker",
                    {
                        "from": old.state,
                        "to": new.state,
                        "failures": new.failures,
                        "reason": new.reason,
                    },
                )

    def _read(self) -> TasksFile:
        return self.store.read()

    def _set_status(self, task_id: str, status: str) -> None:
        # Attributed, so the transition rows say "autopilot" and the daemon's engine
        # does not record the same change again as an outside edit.
        with attributed(self.root, self.project.tasks_path, "autopilot", self.recorder):
            ops.set_status(self.store, [task_id], status, tag=self.tag)

    def _note(self, task_id: str, text: str) -> None:
        ops.append_note(self.store, task_id, text, tag=self.tag)

    def checks(self) -> list[validation.Check]:
        if self._checks is None:
            cfg = self.config
            if cfg.validate or cfg.validate_basic:
                self._checks = validation.configured(cfg.validate, cfg.validate_basic)
            else:
                self._checks = validation.detect(self.root)
        return self._checks

    def _scores(self) -> dict[str, float]:
        return routing.load_scores(self.project.complexity_report_path(self.tag))

    def plan(self, tasks_file: TasksFile) -> Plan:
        tasks = tasks_file.tasks(self.tag)
        approved = self.state.read()["approved"]
        plan = plan_tasks(
            tasks,
            self._scores(),
            self.rules,
            lambda tid: state.task_key(self.tag, tid) in approved,
        )
        only = self.options.task_id
        if only is not None:
            plan.units = [u for u in plan.units if related(u.id, only)]
            plan.gates = [g for g in plan.gates if related(g.task.id, only)]
        return plan

    # -- recovery ----------------------------------------------------------------

    def recover(self) -> list[str]:
        """Undo what a killed run left: claimed tasks back to their status, agents ended."""
        restored = []
        data = self.state.read()
        prefix = f"{self.tag}:"
        stale = {
            key[len(prefix) :]
            for key, claim in data["claims"].items()
            if key.startswith(prefix)
            and isinstance(claim, dict)
            and not (
                isinstance(claim.get("pid"), int)
                and proc.pid_alive(claim["pid"])
                and claim["pid"] != os.getpid()
            )
        }
        if self.use_worktrees:
            aborted = worktrees.abort_stale_merge(self.root, stale)
            if aborted is not None:
                self.out(f"aborted the half-done merge of task {aborted} left by a killed run")
        for key, claim in list(data["claims"].items()):
            if not key.startswith(prefix) or not isinstance(claim, dict):
                continue
            pid = claim.get("pid")
            if isinstance(pid, int) and pid != os.getpid() and proc.pid_alive(pid):
                continue  # another autopilot is working on it
            task_id = key[len(prefix) :]
            pgid, started = claim.get("agent_pgid"), claim.get("agent_start")
            if isinstance(pgid, int) and proc.kill_stale_group(
                pgid, started if isinstance(started, int) else None
            ):
                self.out(f"ended agent process group {pgid} left by an interrupted run")
            exec_id = claim.get("execution_id")
            if self.recorder is not None and isinstance(exec_id, int):
                self._close_orphan_execution(exec_id)
            task = self._read().find(task_id, self.tag)
            previous = str(claim.get("previous") or "pending")
            if task is not None and task.status == "in-progress":
                self._set_status(task_id, previous)
                self._note(
                    task_id,
                    "tmxd autopilot: an interrupted run was recovered; "
                    f"status restored to {previous}",
                )
                restored.append(task_id)
            self.state.release(self.tag, task_id)
        if restored:
            self.out("recovered interrupted tasks: " + ", ".join(restored))
        return restored

    def _close_orphan_execution(self, exec_id: int) -> None:
        """Finish the row of an attempt whose run was killed (its claim still names it)."""
        assert self.recorder is not None
        self.recorder.execution_finished(
            exec_id,
            success=False,
            exit_code=None,
            tool_calls=0,
            turns=None,
            input_tokens=None,
            output_tokens=None,
            cost_usd=None,
            peak_rss_bytes=None,
            error="interrupted: the run was killed; recovered by a later run",
        )

    # -- gates -------------------------------------------------------------------

    def _apply_gate(self, gate: Gate) -> None:
        task = gate.task
        if gate.kind == "expand" and self.config.expand_command:
            argv = expand_template(
                self.config.expand_command,
                {"task_id": task.id, "tag": self.tag, "workdir": str(self.root)},
            )
            self.out(f"task {task.id}: complex without subtasks; running {argv[0]}")
            try:
                res = proc.run(
                    argv,
                    cwd=self.root,
                    timeout_s=self.config.timeout_s,
                    env=self.env,
                    cancel=self.stop,
                )
            except TmxdError as exc:
                detail = str(exc)
            else:
                if res.cancelled:
                    return
                refreshed = self._read().find(task.id, self.tag)
                if res.ok and refreshed is not None and refreshed.subtasks:
                    return
                detail = res.describe() if not res.ok else "it produced no subtasks"
            self._review(task.id, "expand", f"expand command: {detail}")
            self._note(
                task.id,
                f"tmxd autopilot: the expand command failed ({detail}); "
                f"expand task {task.id} by hand, or run it whole with "
                f"`tmxd approve {task.id}`",
            )
            return
        self._review(task.id, gate.kind, gate.reason)
        if gate.kind == "critical":
            text = (
                f"tmxd autopilot: critical task ({gate.reason}); waiting for "
                f"`tmxd approve {task.id}` or `tmxd reject {task.id}`"
            )
        else:
            text = (
                f"tmxd autopilot: complex task without subtasks ({gate.reason}); expand it "
                f"(`task-master expand --id={task.id}`), or run it whole with "
                f"`tmxd approve {task.id}`"
            )
        self._note(task.id, text)
        self.out(f"task {task.id}: review — {text.removeprefix('tmxd autopilot: ')}")

    def _review(self, task_id: str, kind: str, detail: str) -> None:
        self.state.set_review(self.tag, task_id, kind, detail)
        self._set_status(task_id, "review")

    # -- one unit ----------------------------------------------------------------

    def _spent(self, cost: float | None) -> None:
        if cost:
            with self._cost_lock:
                self._cost += cost

    @property
    def cost(self) -> float:
        with self._cost_lock:
            return self._cost

    def _allow(self) -> bool:
        with self._breaker_lock:
            return self.breaker.allow()

    def _verdict(self, success: bool, reason: str) -> None:
        with self._breaker_lock:
            if success:
                self.breaker.record_success()
            else:
                self.breaker.record_failure(reason)

    def run_unit(self, unit: Unit) -> UnitResult:
        """Claim, run (with retries), validate and settle one unit."""
        previous = unit.task.status
        if not self.state.claim(self.tag, unit.id, previous):
            return UnitResult(unit, "skipped", 0, 0.0, "claimed by another autopilot")
        current = self._read().find(unit.id, self.tag)
        if current is None or current.status != previous:
            # Someone changed it between planning and claiming: it is theirs now.
            self.state.release(self.tag, unit.id)
            return UnitResult(unit, "skipped", 0, 0.0, "changed by someone else")
        self._set_status(unit.id, "in-progress")
        self.out(f"task {unit.id}: in progress ({unit.route}: {unit.reason}) — {unit.task.title}")
        wt: worktrees.Worktree | None = None
        try:
            if self.use_worktrees:
                wt = worktrees.create(self.root, unit.id)
            return self._attempts(unit, previous, wt)
        except TmxdError as exc:
            # The environment failed (git, the state dir, an unstartable agent): the task
            # is not to blame, so it goes back as it was; the breaker counts it.
            self._verdict(False, str(exc))
            self._restore(unit, previous, f"tmxd autopilot: could not run the task: {exc}")
            self.out(f"task {unit.id}: could not run: {exc}")
            return UnitResult(unit, "failed", 0, 0.0, str(exc))
        except BaseException:
            # Never leave a claimed task in progress behind an unexpected error.
            self._restore(unit, previous, "tmxd autopilot: the run stopped on an internal error")
            raise
        finally:
            self.state.release(self.tag, unit.id)

    def _restore(self, unit: Unit, previous: str, note: str) -> None:
        task = self._read().find(unit.id, self.tag)
        if task is not None and task.status == "in-progress":
            self._set_status(unit.id, previous)
            self._note(unit.id, note)

    def _attempts(self, unit: Unit, previous: str, wt: worktrees.Worktree | None) -> UnitResult:
        workdir = wt.path if wt is not None else self.root
        checks = validation.select(self.checks(), unit.route)
        spent = 0.0
        attempt = 0
        keep_branch = False
        try:
            while True:
                attempt += 1
                if not self._allow():
                    self._restore(
                        unit,
                        previous,
                        "tmxd autopilot: dispatch paused by the circuit breaker; status restored",
                    )
                    return UnitResult(unit, "paused", attempt - 1, spent, "circuit breaker open")
                result = self.attempt.run(unit, attempt, workdir, checks)
                ok, error, cost = result.ok, result.error, result.cost_usd
                self._spent(cost)
                spent += cost or 0.0
                if error == "interrupted":
                    with self._breaker_lock:
                        self.breaker.release_trial()
                    self._restore(
                        unit,
                        previous,
                        f"tmxd autopilot: attempt {attempt} was "
                        f"interrupted; status restored to {previous}",
                    )
                    return UnitResult(unit, "interrupted", attempt, spent, "interrupted")
                self._verdict(ok, error or "")
                if ok:
                    return self._settle(unit, attempt, spent, wt)
                retry = self.backoff.should_retry(attempt) and not self._over_budget()
                if not retry:
                    final = self.config.on_failure
                    self._set_status(unit.id, final)
                    self.out(f"task {unit.id}: failed after {attempt} attempt(s) → {final}")
                    keep_branch = False
                    return UnitResult(unit, "failed", attempt, spent, error or "failed")
                delay = self.backoff.delay(attempt, self.rng)
                self.out(f"task {unit.id}: attempt {attempt} failed; retrying in {delay:.1f}s")
                if self.stop.wait(delay):
                    self._restore(
                        unit,
                        previous,
                        f"tmxd autopilot: stopped before a retry; status restored to {previous}",
                    )
                    return UnitResult(unit, "interrupted", attempt, spent, "interrupted")
                if wt is not None:
                    worktrees.reset(wt)
        finally:
            if wt is not None:
                review = self.state.review(self.tag, unit.id)
                keep_branch = keep_branch or (review is not None and review.get("kind") == "merge")
                worktrees.finish(self.root, wt, keep_branch=keep_branch)

    def _over_budget(self) -> bool:
        ceiling = self._ceiling()
        return ceiling is not None and self.cost >= ceiling

    def _ceiling(self) -> float | None:
        if self.options.max_cost_usd is not None:
            return self.options.max_cost_usd if self.options.max_cost_usd > 0 else None
        return self.config.max_cost_usd if self.config.max_cost_usd > 0 else None

    def _settle(
        self, unit: Unit, attempt: int, spent: float, wt: worktrees.Worktree | None
    ) -> UnitResult:
        detail = f"done on attempt {attempt} ({unit.route})"
        if spent:
            detail += f", ${spent:.4f}"
        if wt is not None:
            subject = f"{unit.task.title} [{unit.id}]"
            worktrees.commit_all(wt, subject)
            merged = worktrees.merge_back(self.root, wt, f"Merge task {unit.id}: {unit.task.title}")
            if not merged.merged:
                self._review(unit.id, "merge", merged.detail)
                self._note(
                    unit.id,
                    f"tmxd autopilot: the work passed validation but could not "
                    f"be merged ({merged.detail}); branch {wt.branch} is kept. Merge it, "
                    f"then `tmxd approve {unit.id}` (or `tmxd reject {unit.id}`)",
                )
                self.out(f"task {unit.id}: review — merge conflict, branch {wt.branch} kept")
                return UnitResult(unit, "review", attempt, spent, merged.detail)
            detail += f"; {merged.detail}"
        self._set_status(unit.id, DONE)
        self._note(unit.id, f"tmxd autopilot: {detail}")
        self.out(f"task {unit.id}: {detail}")
        return UnitResult(unit, "done", attempt, spent, detail)

    # -- the loop ----------------------------------------------------------------

    def run(self) -> RunSummary:
        """Dispatch until nothing is ready, ``--once`` is satisfied, or a stop."""
        summary = RunSummary()
        if self.use_worktrees and not self.options.dry_run:
            worktrees.require_repo(self.root)
        if not self.options.dry_run:
            self._check_agent()
            self.recover()
        if self.options.task_id is not None:
            self._check_task(self.options.task_id)
        slots = self.parallel or 1
        running: dict[Future[UnitResult], Unit] = {}
        dispatched = 0
        tried: set[str] = set()
        with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="tmxd-agent") as pool:
            while True:
                if self.stop.is_set():
                    summary.stop_reason = summary.stop_reason or "stopped"
                    break
                can_dispatch = not (self.options.once and dispatched)
                ceiling = self._ceiling()
                if ceiling is not None and self.cost >= ceiling:
                    summary.stop_reason = f"cost ceiling ${ceiling:g} reached (${self.cost:.4f})"
                    can_dispatch = False
                state_now = self.breaker.state
                if state_now == "open":
                    summary.stop_reason = "circuit breaker open: " + self.breaker.describe()
                    can_dispatch = False
                started = 0
                if can_dispatch:
                    plan = self.plan(self._read())
                    if self.options.dry_run:
                        summary.planned = plan.units
                        summary.gated = plan.gates
                        summary.stop_reason = "dry run"
                        break
                    for gate in plan.gates:
                        self._apply_gate(gate)
                        summary.gated.append(gate)
                    limit = slots
                    if state_now == "half-open":
                        limit = 1
                    for unit in plan.units:
                        if len(running) >= limit:
                            break
                        if unit.id in tried:
                            continue
                        if any(related(unit.id, other.id) for other in running.values()):
                            continue
                        tried.add(unit.id)
                        running[pool.submit(self.run_unit, unit)] = unit
                        started += 1
                        if self.parallel is None:
                            break
                    dispatched += started
                    if plan.gates and not started and not running:
                        continue  # gates changed the graph; look again
                if not running:
                    if not summary.stop_reason:
                        summary.stop_reason = "nothing ready" if not dispatched else "all done"
                    break
                done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in done:
                    running.pop(fut)
                    result = fut.result()
                    summary.results.append(result)
                    if result.outcome == "paused":
                        summary.stop_reason = "circuit breaker open: " + self.breaker.describe()
        summary.cost_usd = self.cost
        summary.breaker = self.breaker.state
        return summary

    def _check_agent(self) -> None:
        """A missing agent program is a setup error: say so once instead of failing every task."""
        probe = self.agent.invocation(
            task_id="0",
            tag=self.tag,
            prompt="",
            prompt_file=Path(os.devnull),
            workdir=self.root,
            base_env=self.env,
        ).argv[0]
        search = self.env.get("PATH", os.defpath)
        found = shutil.which(probe, path=search) if os.sep not in probe else probe
        if found is None or not os.access(found, os.X_OK):
            hint = (
                "install Claude Code (npm install -g @anthropic-ai/claude-code) or set "
                "autopilot.claude_bin"
                if self.config.agent == "claude"
                else "fix autopilot.command"
            )
            raise TmxdError(f"{probe}: agent program not found; {hint} in .taskmaster/tmxd.toml")

    def _check_task(self, task_id: str) -> None:
        task = self._read().find(task_id, self.tag)
        if task is None:
            raise InputError(f"task {task_id} not found in tag {self.tag}; see `tmxd list`")
        if task.status in (DONE, "cancelled"):
            raise InputError(f"task {task_id} is {task.status}; nothing to run")
        tasks = self._read().tasks(self.tag)
        done = done_ids(tasks)
        waiting = [d for d in task.dependencies if d not in done]
        if waiting:
            raise InputError(
                f"task {task_id} is not ready: it depends on {', '.join(waiting)} (not done)"
            )


def breaker_status(root: Path, config: AutopilotConfig | None = None) -> dict[str, Any]:
    """The circuit breaker as ``tmxd status`` shows it: state, reason, seconds to a trial."""
    from tmxd.autopilot.config import AutopilotConfig as Cfg

    cfg = config or Cfg()
    breaker = CircuitBreaker(
        cfg.breaker_threshold,
        cfg.breaker_cooldown_s,
        time.time,
        load_snapshot(state.breaker_path(root)),
    )
    snap = breaker.snap
    return {
        "state": breaker.state,
        "failures": snap.failures,
        "reason": snap.reason,
        "retry_in_s": round(breaker.retry_in(), 1),
        "summary": breaker.describe(),
    }


_dispatch_locks: dict[str, threading.Lock] = {}
_dispatch_guard = threading.Lock()


def dispatch_ready(
    project: Project,
    config: AutopilotConfig,
    recorder: Recorder | None,
    *,
    stop: threading.Event | None = None,
    out: Callable[[str], None] | None = None,
) -> RunSummary | None:
    """For the daemon in autopilot mode: run one parallel pass over what is ready now.

    Blocks until the pass ends, so call it from a worker thread. Returns None, doing
    nothing, when a pass for this project is already running in this process.
    """
    key = str(project.root.resolve())
    with _dispatch_guard:
        lock = _dispatch_locks.setdefault(key, threading.Lock())
    if not lock.acquire(blocking=False):
        return None
    try:
        pilot = Autopilot(
            project,
            config,
            recorder,
            options=RunOptions(once=True, parallel=config.parallel),
            stop=stop,
            out=out,
        )
        return pilot.run()
    finally:
        lock.release()


def log_lines(summary: RunSummary) -> Iterable[str]:
    """A short human summary of a run."""
    yield (
        f"autopilot: {summary.count('done')} done, {summary.count('failed')} failed, "
        f"{summary.count('review')} to review, {summary.count('interrupted')} interrupted"
        + (f", ${summary.cost_usd:.4f}" if summary.cost_usd else "")
    )
    if summary.stop_reason:
        yield f"stopped: {summary.stop_reason}"
