"""Journey tests as data: YAML dialogues (dial, send keys, expect screens) run against the engine.

A journey with `hops: N` also says how many requests it takes (each dial or answer is one hop),
so the hop counts in docs/journeys.md are measured, not estimated.

A journey file sits beside its tree (`ecitizen.journeys.yaml`). It runs without Redis or HTTP:
actions answer from the journey's `actions:` stubs, so pytest, the CLI and the console can all run
the same dialogues before a tree is published.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from menus.effects import SetLanguage
from menus.engine import ActionResult, ActionRunner, Engine, SessionState
from menus.model import MenuTree
from menus.patterns import PatternError, compiled


@dataclass
class JourneyFailure:
    journey: str
    step: int
    message: str
    screen: str

    def __str__(self) -> str:
        return f"{self.journey} (step {self.step}): {self.message}\n--- screen ---\n{self.screen}"


@dataclass
class JourneyReport:
    passed: list[str] = field(default_factory=list)
    failures: list[JourneyFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def split_dial(dial: str, service_codes: tuple[str, ...]) -> tuple[str, list[str]]:
    """`*384*123*3*1#` -> (`*384*123#`, ["3", "1"]): the service code and the keys dialled with it."""
    dialled = dial.strip()
    for code in sorted(service_codes, key=len, reverse=True):
        stem = code.removesuffix("#")
        if dialled == code:
            return code, []
        if dialled.startswith(stem + "*") and dialled.endswith("#"):
            return code, dialled[len(stem) + 1 : -1].split("*")
    raise ValueError(f"{dial!r} is not one of this tree's service codes {list(service_codes)}")


def stub_runner(stubs: Mapping[str, Any]) -> ActionRunner:
    """Actions answered from data: `{name: {ok: true, data: {...}}}`; an unstubbed action fails loudly.

    A stub may also be a list of answers, given in turn on successive calls (the last one repeats),
    for actions called in a loop such as a form's fields.
    """
    calls: dict[str, int] = {}

    def run(name: str, _params: Mapping[str, Any], _lang: str) -> ActionResult:
        if name not in stubs:
            return ActionResult(ok=False, error=f"journey has no stub for action {name}")
        stub = stubs[name]
        if isinstance(stub, list):
            count = calls.get(name, 0)
            calls[name] = count + 1
            stub = stub[min(count, len(stub) - 1)]
        return ActionResult(
            ok=bool(stub.get("ok", True)), data=dict(stub.get("data", {})), error=stub.get("error")
        )

    return run


def _check(expectation: Mapping[str, Any], body: str, final: bool) -> str | None:
    wanted = expectation.get("expect", [])
    for text in [wanted] if isinstance(wanted, str) else wanted:
        if text not in body:
            return f"expected {text!r} on the screen"
    unwanted = expectation.get("not_expect", [])
    for text in [unwanted] if isinstance(unwanted, str) else unwanted:
        if text in body:
            return f"did not expect {text!r} on the screen"
    pattern = expectation.get("expect_re")
    if pattern:
        # RE2 (menus/patterns.py): a journey written in the console cannot stall the process.
        try:
            if not compiled(str(pattern)).search(body):
                return f"expected the screen to match /{pattern}/"
        except PatternError as exc:
            return f"expect_re /{pattern}/ cannot be used: {exc}"
    if "end" in expectation and bool(expectation["end"]) != final:
        return "expected the session to end" if expectation["end"] else "expected the session to continue"
    return None


def run_journey(
    tree: MenuTree,
    journey: Mapping[str, Any],
    screen_limit: int = 160,
    runner: ActionRunner | None = None,
    today: date | None = None,
) -> JourneyFailure | None:
    """Play one journey; None when every expectation held."""
    name = str(journey.get("name", "unnamed"))
    engine = Engine(
        tree,
        runner or stub_runner(journey.get("actions", {})),
        screen_limit=screen_limit,
        today=(lambda: today) if today else date.today,
    )
    remembered_lang = str(journey.get("lang", "en"))
    state: SessionState | None = None
    final = True
    steps = journey.get("steps", [])
    # Each step is one request from the phone: a dial (with its keys) or one answer.
    if "hops" in journey and int(journey["hops"]) != len(steps):
        return JourneyFailure(name, len(steps), f"took {len(steps)} hops, expected {journey['hops']}", "")
    for number, step in enumerate(steps, 1):
        if "dial" in step:
            _, keys = split_dial(str(step["dial"]), tree.service_codes)
            state = engine.new_state(remembered_lang)
            result = engine.start(state)
            for key in keys:
                if result.screen.final:
                    break
                result = engine.step(state, key)
        elif "send" in step:
            if state is None or final:
                return JourneyFailure(name, number, "a 'send' needs an open session: dial first", "")
            result = engine.step(state, str(step["send"]))
        else:
            return JourneyFailure(name, number, "each step needs 'dial' or 'send'", "")
        for effect in result.effects:
            if isinstance(effect, SetLanguage):
                remembered_lang = effect.lang
        body, final = result.screen.body, result.screen.final
        if len(body) + 4 > screen_limit:
            return JourneyFailure(
                name, number, f"screen is {len(body) + 4} characters, over {screen_limit}", body
            )
        problem = _check(step, body, final)
        if problem:
            return JourneyFailure(name, number, problem, body)
    return None


def load_journeys(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(document, dict) or "journeys" not in document:
        raise ValueError(f"{path}: a journey file needs 'tree' and a list of 'journeys'")
    return document


def run_journeys(
    tree: MenuTree, document: Mapping[str, Any], screen_limit: int = 160, runner: ActionRunner | None = None
) -> JourneyReport:
    report = JourneyReport()
    for journey in document.get("journeys", []):
        failure = run_journey(tree, journey, screen_limit, runner)
        if failure:
            report.failures.append(failure)
        else:
            report.passed.append(str(journey.get("name", "unnamed")))
    return report


def journeys_path(tree_path: Path) -> Path:
    return tree_path.with_name(tree_path.name.removesuffix(".yaml") + ".journeys.yaml")
