"""How a session is judged on the shipped tree: a locked account is no success, a submitted
application is one even when the citizen leaves on its "Pay now" screen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics.graph import funnel_steps, goal_screens, success_ends
from analytics.queries import SessionFacts, judge
from config import ROOT
from menus.loader import load_tree_file

TREE = load_tree_file(ROOT / "menus" / "trees" / "ecitizen.yaml")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def facts(node: str, *, final: bool, outcome: str = "input", status: str | None = "Success") -> SessionFacts:
    started = NOW - timedelta(seconds=60)
    return SessionFacts("s1", TREE.id, TREE.version, "en", 6, started, NOW, node, outcome, final, status)


def judged(node: str, **kwargs) -> tuple[str, str | None]:
    session = facts(node, **kwargs)
    judge(session, success_ends(TREE), goal_screens(TREE), NOW)
    return session.state, session.reason


def test_an_error_route_is_no_success():
    assert "locked" in TREE.nodes and "locked" not in success_ends(TREE)
    assert judged("locked", final=True) == ("dropped", "exit")


def test_a_success_end_completes():
    assert judged("reg_done", final=True) == ("completed", None)


def test_leaving_on_the_submitted_screen_completes_the_application():
    assert goal_screens(TREE) == {"apply_done"}
    assert judged("apply_done", final=False) == ("completed", None)
    assert judged("apply_done", final=False, status=None) == ("completed", None)


@pytest.mark.parametrize("outcome", ["error", "busy", "redis_down"])
def test_a_gateway_fault_on_the_goal_screen_is_no_completion(outcome):
    assert judged("apply_done", final=False, outcome=outcome) == ("dropped", "error")


def test_the_apply_funnel_ends_at_the_submitted_screen():
    assert funnel_steps(TREE, "apply")[-1] in {"apply_done", "apply_queued"}
