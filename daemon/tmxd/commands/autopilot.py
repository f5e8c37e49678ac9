"""``tmxd autopilot``, ``tmxd approve`` and ``tmxd reject``."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from tmxd.commands.common import echo, echo_json, format_option, project_option, tag_option

EXIT_SIGINT = 130
EXIT_SIGTERM = 143


def _summary_json(summary: Any) -> dict[str, Any]:
    from tmxd.autopilot.runner import ATTEMPT_VERDICTS

    return {
        "results": [
            {
                "task": r.unit.id,
                "route": r.unit.route,
                "outcome": r.outcome,
                "attempts": r.attempts,
                "status": r.status,
                "cost_usd": round(r.cost_usd, 6),
                "detail": r.detail,
            }
            for r in summary.results
        ],
        "planned": [
            {"task": u.id, "title": u.task.title, "route": u.route, "reason": u.reason}
            for u in summary.planned
        ],
        "review": [{"task": g.task.id, "gate": g.kind, "reason": g.reason} for g in summary.gated],
        "not_ready": [
            {"task": w.id, "title": w.title, "reason": w.reason} for w in summary.waiting
        ],
        "attempts": {
            "total": summary.attempts.total(),
            **{v: summary.attempts[v] for v in ATTEMPT_VERDICTS},
        },
        "cost_usd": round(summary.cost_usd, 6),
        "breaker": summary.breaker,
        "stop_reason": summary.stop_reason,
        "problem": summary.problem,
        "checks": summary.checks,
    }


@click.command("autopilot")
@project_option
@tag_option
@click.option("--once", is_flag=True, help="Run one task (one batch with --parallel), then exit.")
@click.option(
    "--parallel",
    type=click.IntRange(min=1),
    default=None,
    help="Run up to N independent tasks at once, each in its own git worktree.",
)
@click.option("--task", "task_id", default=None, help="Run only this task (or its subtasks).")
@click.option("--dry-run", is_flag=True, help="Show what would run, with routes; change nothing.")
@click.option(
    "--max-cost",
    "max_cost",
    type=click.FloatRange(min=0),
    default=None,
    help="Stop dispatching once this run has cost USD (overrides autopilot.max_cost_usd).",
)
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="Run sequentially even with uncommitted changes (they are left untouched).",
)
@click.option(
    "--reset-breaker",
    is_flag=True,
    help="Close the circuit breaker first (once the cause of its failures is fixed).",
)
@click.option(
    "--no-baseline",
    is_flag=True,
    help="Do not run the checks before the first attempt (overrides autopilot.baseline).",
)
@format_option("text", "json")
def autopilot_command(
    project: Path | None,
    tag: str | None,
    once: bool,
    parallel: int | None,
    task_id: str | None,
    dry_run: bool,
    max_cost: float | None,
    allow_dirty: bool,
    reset_breaker: bool,
    no_baseline: bool,
    fmt: str,
) -> None:
    """Run ready tasks through the agent: in progress → agent → checks → done.

    Ready means what `task-master next` would offer. Sequential by default, in
    the project itself: each task's work is committed on the current branch
    (trailer Task: <id>). With --parallel N, up to N tasks whose dependencies
    are met run at once, each in a git worktree outside the project on branch
    tmxd/task-<id>, merged back after validation. A task is done only on
    evidence: the agent succeeded, no edit was refused, something changed and
    the checks pass (run with the project's own tools, once before the first
    attempt too); a status the task gets meanwhile (the agent marking it done)
    is not trusted. Failed attempts are saved as patches, removed and retried
    with backoff; failures across several tasks open a circuit breaker, which
    --reset-breaker closes. Critical tasks wait in review for
    `tmxd approve ID`. The project's [notify] command hears of each task done,
    given back or left in review, and of the breaker opening.

    Exit codes: 0 all runs succeeded (or nothing was ready), 1 a task failed,
    the breaker is open, the checks fail before any change, or a tool they need
    (or the agent) is missing, 2 bad input (an unknown or unready --task, a
    dirty working tree), 130/143 stopped by SIGINT/SIGTERM (tasks restored).
    """
    from tmxd.autopilot import config as ap_config
    from tmxd.autopilot.runner import Autopilot, RunOptions, log_lines
    from tmxd.daemon import notify
    from tmxd.metrics.recorder import Recorder
    from tmxd.taskmaster.project import find_project

    if reset_breaker and dry_run:
        raise click.UsageError("--reset-breaker changes the breaker; --dry-run changes nothing")
    proj = find_project(project)
    cfg = ap_config.load(proj.root)
    notify_cfg = notify.load(proj.root)
    notifier = notify.Notifier()

    def on_event(kind: str, data: dict[str, Any]) -> None:
        notice = notify.from_autopilot(proj.root, kind, data)
        if notice is not None:
            notifier.send(notify_cfg, notice)

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    quiet = fmt == "json"
    options = RunOptions(
        once=once,
        parallel=parallel,
        task_id=task_id,
        dry_run=dry_run,
        max_cost_usd=max_cost,
        tag=tag,
        allow_dirty=allow_dirty,
        reset_breaker=reset_breaker,
        baseline=False if no_baseline else None,
    )
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        recorder = None if dry_run else Recorder.open()
        try:
            pilot = Autopilot(
                proj,
                cfg,
                recorder,
                options=options,
                stop=stop,
                out=(lambda line: None) if quiet else echo,
                on_event=on_event,
            )
            summary = pilot.run()
        finally:
            notifier.close()  # what is still queued gets a few seconds
            if recorder is not None:
                recorder.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        summary.stop_reason = f"interrupted by {signal.Signals(received[0]).name}"
    if fmt == "json":
        echo_json(_summary_json(summary))
    elif dry_run:
        _print_plan(summary)
    else:
        for line in log_lines(summary):
            echo(line)
    if received:
        raise click.exceptions.Exit(EXIT_SIGINT if received[0] == signal.SIGINT else EXIT_SIGTERM)
    if not summary.ok:
        raise click.exceptions.Exit(1)


EXPLAINED = 5
COLUMN = 8  # the narrowest the id and route columns get


def _print_plan(summary: Any) -> None:
    if summary.breaker == "open":
        echo(f"nothing would start: {summary.stop_reason}")
    elif summary.problem:
        echo(f"nothing would start: {summary.problem}")
    elif not summary.planned and not summary.gated:
        echo("nothing is ready to run")
    if summary.checks:
        echo("checks: " + "; ".join(summary.checks))
    rows = [("run", unit.id, unit.route, unit.task.title, unit.reason) for unit in summary.planned]
    rows += [
        (
            "review",
            gate.task.id,
            "approval" if gate.kind == "critical" else "expansion",
            gate.task.title,
            gate.reason,
        )
        for gate in summary.gated
    ]
    shown = summary.waiting[:EXPLAINED]
    # each column as wide as its widest value (at least COLUMN), so titles line up
    id_width = max([COLUMN, *(len(row[1]) for row in rows), *(len(w.id) for w in shown)])
    route_width = max([COLUMN, *(len(row[2]) for row in rows)])
    for verb, task_id, route, title, reason in rows:
        echo(f"{verb:<7} {task_id:<{id_width}} {route:<{route_width}} {title}  ({reason})")
    for waiting in shown:
        echo(f"{'wait':<7} {waiting.id:<{id_width}} {waiting.title}: {waiting.reason}")
    more = len(summary.waiting) - EXPLAINED
    if more > 0:
        echo(f"… and {more} more task(s) not ready (`--format json` lists them all)")


@click.command("approve")
@project_option
@tag_option
@click.argument("task_id")
@click.option("--note", default=None, help="Text appended to the task's details.")
def approve_command(project: Path | None, tag: str | None, task_id: str, note: str | None) -> None:
    """Let a task waiting in review go on.

    A critical (or unexpanded complex) task goes back to pending and the
    autopilot runs it. A task whose work could not be merged has its branch
    tmxd/task-<id> merged again: done once merged; if it still conflicts,
    exit 1 naming the branch and the files (resolve, then approve again).
    """
    from tmxd.autopilot.gate import approve
    from tmxd.taskmaster.project import find_project

    echo(approve(find_project(project), task_id, tag=tag, note=note))


@click.command("reject")
@project_option
@tag_option
@click.argument("task_id")
@click.option("--note", default=None, help="Why; appended to the task's details.")
def reject_command(project: Path | None, tag: str | None, task_id: str, note: str | None) -> None:
    """Turn down a task waiting in review.

    A critical (or unexpanded complex) task is deferred; a task whose work
    could not be merged goes back to pending and its branch is deleted.
    """
    from tmxd.autopilot.gate import reject
    from tmxd.taskmaster.project import find_project

    echo(reject(find_project(project), task_id, tag=tag, note=note))
