"""The ``tmxd init`` / ``tmxd doctor`` part of ``tmxd demo``.

:func:`init_and_doctor` shows, on the demo's throwaway project, what
``tmxd init --dry-run`` would write (one line per file), writes it, installs
the git hooks, and prints ``tmxd doctor``'s checklist. It never registers the
throwaway project with the user's daemon and needs no Node, network or key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tmxd import doctor, scaffold


def init_and_doctor(root: Path, say: Callable[[str], None]) -> list[doctor.CheckResult]:
    """Run the step in ``root``; report through ``say``; return doctor's results."""
    plan = scaffold.plan(root)
    say("$ tmxd init --dry-run")
    for change in plan.changes:
        rel = change.path.relative_to(root).as_posix()
        added = sum(
            1
            for line in change.diff(root).splitlines()
            if line.startswith("+") and not line.startswith("+++")
        )
        say(f"  {rel}: would {change.action} (+{added} lines)")
    scaffold.apply(plan.changes)
    step = scaffold.install_git_hooks(root)
    say(f"$ tmxd init --yes   (files written; {step.name}: {step.message})")
    again = scaffold.plan(root)
    say(f"  a second run would change {len(again.pending)} file(s)")
    say("$ tmxd doctor")
    results = doctor.run_checks(root)
    for result in results:
        say(f"  {result.status:<4} {result.name}: {result.summary}")
        if result.status != "ok" and result.fix:
            say(f"       fix: {result.fix}")
    return results
