"""Run a draft exactly as a citizen would see it, under a chosen scenario, and measure a node's
screens while it is edited.

The simulator is stateless: the browser keeps the keys typed so far and each call replays them from
the first screen, through the same engine and pagination as the gateway. A scenario says what the
actions answer:

- stubs: a named set of answers from the journey file (`scenarios:`), one journey test's own
  `actions:`, or "core down" (every action fails with `unavailable`). Never merged, always
  labelled on the phone, so nobody mistakes a stub for the core service;
- live: the gateway's own actions against the configured core service (the reference one under
  `make run`). Replaying would repeat writes, so the browser sends back the answers recorded so
  far (`recorded`) and only the actions a new key reaches call the core service.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from menus.engine import ActionResult, ActionRunner, Engine
from menus.journeys import stub_runner
from menus.model import LANGUAGES, MenuTree
from menus.render import PREFIX_LEN, shorten

MAX_KEYS = 60
MAX_RECORDED = 100
LIVE = "live"
CORE_DOWN = "builtin:core_down"


@dataclass(frozen=True)
class Scenario:
    """What the actions answer in one simulator run. `label` is shown on the phone itself."""

    id: str
    name: str
    label: str
    kind: str  # stub | live
    description: str = ""
    stubs: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "description": self.description,
        }


def scenarios(journeys: Mapping[str, Any] | None, live: bool) -> list[Scenario]:
    """The scenarios of a draft, in the order the picker shows them: the journey file's named
    `scenarios:`, "core down", each journey test's stubs, then the live core service if allowed."""
    found: list[Scenario] = []
    document = journeys if isinstance(journeys, Mapping) else {}
    for entry in document.get("scenarios") or []:
        if not isinstance(entry, Mapping) or not entry.get("name"):
            continue
        name = str(entry["name"])
        found.append(
            Scenario(
                id=f"scenario:{name}",
                name=name,
                label=str(entry.get("label") or f"Stub: {name}"),
                kind="stub",
                description=str(entry.get("description") or ""),
                stubs=entry.get("actions") if isinstance(entry.get("actions"), Mapping) else {},
            )
        )
    found.append(
        Scenario(
            id=CORE_DOWN,
            name="Core down (every action fails)",
            label="Stub: core down",
            kind="stub",
            description="Every core-service action answers 'unavailable', as when the core service is down.",
        )
    )
    for journey in document.get("journeys") or []:
        if isinstance(journey, Mapping) and isinstance(journey.get("actions"), Mapping):
            name = str(journey.get("name", "unnamed"))
            found.append(
                Scenario(
                    id=f"journey:{name}",
                    name=f"Stubs of the test: {shorten(name, 60)}",
                    label=f"Stub: answers of the journey test '{shorten(name, 50)}'",
                    kind="stub",
                    stubs=journey["actions"],
                )
            )
    if live:
        found.append(
            Scenario(
                id=LIVE,
                name="Reference core service (live)",
                label="Live: the core service, as the gateway calls it",
                kind="live",
                description="Actions call the configured core service for the phone number below; "
                "writes are real there.",
            )
        )
    return found


def find_scenario(available: list[Scenario], scenario_id: str | None) -> Scenario | None:
    if not scenario_id:
        return available[0] if available else None
    return next((s for s in available if s.id == scenario_id), None)


def _core_down(_name: str, _params: Mapping[str, Any], _lang: str) -> ActionResult:
    return ActionResult(ok=False, error="unavailable")


def live_action_runner(session_id: str, phone: str) -> ActionRunner:
    """The gateway's own actions for a simulated call: they reach the core service exactly as a
    citizen's hop does, with this session id (idempotency keys) and phone, inside one hop budget.
    The effects they return (SMS, audit events) are never delivered from the simulator.

    The app's actions are the ones `create_app` built (`app.extensions["actions"]`).
    """
    from citizen.actions import HopContext

    settings = current_app.extensions["settings"]
    context = HopContext(phone, session_id, deadline=time.monotonic() + settings.hop_budget_ms / 1000)
    return current_app.extensions["actions"].runner(context)


class RecordingRunner:
    """Answers actions and records each answer, in call order.

    With `replay`, the first calls are answered from an earlier recording (as long as the same
    actions are called in the same order), so replaying keys never repeats a live write.
    """

    def __init__(self, runner: ActionRunner, replay: list[dict[str, Any]] | None = None) -> None:
        self.runner = runner
        self.replay = list(replay or [])
        self.calls: list[dict[str, Any]] = []

    def __call__(self, name: str, params: Mapping[str, Any], lang: str) -> ActionResult:
        position = len(self.calls)
        if position < len(self.replay) and self.replay[position].get("action") == name:
            answer = self.replay[position]
            result = ActionResult(
                ok=bool(answer.get("ok")),
                data=dict(answer.get("data") or {}),
                error=answer.get("error"),
            )
        else:
            self.replay = self.replay[:position]  # the run took another road: the rest is stale
            result = self.runner(name, params, lang)
        self.calls.append(
            {"action": name, "ok": result.ok, "data": _plain(result.data), "error": result.error}
        )
        return result


def _plain(data: Mapping[str, Any]) -> dict[str, Any]:
    """Action data as JSON can carry it (the browser keeps it for the next replay)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, str | int | float | bool) or value is None or isinstance(value, list | dict):
            out[key] = value
        else:
            out[key] = str(value)
    return out


def clean_recording(raw: Any) -> list[dict[str, Any]]:
    """The `recorded` list a browser sent back, reduced to what a replay reads."""
    if not isinstance(raw, list):
        return []
    out = []
    for entry in raw[:MAX_RECORDED]:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("action"), str):
            break
        out.append(
            {
                "action": entry["action"],
                "ok": bool(entry.get("ok")),
                "data": dict(entry["data"]) if isinstance(entry.get("data"), Mapping) else {},
                "error": str(entry["error"]) if entry.get("error") else None,
            }
        )
    return out


def simulate(
    tree: MenuTree,
    keys: list[str],
    lang: str,
    screen_limit: int,
    runner: ActionRunner,
    recorded: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Dial `tree` and press `keys`; the screen after the last key, every screen on the way
    (`steps`), and the actions' answers in call order (`recorded`)."""
    recording = RecordingRunner(runner, recorded)
    engine = Engine(tree, recording, screen_limit=screen_limit)
    state = engine.new_state(lang if lang in LANGUAGES else LANGUAGES[0])
    result = engine.start(state)
    steps = [_step(None, result, recording.calls[:])]
    used = 0
    for key in keys[:MAX_KEYS]:
        if result.screen.final:
            break
        before = len(recording.calls)
        result = engine.step(state, str(key)[:40])
        steps.append(_step(str(key)[:40], result, recording.calls[before:]))
        used += 1
    prefix = "END " if result.screen.final else "CON "
    return {
        "reply": prefix + result.screen.body,
        "screen": result.screen.body,
        "final": result.screen.final,
        "node": result.node,
        "outcome": result.outcome,
        "lang": state.lang,
        "keys_used": used,
        "chars": len(result.screen.body) + PREFIX_LEN,
        "limit": screen_limit,
        "version": tree.version,
        "steps": steps,
        "recorded": recording.calls,
    }


def _step(key: str | None, result, calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "key": key,
        "screen": result.screen.body,
        "final": result.screen.final,
        "node": result.node,
        "outcome": result.outcome,
        "actions": [c["action"] for c in calls],
    }


def scenario_runner(scenario: Scenario) -> ActionRunner:
    """The action runner of a stub scenario."""
    if scenario.id == CORE_DOWN:
        return _core_down
    return stub_runner(scenario.stubs)
