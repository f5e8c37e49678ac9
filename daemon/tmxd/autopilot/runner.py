"""The execution loop: ready task → in progress → agent → evidence → done.

What is ready comes from ``plan``, one agent run and its verdict from ``attempt``;
this module claims units, retries, settles, recovers and keeps the breaker.

Sequential runs work in the project itself, one task at a time, and commit each
task's work on the current branch (subject: the task title, trailer ``Task: <id>``,
so the commit hooks link it; ``[autopilot] commit = false`` leaves it uncommitted).
They refuse a working tree with uncommitted changes unless ``--allow-dirty``.
Parallel runs take every ready task whose dependencies are met, at most N at once
and never two from one subtree, each in its own git worktree outside the repository
(``worktrees``), merged back after validation.

Each task is routed (see ``routing``); a failed attempt is retried with backoff,
every attempt is an ``executions`` row, and a circuit breaker pauses dispatch after
repeated failures: once it opens, nothing new starts. Stopping (SIGINT/SIGTERM →
``stop``) ends the agents' process groups and puts their tasks back to the status
they had. A run killed outright is recovered by the next one: its claimed tasks go
back to their old status and any agent it left behind is ended.

Every settled task passes through :meth:`Autopilot._outcome`, the one place where
"done", "failed" (blocked or pending again) and "review" are known; each is an
``autopilot.<outcome>`` event row, as the breaker's changes are ``autopilot.breaker``.
Whoever runs the autopilot hears of the same events through ``on_event`` (the daemon
and ``tmxd autopilot`` turn them into the project's ``[notify]`` commands).
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tmxd import paths, proc
from tmxd.autopilot import baseline, routing, state, workspace, worktrees
from tmxd.autopilot.agents import Agent, describe_denial, expand_template, make_agent
from tmxd.autopilot.attempt import INTERRUPTED, SETUP_ERROR, Attempt, AttemptResult, Place
from tmxd.autopilot.config import AutopilotConfig
from tmxd.autopilot.notes import link_commits, mark_reverted
from tmxd.autopilot.plan import (
    DONE,
    Gate,
    Outcome,
    Plan,
    Unit,
    Waiting,
    explain,
    plan_tasks,
    related,
)
from tmxd.autopilot.resilience import (
    RESET_COMMAND,
    Backoff,
    BreakerSnapshot,
    CircuitBreaker,
    load_snapshot,
    save_snapshot,
)
from tmxd.autopilot.tools import MissingTool
from tmxd.errors import InputError, TmxdError
from tmxd.fsutil import acquire
from tmxd.history.observe import attributed
from tmxd.metrics.recorder import Recorder
from tmxd.taskmaster import ops
from tmxd.taskmaster.document import TasksFile
from tmxd.taskmaster.project import Project
from tmxd.taskmaster.store import TaskStore

SEQUENTIAL_LOCK = "sequential.lock"
STOP_REQUESTED = "stop requested"
ONCE = "--once"

# ``on_event(kind, data)``: the event rows this run records (``autopilot.done`` …), as
# they happen, for whoever runs the autopilot.
EventHook = Callable[[str, dict[str, Any]], None]


def _tmxd() -> tuple[str, ...]:
    command, args = paths.tmxd_command()
    return (command, *args)


@dataclass
class RunOptions:
    once: bool = False
    parallel: int | None = None
    task_id: str | None = None
    dry_run: bool = False
    max_cost_usd: float | None = None
    tag: str | None = None
    allow_dirty: bool = False
    reset_breaker: bool = False  # close the circuit breaker first
    baseline: bool | None = None  # run the checks before any change (None: the config says)
    reuse_failed_baseline: bool = False  # the daemon: a failing baseline is not re-run at once


@dataclass
class UnitResult:
    unit: Unit
    outcome: Outcome
    attempts: int
    cost_usd: float
    detail: str
    status: str = ""  # the task's status afterwards (blocked/pending for a failure)


ATTEMPT_VERDICTS = ("succeeded", "failed", "interrupted")


@dataclass
class RunSummary:
    results: list[UnitResult] = field(default_factory=list)
    gated: list[Gate] = field(default_factory=list)
    planned: list[Unit] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    stop_reason: str = ""
    breaker: str = "closed"
    cost_usd: float = 0.0
    execution_ids: list[int] = field(default_factory=list)
    # this run's attempts as its ``executions`` rows tell them: succeeded/failed/interrupted
    attempts: Counter[str] = field(default_factory=Counter)
    problem: str = ""  # a setup problem that stopped the run (a tool the checks need)
    checks: list[str] = field(default_factory=list)  # --dry-run: the checks, as found

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def to_review(self) -> int:
        return len(self.gated) + self.count("review")

    @property
    def ok(self) -> bool:
        failed = any(r.outcome == "failed" for r in self.results)
        return not failed and self.breaker != "open" and not self.problem


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
        on_event: EventHook | None = None,
    ) -> None:
        self.project = project
        self.on_event = on_event
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
        self.worktree_base = worktrees.base_dir(self.root, config.worktree_dir)
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
            mcp_server=(*_tmxd(), "mcp") if config.mcp else (),
        )
        self.backoff = Backoff(config.backoff_base_s, config.backoff_cap_s, config.max_attempts)
        self._breaker_lock = threading.Lock()
        self._resetting = False
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
        self._executions: list[int] = []
        self._runs = itertools.count(1)
        self._problem = ""  # a setup problem that stopped the run
        self._baselined = False
        self._top: Path | None = None
        self._lock_fd: int | None = None
        self._synced = False  # the spool was drained before the run started anything
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
            if not self._resetting:  # a reset by hand says so itself
                self.out(f"circuit breaker {old.state} → {new.state}")
            self._event(
                "autopilot.breaker",
                {
                    "from": old.state,
                    "to": new.state,
                    "failures": new.failures,
                    "reason": new.reason,
                },
            )

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        """An event row, and the same for ``on_event``."""
        if self.recorder is not None:
            self.recorder.event(self.root, kind, data)
        if self.on_event is not None:
            self.on_event(kind, data)

    def _outcome(self, result: UnitResult) -> UnitResult:
        """The one place a task's outcome is known: record it as an event row.

        ``autopilot.done``, ``autopilot.failed`` (``status``: blocked or pending) and
        ``autopilot.review`` carry the task, its title, route, attempts and detail.
        """
        if result.outcome in ("done", "failed", "review"):
            self._event(
                f"autopilot.{result.outcome}",
                {
                    "task_id": result.unit.id,
                    "tag": self.tag,
                    "title": result.unit.task.title,
                    "route": result.unit.route,
                    "attempts": result.attempts,
                    "status": result.status,
                    "detail": result.detail[:500],
                },
            )
        return result

    def _read(self) -> TasksFile:
        # agents run beside this loop: one may be saving tasks.json in place right now
        return self.store.read_settled()

    def _set_status(self, task_id: str, status: str) -> None:
        # Attributed, so the transition rows say "autopilot" and the daemon's engine
        # does not record the same change again as an outside edit.
        with attributed(self.root, self.project.tasks_path, "autopilot", self.recorder):
            ops.set_status(self.store, [task_id], status, tag=self.tag)

    def _note(self, task_id: str, text: str) -> None:
        ops.append_note(self.store, task_id, text, tag=self.tag)

    def _scores(self) -> dict[str, float]:
        return routing.load_scores(self.project.complexity_report_path(self.tag))

    def plan(self, tasks_file: TasksFile) -> Plan:
        approved = self.state.read()["approved"]
        plan = plan_tasks(
            tasks_file,
            self.tag,
            self._scores(),
            self.rules,
            lambda tid: state.task_key(self.tag, tid) in approved,
        )
        only = self.options.task_id
        if only is not None:
            plan.units = [u for u in plan.units if related(u.id, only)]
            plan.gates = [g for g in plan.gates if related(g.task.id, only)]
        return plan

    def waiting(self, tasks_file: TasksFile, plan: Plan) -> list[Waiting]:
        """Why the tasks this plan does not run are not ready (``--task``: that subtree)."""
        reviews = self.state.read()["reviews"]

        def review_reason(task_id: str) -> str | None:
            found = reviews.get(state.task_key(self.tag, task_id))
            return (
                str(found.get("detail") or found.get("kind")) if isinstance(found, dict) else None
            )

        found = explain(tasks_file, self.tag, plan, review_reason)
        only = self.options.task_id
        if only is not None:
            found = [w for w in found if related(w.id, only)]
        return found

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
            landed = self._landed(task_id, claim)
            if landed is not None:
                # killed between its commit (or merge) and "done": the work is in
                if task is not None and task.status == "in-progress":
                    self._set_status(task_id, DONE)
                    self._note(
                        task_id,
                        f"tmxd autopilot: an interrupted run was recovered; its work had "
                        f"landed ({landed}) before it died, so the task is done",
                    )
                self.state.release(self.tag, task_id)
                continue
            patch = self._recover_workspace(task_id, claim.get("workspace"))
            previous = str(claim.get("previous") or "pending")
            if task is not None and task.status == "in-progress":
                self._set_status(task_id, previous)
                self._note(
                    task_id,
                    "tmxd autopilot: an interrupted run was recovered; "
                    f"status restored to {previous}"
                    + (
                        f"; its unfinished changes were saved to {patch} and removed"
                        if patch
                        else ""
                    ),
                )
                restored.append(task_id)
            self.state.release(self.tag, task_id)
        if restored:
            self.out("recovered interrupted tasks: " + ", ".join(restored))
        return restored

    def _landed(self, task_id: str, claim: dict[str, Any]) -> str | None:
        """Did a killed attempt's work reach the current branch before the run died?

        A worktree task: its branch has commits of its own and HEAD contains them. A
        sequential one: a commit since the attempt began carries its ``Task:`` trailer.
        """
        try:
            base = claim.get("branch_base")
            if isinstance(base, str) and base:
                branch = worktrees.branch_name(task_id)
                if not worktrees.branch_exists(self.root, branch):
                    return None
                tip = worktrees.git(self.root, "rev-parse", branch).stdout.strip()
                merged = worktrees.git(
                    self.root, "merge-base", "--is-ancestor", tip, "HEAD", check=False
                )
                return f"merged from {branch}" if tip != base and merged.returncode == 0 else None
            saved = claim.get("workspace")
            if isinstance(saved, dict) and isinstance(saved.get("head"), str):
                log = worktrees.git(
                    self.root,
                    "log",
                    "--format=%h %(trailers:key=Task,valueonly,separator=%x2C)",
                    f"{saved['head']}..HEAD",
                    check=False,
                ).stdout
                for line in log.splitlines():
                    sha, _, ids = line.partition(" ")
                    if task_id in [i.strip() for i in ids.split(",")]:
                        return f"commit {sha}"
        except TmxdError:
            return None
        return None

    def _recover_workspace(self, task_id: str, saved: Any) -> Path | None:
        """Take a killed sequential attempt's changes out of the project (kept as a patch)."""
        if not isinstance(saved, dict):
            return None
        try:
            top = Path(str(saved["top"]))
            before = workspace.Snapshot(
                str(saved["head"]), str(saved["tree"]), saved.get("index_tree") or None
            )
            exclude = [str(p) for p in saved.get("exclude", [])]
            after = workspace.snapshot(top, exclude, state.project_dir(self.root))
            name = f"{self.tag}-{task_id}-killed-{int(time.time())}.patch"
            patch = workspace.save_patch(top, before, after, state.patches_dir(self.root) / name)
            workspace.restore(top, before, after)
        except (KeyError, TmxdError, OSError) as exc:
            self.out(f"task {task_id}: could not undo the killed attempt's changes: {exc}")
            return None
        return patch

    def _close_orphan_execution(self, exec_id: int) -> None:
        """Finish the row of an attempt whose run was killed (its claim still names it),
        unless the attempt had finished it before the run died."""
        assert self.recorder is not None
        rows = self.recorder.executions_by_id([exec_id])
        if not rows or rows[0].get("finished_at"):
            return
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

    def _apply_gate(self, gate: Gate) -> str | None:
        """Send a gated task to review, or expand it: "review", "expanded", or None when
        nothing changed (an in-progress task already waiting was told once)."""
        task = gate.task
        if task.status != "pending" and self.state.review(self.tag, task.id) is not None:
            return None
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
                    return None
                refreshed = self._read().find(task.id, self.tag)
                if res.ok and refreshed is not None and refreshed.subtasks:
                    return "expanded"
                detail = res.describe() if not res.ok else "it produced no subtasks"
            self._review(task.id, "expand", f"expand command: {detail}")
            self._note(
                task.id,
                f"tmxd autopilot: the expand command failed ({detail}); "
                f"expand task {task.id} by hand, or run it whole with "
                f"`tmxd approve {task.id}`",
            )
            return self._gated(gate, f"expand command: {detail}")
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
        return self._gated(gate, gate.reason)

    def _gated(self, gate: Gate, detail: str) -> str:
        route: routing.Route = "critical" if gate.kind == "critical" else "complex"
        unit = Unit(gate.task, gate.task, route, gate.reason)
        self._outcome(UnitResult(unit, "review", 0, 0.0, f"{gate.kind}: {detail}", "review"))
        return "review"

    def _review(self, task_id: str, kind: str, detail: str) -> None:
        """Record why the task waits; it goes to ``review``, except a task in progress
        held at the gate, which keeps its status (its subtasks wait instead)."""
        self.state.set_review(self.tag, task_id, kind, detail)
        task = self._read().find(task_id, self.tag)
        if task is not None and (task.status == "pending" or kind == "merge"):
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

    def _release_trial(self) -> None:
        """A run let through by a half-open breaker ended without a verdict."""
        with self._breaker_lock:
            self.breaker.release_trial()

    def _halt(self, problem: str) -> None:
        """A setup problem (a tool the checks need is missing): nothing more starts."""
        with self._cost_lock:
            self._problem = self._problem or problem
        self.out(f"setup problem: {problem}")

    def _breaker_open(self) -> bool:
        with self._breaker_lock:
            return self.breaker.state == "open"

    def _verdict(self, success: bool, reason: str, run: str) -> None:
        with self._breaker_lock:
            if success:
                self.breaker.record_success()
            else:
                self.breaker.record_failure(reason, run)

    def top(self) -> Path:
        """The git top level of the project's repository."""
        if self._top is None:
            self._top = workspace.toplevel(self.root)
        return self._top

    def _own_paths(self) -> list[str]:
        """Files tmxd writes in the project: tasks.json (relative to the top level)."""
        try:
            rel = self.project.tasks_path.resolve().relative_to(self.top().resolve())
        except ValueError:
            return []
        return [rel.as_posix()]

    def run_unit(self, unit: Unit) -> UnitResult:
        """Claim, run (with retries), validate and settle one unit."""
        if not self._allow():  # in half-open, this takes the one trial run
            return UnitResult(unit, "skipped", 0, 0.0, "circuit breaker open")
        previous = unit.task.status
        # Commits already spooled are linked against the state before this claim: git
        # dates them to the second, so one linked after it could land on this task.
        self._link_commits()
        if not self.state.claim(self.tag, unit.id, previous):
            self._release_trial()
            return UnitResult(unit, "skipped", 0, 0.0, "claimed by another autopilot")
        current = self._read().find(unit.id, self.tag)
        if current is None or current.status != previous:
            # Someone changed it between planning and claiming: it is theirs now.
            self.state.release(self.tag, unit.id)
            self._release_trial()
            return UnitResult(unit, "skipped", 0, 0.0, "changed by someone else")
        self._set_status(unit.id, "in-progress")
        self.out(f"task {unit.id}: in progress ({unit.route}: {unit.reason}) — {unit.task.title}")
        # this task run, for the breaker: its retries are failures of one run
        run = f"{unit.id} {os.getpid()}.{next(self._runs)}"
        wt: worktrees.Worktree | None = None
        try:
            if self.use_worktrees:
                wt = worktrees.create(self.root, unit.id, self.worktree_base)
                self.state.update_claim(self.tag, unit.id, branch_base=wt.base)
            return self._outcome(self._attempts(unit, previous, wt, run))
        except MissingTool as exc:
            # The project's own tool is missing: a setup problem, not the task's failure.
            self._release_trial()
            self._halt(exc.message)
            self._put_back(unit, previous, f"tmxd autopilot: could not check the work: {exc}")
            return self._outcome(
                UnitResult(unit, "interrupted", 0, 0.0, f"setup: {exc.message}", previous)
            )
        except TmxdError as exc:
            # The environment failed (git, the state dir, an unstartable agent): the task
            # is not to blame, so it goes back as it was; the breaker counts it.
            self._verdict(False, str(exc), run)
            self._put_back(unit, previous, f"tmxd autopilot: could not run the task: {exc}")
            self.out(f"task {unit.id}: could not run: {exc}")
            return self._outcome(UnitResult(unit, "failed", 0, 0.0, str(exc), previous))
        except BaseException:
            # Never leave a claimed task in progress behind an unexpected error.
            self._put_back(unit, previous, "tmxd autopilot: the run stopped on an internal error")
            raise
        finally:
            self.state.release(self.tag, unit.id)

    def _status_now(self, task_id: str) -> str | None:
        """The task's status in tasks.json now; None when it is gone."""
        task = self._read().find(task_id, self.tag)
        return task.status if task is not None else None

    def _not_retried(self, unit: Unit, previous: str, attempts: int, spent: float) -> UnitResult:
        """The breaker is open: the task goes back to ``previous`` instead of a retry."""
        self._put_back(
            unit,
            previous,
            "tmxd autopilot: the circuit breaker opened, so no retry for now; "
            f"status restored to {previous}",
        )
        self.out(f"task {unit.id}: not retried, the circuit breaker is open")
        return UnitResult(unit, "failed", attempts, spent, "circuit breaker open", previous)

    def _put_back(self, unit: Unit, previous: str, note: str) -> None:
        """The run gives the task up (interrupted, stopped, could not run): it goes back to
        the status it had. Whatever set another status while the autopilot held it (the
        agent, one of its commits, a tool) is not kept, and the note says so."""
        found = self._status_now(unit.id)
        if found is None:
            return
        if found not in ("in-progress", previous):
            note += f"; {_not_trusted(found)}"
        if found != previous:
            self._set_status(unit.id, previous)
        self._note(unit.id, note)

    def _place(self, wt: worktrees.Worktree | None) -> Place:
        own = self._own_paths()
        if wt is None:
            return Place(self.top(), self.root, tuple(own))
        return Place(wt.path, wt.workdir, tuple(dict.fromkeys([*own, *wt.provisioned])), wt)

    def _attempts(
        self, unit: Unit, previous: str, wt: worktrees.Worktree | None, run: str
    ) -> UnitResult:
        """Attempts until one succeeds, the task gives up, or the run stops.

        While they run, the autopilot owns the task's status: whatever changes it
        meanwhile (the agent editing tasks.json, a ``Closes-Task:`` commit of the agent,
        a tool call, a person) does not decide the outcome — the attempt's evidence does.
        """
        place = self._place(wt)
        spent = 0.0
        attempt = 0
        keep_branch = False
        try:
            while True:
                attempt += 1
                if attempt > 1 and not self._allow():
                    return self._not_retried(unit, previous, attempt - 1, spent)
                result = self.attempt.run(unit, attempt, place)
                if result.execution_id is not None:
                    self._executions.append(result.execution_id)
                self._spent(result.cost_usd)
                spent += result.cost_usd or 0.0
                if result.error is not None and result.error.startswith(SETUP_ERROR):
                    self._release_trial()
                    problem = result.error.removeprefix(SETUP_ERROR)
                    self._halt(problem)
                    self._reverted(unit, attempt, result)
                    self._put_back(
                        unit,
                        previous,
                        f"tmxd autopilot: attempt {attempt}'s work could not be checked "
                        f"({problem}); status restored to {previous}{_saved(result)}",
                    )
                    return UnitResult(
                        unit, "interrupted", attempt, spent, f"setup: {problem}", previous
                    )
                if result.error == INTERRUPTED:
                    self._release_trial()
                    self._reverted(unit, attempt, result)
                    self._put_back(
                        unit,
                        previous,
                        f"tmxd autopilot: attempt {attempt} was "
                        f"interrupted; status restored to {previous}{_saved(result)}",
                    )
                    self.out(f"task {unit.id}: interrupted; status restored to {previous}")
                    return UnitResult(unit, "interrupted", attempt, spent, INTERRUPTED, previous)
                self._verdict(result.ok, result.error or "", run)
                if result.ok:
                    found = self._status_now(unit.id)
                    if found is None:
                        return self._gone(unit, attempt, spent, place, result)
                    settled = self._settle(unit, attempt, spent, place, result, found)
                    keep_branch = settled.outcome == "review"
                    return settled
                found = self._after_failure(unit, attempt, result)
                if found is None:
                    return self._gone(unit, attempt, spent, place, result)
                retry = self.backoff.should_retry(attempt) and not self._over_budget()
                if not retry:
                    final = self.config.on_failure
                    self._set_status(unit.id, final)
                    if found != "in-progress":
                        self._note(unit.id, f"tmxd autopilot: {_not_trusted(found)}: {final}")
                    self.out(f"task {unit.id}: failed after {attempt} attempt(s) → {final}")
                    return UnitResult(unit, "failed", attempt, spent, result.error or "", final)
                if self._breaker_open():  # other tasks failed too: no retry now
                    return self._not_retried(unit, previous, attempt, spent)
                if found != "in-progress":
                    self._set_status(unit.id, "in-progress")
                    self._note(
                        unit.id,
                        f"tmxd autopilot: {_not_trusted(found)}: in-progress for attempt "
                        f"{attempt + 1}",
                    )
                delay = self.backoff.delay(attempt, self.rng)
                self.out(f"task {unit.id}: attempt {attempt} failed; retrying in {delay:.1f}s")
                if self.stop.wait(delay):
                    self._put_back(
                        unit,
                        previous,
                        f"tmxd autopilot: stopped before a retry; status restored to {previous}",
                    )
                    self.out(
                        f"task {unit.id}: stopped before a retry; status restored to {previous}"
                    )
                    return UnitResult(unit, "interrupted", attempt, spent, INTERRUPTED, previous)
                if wt is not None:
                    worktrees.reset(wt, self.top())
        finally:
            if wt is not None:
                worktrees.finish(self.root, wt, keep_branch=keep_branch, review=keep_branch)

    def _after_failure(self, unit: Unit, attempt: int, result: AttemptResult) -> str | None:
        """A failed attempt's effects on tasks.json, settled now: the status it leaves."""
        self._reverted(unit, attempt, result)
        return self._status_now(unit.id)

    def _reverted(self, unit: Unit, attempt: int, result: AttemptResult) -> None:
        """Commits the agent made were taken off the branch with the attempt's changes.

        Their spool lines are drained now, so their notes and ``Closes-Task:`` land before
        the verdict rather than after it; then their notes are marked as reverted: a note
        never points to a commit no branch contains without saying so.
        """
        if not result.reverted:
            return
        self._link_commits()
        where = f"; its changes are in {result.patch}" if result.patch else ""
        why = "failed" if result.error != INTERRUPTED else "was interrupted"
        marked = mark_reverted(
            self.project,
            self.tag,
            result.reverted,
            f"reverted by tmxd autopilot: attempt {attempt} of task {unit.id} {why}, "
            f"the commit is on no branch{where}",
            self.recorder,  # and out of the metrics: they follow the history
        )
        if marked:
            self.out(
                f"task {unit.id}: its commit(s) were taken off the branch; the commit notes "
                f"on task(s) {', '.join(marked)} say so"
            )

    def _gone(
        self, unit: Unit, attempt: int, spent: float, place: Place, result: AttemptResult
    ) -> UnitResult:
        """The task was deleted from tasks.json while its attempt ran: nothing to mark;
        validated work is kept as a patch, not committed."""
        detail = "the task was deleted while the agent worked"
        if result.ok and result.before is not None and result.after is not None:
            patch = self.attempt.discard(unit, attempt, place, result.before, result.after)
            if patch is not None:
                detail += f"; its work was saved to {patch}"
        elif result.patch is not None:
            detail += f"; its work was saved to {result.patch}"
        self.out(f"task {unit.id}: {detail}")
        return UnitResult(unit, "failed", attempt, spent, detail, "deleted")

    def _over_budget(self) -> bool:
        ceiling = self._ceiling()
        return ceiling is not None and self.cost >= ceiling

    def _ceiling(self) -> float | None:
        if self.options.max_cost_usd is not None:
            return self.options.max_cost_usd if self.options.max_cost_usd > 0 else None
        return self.config.max_cost_usd if self.config.max_cost_usd > 0 else None

    def _settle(
        self,
        unit: Unit,
        attempt: int,
        spent: float,
        place: Place,
        result: AttemptResult,
        found: str = "in-progress",
    ) -> UnitResult:
        """Validated work: commit it (and merge a worktree's branch), then mark it done.

        ``found`` is the status tasks.json had when the attempt ended: one set meanwhile
        is replaced by the outcome (the note says so).
        """
        assert result.before is not None and result.after is not None
        detail = f"done on attempt {attempt} ({unit.route})"
        if spent:
            detail += f", ${spent:.4f}"
        if found not in ("in-progress", DONE):
            detail += f"; the status {found!r} set while the attempt ran was replaced"
        elif found == DONE:
            detail += "; it had been set to done before its checks passed"
        wt = place.worktree
        message = f"{_subject(unit.task.title, unit.id)}\n\nTask: {unit.id}\n"
        if wt is not None or self.config.commit:
            try:
                sha = workspace.commit(place.top, result.before, result.after, message)
            except TmxdError as exc:
                if wt is None:
                    self.attempt.discard(unit, attempt, place, result.before, result.after)
                raise TmxdError(f"could not commit the task's work: {exc}") from exc
            if sha is not None:
                detail += f"; committed {sha[:7]}"
        elif workspace.changed(result.before, result.after):
            detail += "; changes left uncommitted (autopilot.commit = false)"
        if result.denials:
            detail += "; refused tool calls: " + ", ".join(
                describe_denial(d) for d in result.denials
            )
        if wt is not None:
            merged = worktrees.merge_back(
                self.root, wt, f"Merge task {unit.id}: {_subject(unit.task.title, unit.id)}"
            )
            if not merged.merged:
                self._review(unit.id, "merge", merged.detail)
                self._note(
                    unit.id,
                    f"tmxd autopilot: the work passed validation but could not be merged "
                    f"({merged.detail}); branch {wt.branch} is kept, checked out in "
                    f"{wt.path}. {merged.fix or worktrees.resolve_hint(wt)}, then "
                    f"`tmxd approve {unit.id}` merges it; `tmxd reject {unit.id}` drops it",
                )
                self.out(
                    f"task {unit.id}: review — {merged.detail}; branch {wt.branch} kept in "
                    f"{wt.path}"
                )
                self._link_commits()
                return UnitResult(unit, "review", attempt, spent, merged.detail, "review")
            detail += f"; {merged.detail}"
        self._set_status(unit.id, DONE)
        self._note(unit.id, f"tmxd autopilot: {detail}")
        self._link_commits()
        self.out(f"task {unit.id}: {detail}")
        return UnitResult(unit, "done", attempt, spent, detail, DONE)

    def _link_commits(self) -> None:
        problem = link_commits(self.project, self.recorder, self.tag)
        if problem is not None:
            self.out(problem)

    # -- the loop ----------------------------------------------------------------

    def _prepare(self) -> None:
        """Before dispatching: a usable repository, agent and worktree place; no leftovers;
        a sequential run alone in the project."""
        worktrees.require_repo(self.root)
        if self.use_worktrees:
            worktrees.require_location(self.root, self.worktree_base)
        self._check_agent()
        self.attempt.checks(self.root)  # a tool the checks need, missing: say so now, once
        if not self.use_worktrees:
            self._hold_the_project()
        # Commits made before the run are linked against the state before it (as `tmxd
        # sync` would have), before the run recovers, gates or claims anything.
        self._link_commits()
        self._synced = True
        self.recover()
        data = self.state.read()
        keep = {
            key.split(":", 1)[1]
            for key, claim in data["claims"].items()
            if isinstance(claim, dict)
            and isinstance(claim.get("pid"), int)
            and proc.pid_alive(claim["pid"])
        } | {
            key.split(":", 1)[1]
            for key, review in data["reviews"].items()
            if isinstance(review, dict) and review.get("kind") == "merge"
        }
        spares = max(self.parallel or 0, self.config.parallel)
        removed = worktrees.prune(self.root, self.worktree_base, keep, spares)
        if removed:
            self.out("removed leftovers of earlier runs: " + ", ".join(removed))
        if not self.use_worktrees and not self.options.allow_dirty:
            found = workspace.dirty(self.top(), [".taskmaster/"])
            if found:
                shown = ", ".join(found[:5]) + (
                    f" and {len(found) - 5} more" if len(found) > 5 else ""
                )
                raise InputError(
                    f"{self.top()}: uncommitted changes ({shown}); the autopilot commits each "
                    "task on this branch, so commit or stash them first, or pass --allow-dirty "
                    "(they are left untouched)"
                )

    def _hold_the_project(self) -> None:
        """A sequential run works in the project itself: no other run may start tasks
        there meanwhile (parallel runs, the daemon's too, wait while it holds this)."""
        lock = state.project_dir(self.root) / SEQUENTIAL_LOCK
        lock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = acquire(lock, wait=False)
        if fd is None:
            raise InputError(
                f"{self.root}: another sequential `tmxd autopilot` is running in this project"
            )
        self._lock_fd = fd
        others = {
            claim["pid"]
            for claim in self.state.read()["claims"].values()
            if isinstance(claim, dict)
            and isinstance(claim.get("pid"), int)
            and claim["pid"] != os.getpid()
            and proc.pid_alive(claim["pid"])
        }
        if others:
            raise InputError(
                f"{self.root}: another autopilot (pid {min(others)}) is running tasks of this "
                "project; a sequential run works in the project itself, so wait for it to "
                "finish, or run with --parallel"
            )

    def _sequential_running(self) -> bool:
        """Is a sequential run working in the project itself (so nothing else starts)?"""
        if not self.use_worktrees:
            return False
        lock = state.project_dir(self.root) / SEQUENTIAL_LOCK
        if not lock.exists():
            return False
        fd = acquire(lock, wait=False)
        if fd is None:
            return True
        os.close(fd)
        return False

    def run(self) -> RunSummary:
        """Dispatch until nothing is ready, ``--once`` is satisfied, or a stop."""
        try:
            return self._run()
        finally:
            if self._synced:
                # The hook lines of the run's last git commands (a worktree cleaned into
                # a spare checks it out) are the run's own: none is left waiting.
                self._link_commits()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def _run(self) -> RunSummary:
        summary = RunSummary()
        if self.options.reset_breaker:
            self.reset_breaker()
        if not self.options.dry_run:
            self._prepare()
        if self.options.task_id is not None:
            self._check_task(self.options.task_id)
        slots = self.parallel or 1
        running: dict[Future[UnitResult], Unit] = {}
        dispatched = 0
        tried: set[str] = set()
        try:
            with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="tmxd-agent") as pool:
                while True:
                    state_now, why_not = self._why_not_dispatch(dispatched)
                    if why_not and why_not != ONCE:
                        summary.stop_reason = why_not
                    if self.options.dry_run:
                        self._dry_run(summary, state_now)
                        break
                    started = 0
                    if not why_not:
                        plan = self.plan(self._read())
                        if plan.units:
                            self._baseline()  # before anything changes; raises if they fail
                        changed_graph = False
                        for gate in plan.gates:
                            applied = self._apply_gate(gate)
                            changed_graph = changed_graph or applied is not None
                            if applied == "review":
                                summary.gated.append(gate)
                        limit = 1 if state_now == "half-open" else slots
                        for unit in plan.units:
                            if len(running) >= limit or self._breaker_open():
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
                        if changed_graph and not started and not running:
                            continue  # gates changed the graph; look again
                    if not running:
                        summary.stop_reason = summary.stop_reason or self._finished(
                            summary, dispatched
                        )
                        break
                    # in flight: wait for them even when stopping, so every task the run
                    # touched is in the summary with its outcome
                    done, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
                    for fut in done:
                        running.pop(fut)
                        result = fut.result()
                        if result.outcome != "skipped" or result.attempts:
                            summary.results.append(result)
        finally:
            summary.cost_usd = self.cost
            summary.breaker = self.breaker.state
            summary.execution_ids = list(self._executions)
            summary.attempts = self._count_attempts()
            summary.problem = self._problem
        return summary

    def _why_not_dispatch(self, dispatched: int) -> tuple[str, str]:
        """The breaker's state, and why nothing new may start now ("" when it may)."""
        with self._breaker_lock:
            state_now = self.breaker.state
        if self.stop.is_set():
            return state_now, STOP_REQUESTED
        if self._problem:
            return state_now, f"setup problem: {self._problem}"
        if state_now == "open":
            return state_now, "circuit breaker open: " + self.breaker.describe()
        ceiling = self._ceiling()
        if ceiling is not None and self.cost >= ceiling:
            return state_now, f"cost ceiling ${ceiling:g} reached (${self.cost:.4f})"
        if self.options.once and dispatched:
            return state_now, ONCE
        if self._sequential_running():
            return state_now, "a sequential run is working in the project itself"
        return state_now, ""

    def _finished(self, summary: RunSummary, dispatched: int) -> str:
        """Why a run that ran out of work stopped: true to what happened in it."""
        if not dispatched:
            return "nothing ready"
        all_done = all(r.outcome == DONE for r in summary.results) and not summary.gated
        if self.options.once:
            return f"{ONCE}: {dispatched} task(s) started" + (", all done" if all_done else "")
        return "all done" if all_done else "nothing more is ready"

    def _dry_run(self, summary: RunSummary, state_now: str) -> None:
        """What would start now, what would go to review, and why the rest waits. With the
        breaker open, the agent program missing or a tool the checks need missing, nothing
        would start (as a real run would stop): what is ready waits for it, and says so."""
        tasks_file = self._read()
        plan = self.plan(tasks_file)
        summary.waiting = self.waiting(tasks_file, plan)
        held_by = self._dry_run_agent()
        summary.checks = self._dry_run_checks()
        if not held_by and self._problem:
            held_by = "the checks cannot run: a tool they need is missing"
        summary.stop_reason = summary.stop_reason or "dry run"
        held: list[Waiting] = []
        if state_now == "open" or held_by:
            why = (
                f"circuit breaker open (`{RESET_COMMAND}` closes it)"
                if state_now == "open"
                else held_by
            )
            held = [Waiting(u.id, u.task.title, why) for u in plan.units]
            held += [Waiting(g.task.id, g.task.title, why) for g in plan.gates]
        else:
            summary.planned = plan.units
            summary.gated = plan.gates
            if state_now == "half-open" and len(plan.units) > 1:
                summary.planned = plan.units[:1]
                why = "circuit breaker half-open: one trial run first"
                held = [Waiting(u.id, u.task.title, why) for u in plan.units[1:]]
        summary.waiting = held + summary.waiting

    def _baseline(self) -> None:
        """Once per run, before its first attempt: the checks on the untouched tree
        (see ``baseline``); BaselineFailed when they fail already."""
        if self._baselined:
            return
        self._baselined = True
        wanted = self.options.baseline
        if not (self.config.baseline if wanted is None else wanted):
            return
        reuse = self.config.breaker_cooldown_s if self.options.reuse_failed_baseline else 0.0
        baseline.require_passing(
            self.attempt.checks(self.root),
            self.root,
            top=self.top(),
            exclude=self._own_paths(),
            state_dir=state.project_dir(self.root),
            timeout_s=self.config.validate_timeout_s,
            tail_lines=self.config.output_tail_lines,
            env=self.env,
            cancel=self.stop,
            out=self.out,
            reuse_failure_s=reuse,
        )

    def _dry_run_agent(self) -> str:
        """A run would stop before any task if the agent program is missing (see
        ``_check_agent``): note it as the run's setup problem, and say why tasks wait."""
        try:
            self._check_agent()
        except TmxdError as exc:
            self._problem = exc.message
            return "the agent program is missing"
        return ""

    def _dry_run_checks(self) -> list[str]:
        """The checks a run would use now, with the programs found for them."""
        try:
            return [c.describe() for c in self.attempt.checks(self.root)]
        except MissingTool as exc:
            self._problem = self._problem or exc.message  # a run names the agent first
            return []

    def reset_breaker(self) -> str:
        """Close the circuit breaker by hand (``--reset-breaker``); one line saying so."""
        with self._breaker_lock:
            self._resetting = True
            try:
                old = self.breaker.reset()
            finally:
                self._resetting = False
        if old.state == "closed":
            line = "circuit breaker: already closed"
        else:
            line = (
                f"circuit breaker closed by hand (it was {old.state}; last failure: {old.reason})"
            )
        self.out(line)
        return line

    def _count_attempts(self) -> Counter[str]:
        """This run's attempts by verdict, counted from its ``executions`` rows."""
        counts: Counter[str] = Counter()
        if self.recorder is None or not self._executions:
            return counts
        for row in self.recorder.executions_by_id(self._executions):
            if row.get("success") == 1:
                counts["succeeded"] += 1
            elif str(row.get("error") or "").startswith(INTERRUPTED):
                counts["interrupted"] += 1
            else:
                counts["failed"] += 1
        return counts

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
        """``--task X``: X exists, is not finished, and can run now (exit 2 saying why not)."""
        tasks_file = self._read()
        task = tasks_file.find(task_id, self.tag)
        if task is None:
            raise InputError(f"task {task_id} not found in tag {self.tag}; see `tmxd list`")
        if task.status in (DONE, "cancelled"):
            raise InputError(f"task {task_id} is {task.status}; nothing to run")
        plan = self.plan(tasks_file)
        if plan.units or plan.gates:
            return
        waiting = self.waiting(tasks_file, plan)
        if not waiting:
            raise InputError(f"task {task_id} has nothing left to run; see `tmxd show {task_id}`")
        first = waiting[0]
        which = "" if first.id == task_id else f"{first.id}: "
        raise InputError(f"task {task_id} is not ready: {which}{first.reason}")


def _not_trusted(found: str) -> str:
    return (
        f"the status {found!r} set while the attempt ran (by the agent, a commit of its, a "
        "tool or anyone: tmxd cannot tell) is not trusted; the attempt's outcome decides"
    )


def _saved(result: AttemptResult) -> str:
    return f"; its changes were saved to {result.patch}" if result.patch else ""


def _subject(title: str, task_id: str) -> str:
    line = " ".join(title.split())
    return line or f"Task {task_id}"


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
        "tasks": snap.tasks,
        "fix": RESET_COMMAND if breaker.state != "closed" else "",
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
    on_event: EventHook | None = None,
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
            options=RunOptions(once=True, parallel=config.parallel, reuse_failed_baseline=True),
            stop=stop,
            out=out,
            on_event=on_event,
        )
        return pilot.run()
    finally:
        lock.release()


def log_lines(summary: RunSummary) -> Iterable[str]:
    """A short human summary of a run: tasks by outcome, then attempts from their rows."""
    failed = [r for r in summary.results if r.outcome == "failed"]
    statuses = sorted({r.status for r in failed if r.status})
    line = (
        f"autopilot: {summary.count('done')} done, {len(failed)} failed"
        + (f" ({', '.join(statuses)})" if statuses else "")
        + f", {summary.to_review} to review, {summary.count('interrupted')} interrupted"
    )
    a = summary.attempts
    if a.total():
        line += f"; {a.total()} attempt(s): {a['succeeded']} succeeded, {a['failed']} failed" + (
            f", {a['interrupted']} interrupted" if a["interrupted"] else ""
        )
    if summary.cost_usd:
        line += f"; ${summary.cost_usd:.4f}"
    yield line
    for r in summary.results:  # a task left unfinished is named, not only counted
        if r.outcome == "interrupted":
            title = r.unit.task.title
            yield f"interrupted: task {r.unit.id} ({title}), status restored to {r.status}"
    if summary.stop_reason:
        yield f"stopped: {summary.stop_reason}"
