"""Routing decisions: scores, keyword rules, the complexity report; property-tested."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmxd.autopilot.routing import (
    ROUTES,
    RoutingRules,
    complexity_report_path,
    decide,
    load_scores,
    route_by_score,
    validate_patterns,
)
from tmxd.errors import InputError

RULES = RoutingRules()
plain_words = st.text(alphabet="xyzqwv ", max_size=40)
scores = st.floats(min_value=0, max_value=10, allow_nan=False)


@given(a=scores, b=scores)
def test_score_routing_is_monotonic(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    assert ROUTES.index(route_by_score(lo, RULES)) <= ROUTES.index(route_by_score(hi, RULES))


@given(score=scores)
def test_score_thresholds(score: float) -> None:
    route = route_by_score(score, RULES)
    if score <= 3:
        assert route == "simple"
    elif score <= 6:
        assert route == "medium"
    elif score < 9:
        assert route == "complex"
    else:
        assert route == "critical"


@given(text=plain_words, score=st.one_of(st.none(), scores))
def test_critical_keywords_win_over_any_score(text: str, score: float | None) -> None:
    decision = decide([text + " rotate the production credentials"], score, RULES)
    assert decision.route == "critical"
    assert "critical keyword" in decision.reason


@given(text=plain_words, score=scores)
def test_a_score_overrides_non_critical_keywords(text: str, score: float) -> None:
    decision = decide([f"{text} fix a typo in the readme"], score, RULES)
    assert decision.route == route_by_score(score, RULES)


@given(text=plain_words)
def test_without_score_or_keyword_the_default_is_medium(text: str) -> None:
    assert decide([text], None, RULES).route == "medium"


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("Fix typo in README", "simple"),
        ("Refactor the storage layer", "complex"),
        ("Add payment processing", "critical"),
        ("Implement the list command", "medium"),
        ("Update docs and refactor parser", "complex"),
    ],
)
def test_keyword_rules(text: str, route: str) -> None:
    assert decide([text], None, RULES).route == route


def test_patterns_are_configurable() -> None:
    rules = RoutingRules(critical=(r"\bdeploy\b",), complex=(), simple=(r"\bchore\b",))
    assert decide(["Deploy to staging"], None, rules).route == "critical"
    assert decide(["chore: tidy"], None, rules).route == "simple"
    assert decide(["Add payment processing"], None, rules).route == "medium"


def test_invalid_pattern_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"invalid routing pattern '\(unclosed'"):
        validate_patterns(RoutingRules(simple=("(unclosed",)))


def test_scores_from_the_complexity_report(tmp_path: Path) -> None:
    path = complexity_report_path(tmp_path, "master")
    assert path == tmp_path / ".taskmaster" / "reports" / "task-complexity-report.json"
    assert complexity_report_path(tmp_path, "feature").name == "task-complexity-report_feature.json"
    path.parent.mkdir(parents=True)
    report = {
        "meta": {"generatedAt": "2026-01-01T00:00:00.000Z"},
        "complexityAnalysis": [
            {"taskId": 1, "taskTitle": "a", "complexityScore": 2},
            {"taskId": "2", "complexityScore": 9.5},
            {"taskId": 3.0, "complexityScore": 5},
            {"taskId": 4, "complexityScore": "high"},
            {"taskId": 5, "complexityScore": True},
            "junk",
        ],
    }
    path.write_text(json.dumps(report, indent="\t"))
    assert load_scores(path) == {"1": 2.0, "2": 9.5, "3": 5.0}


def test_damaged_or_missing_report_falls_back_to_keywords(tmp_path: Path) -> None:
    assert load_scores(tmp_path / "missing.json") == {}
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert load_scores(bad) == {}
    bad.write_text(json.dumps({"complexityAnalysis": {"not": "a list"}}))
    assert load_scores(bad) == {}


def test_notes_appended_to_the_details_do_not_route() -> None:
    """A failure note that happens to say "security" does not make a task critical."""
    details = (
        "Write the notes.\n<info added on 2026-01-01T00:00:00.000Z>\n"
        "tmxd autopilot: attempt 1 failed; slash commands: security-review\n"
        "</info added on 2026-01-01T00:00:00.000Z>"
    )
    assert decide(["Write notes", "", details], None, RoutingRules()).route == "medium"
    assert decide(["Write notes", "", "security review"], None, RoutingRules()).route == "critical"
