"""Routing: which of four classes a task belongs to, and so how it is run.

- ``simple``   → run the agent, then the basic validation commands;
- ``medium``   → run the agent, then the full validation;
- ``complex``  → a task without subtasks stops and asks to be expanded (or runs the
  configured expand command); with subtasks, its subtasks are run one by one;
- ``critical`` → the task goes to ``review`` until ``tmxd approve ID``.

The class comes from the complexity report's ``complexityScore`` when the report
scores the task, else from keyword rules over the title, description and details.
Critical keywords win over the score: the gate is about risk, not size.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from tmxd.errors import InputError

Route = Literal["simple", "medium", "complex", "critical"]
ROUTES: tuple[Route, ...] = ("simple", "medium", "complex", "critical")

DEFAULT_PATTERNS: dict[str, list[str]] = {
    "critical": [
        r"\bsecurity\b",
        r"\bauth(entication|orization)?\b",
        r"\bpayments?\b",
        r"\bbilling\b",
        r"\bproduction\b",
        r"\bdata migration\b",
        r"\bdelete (all|user) data\b",
        r"\bcredentials?\b",
        r"\bencrypt(ion)?\b",
    ],
    "complex": [
        r"\barchitecture\b",
        r"\brefactor(ing)?\b",
        r"\bredesign\b",
        r"\bconcurren(cy|t)\b",
        r"\bdistributed\b",
        r"\bmigrat(e|ion)\b",
        r"\bintegrat(e|ion)\b",
        r"\bperformance\b",
    ],
    "simple": [
        r"\btypo\b",
        r"\breadme\b",
        r"\bdocs?\b",
        r"\bdocumentation\b",
        r"\brename\b",
        r"\bcomment\b",
        r"\bbump\b",
        r"\bformat(ting)?\b",
        r"\bconfig(uration)? value\b",
    ],
}


@dataclass(frozen=True)
class RoutingRules:
    """Score thresholds (Task Master scores run 1-10) and keyword patterns per class."""

    simple_max_score: float = 3
    medium_max_score: float = 6
    critical_min_score: float = 9
    critical: tuple[str, ...] = tuple(DEFAULT_PATTERNS["critical"])
    complex: tuple[str, ...] = tuple(DEFAULT_PATTERNS["complex"])
    simple: tuple[str, ...] = tuple(DEFAULT_PATTERNS["simple"])
    default: Route = "medium"


@dataclass(frozen=True)
class Decision:
    route: Route
    reason: str


@lru_cache(maxsize=256)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise InputError(
                f"invalid routing pattern {pattern!r}: {exc}; fix it in .taskmaster/tmxd.toml"
            ) from exc
    return tuple(compiled)


def validate_patterns(rules: RoutingRules) -> None:
    """Raise InputError naming the first pattern that is not a valid regex."""
    for patterns in (rules.critical, rules.complex, rules.simple):
        _compiled(patterns)


def _match(patterns: tuple[str, ...], text: str) -> str | None:
    for regex in _compiled(patterns):
        found = regex.search(text)
        if found:
            return found.group(0)
    return None


def route_by_score(score: float, rules: RoutingRules) -> Route:
    if score >= rules.critical_min_score:
        return "critical"
    if score <= rules.simple_max_score:
        return "simple"
    if score <= rules.medium_max_score:
        return "medium"
    return "complex"


_NOTE_BLOCK = re.compile(r"<info added on [^>\n]*>.*?</info added on [^>\n]*>", re.DOTALL)


def without_notes(text: str) -> str:
    """``text`` without Task Master's ``<info added on …>`` blocks: notes are the task's
    history (commit notes, failure output), not what the task is about."""
    return _NOTE_BLOCK.sub("", text)


def decide(texts: Sequence[str], score: float | None, rules: RoutingRules) -> Decision:
    """The route for a task whose text is ``texts`` and complexity score ``score``.

    Notes appended to the text (``<info added on …>`` blocks) are not read.
    """
    text = without_notes("\n".join(t for t in texts if t))
    hit = _match(rules.critical, text)
    if hit is not None:
        return Decision("critical", f"critical keyword {hit!r}")
    if score is not None:
        return Decision(route_by_score(score, rules), f"complexity score {score:g}")
    for route, patterns in (("complex", rules.complex), ("simple", rules.simple)):
        hit = _match(patterns, text)
        if hit is not None:
            return Decision(route, f"{route} keyword {hit!r}")  # type: ignore[arg-type]
    return Decision(rules.default, "no keyword matched")


def complexity_report_path(root: Path, tag: str) -> Path:
    """Where Task Master writes the complexity report for ``tag``."""
    name = (
        "task-complexity-report.json" if tag == "master" else f"task-complexity-report_{tag}.json"
    )
    return root / ".taskmaster" / "reports" / name


def load_scores(path: Path) -> dict[str, float]:
    """``taskId`` → ``complexityScore`` from a complexity report; {} when absent or unreadable.

    A damaged report is not fatal: routing falls back to the keyword rules.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries = data.get("complexityAnalysis") if isinstance(data, dict) else None
    scores: dict[str, float] = {}
    if not isinstance(entries, list):
        return scores
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        task_id, score = entry.get("taskId"), entry.get("complexityScore")
        if task_id is None or isinstance(score, bool) or not isinstance(score, int | float):
            continue
        key = (
            str(int(task_id))
            if isinstance(task_id, float) and task_id.is_integer()
            else str(task_id)
        )
        scores[key] = float(score)
    return scores
