"""Operator regexes, attacked: a viewer's draft simulation with the catastrophic pattern `(a+)+b`
(on Python's backtracking engine, 1.5 s at 21 characters and doubling with each one), a journey's
`expect_re` of the same kind, and patterns that need backtracking to run at all. Every match runs on
RE2 in linear time; what RE2 cannot run is refused by the validator and never stalls a hop."""

from __future__ import annotations

import copy
import time
from datetime import date

from menus.inputs import check_input
from menus.journeys import _check as check_screen
from menus.model import InputSpec
from menus.patterns import pattern_problem
from tests.console.conftest import dial

EVIL = "(a+)+b"


def test_a_catastrophic_pattern_answers_in_milliseconds():
    spec = InputSpec(type="regex", pattern=EVIL)
    for length in (30, 182, 5000):
        started = time.perf_counter()
        assert not check_input(spec, "a" * length, {}, date(2026, 1, 1)).ok
        assert time.perf_counter() - started < 0.01, length


def test_a_viewers_draft_simulation_with_a_catastrophic_pattern_cannot_stall_anyone(as_role, console_app):
    viewer = as_role("viewer")
    document = copy.deepcopy(viewer.call("GET", "/api/v1/menus/ecitizen/draft").get_json()["document"])
    document["nodes"]["track_ref"]["input"]["pattern"] = EVIL
    started = time.perf_counter()
    answer = viewer.call(
        "POST", "/api/v1/menus/ecitizen/draft/simulate", {"document": document, "keys": ["3", "a" * 40]}
    )
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200 and answer.get_json()["node"] == "track_ref"
    assert elapsed < 1.0  # Python's engine: 2^40 steps, hours
    # a citizen's hop right after, on the same app
    started = time.perf_counter()
    assert dial(console_app.test_client(), "", session_id="after-redos").startswith("CON Welcome")
    assert time.perf_counter() - started < 1.0


def test_a_journeys_expect_re_cannot_stall_the_check():
    started = time.perf_counter()
    problem = check_screen({"expect_re": "(x+x+)+y"}, "x" * 5000, False)
    assert problem and time.perf_counter() - started < 0.05


def test_patterns_re2_cannot_run_are_refused_by_the_validator(as_role):
    for pattern in (r"(\d)\1", r"(?=ECZ)[A-Z]{3}", r"a{1001}", r"(?<!x)y"):
        assert pattern_problem(pattern), pattern
    editor = as_role("editor")
    draft = editor.call("GET", "/api/v1/menus/ecitizen/draft").get_json()
    document = copy.deepcopy(draft["document"])
    document["nodes"]["track_ref"]["input"]["pattern"] = r"(\w)\1+"
    report = editor.call("POST", "/api/v1/menus/ecitizen/draft/validate", {"document": document}).get_json()
    assert any(p["node"] == "track_ref" and "cannot be used" in p["message"] for p in report["problems"])
    assert pattern_problem("(?i)(ECZ[- ]?)?[A-Z0-9]{6}") is None  # the shipped tree's pattern runs on RE2
