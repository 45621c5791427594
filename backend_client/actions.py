"""Named actions a menu tree may call, and the runner the gateway hands the engine for one hop.

An action takes the session's answers and returns an `ActionResult`; it never raises. Trees name
actions; the validator refuses a tree that names one missing from `ACTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from menus.engine import ActionResult, ActionRunner


@dataclass(frozen=True)
class HopContext:
    """Who is asking, and how long the hop may still spend on the backend."""

    phone: str
    session_id: str
    deadline: float  # time.monotonic() value after which no backend call may start


Action = Callable[[HopContext, Mapping[str, Any], str], ActionResult]
ACTIONS: dict[str, Action] = {}


def action(name: str) -> Callable[[Action], Action]:
    """Register a function as the action `name`."""

    def register(func: Action) -> Action:
        ACTIONS[name] = func
        return func

    return register


def known_actions() -> set[str]:
    return set(ACTIONS)


def runner_for(context: HopContext) -> ActionRunner:
    """The engine's action runner for one hop."""

    def run(name: str, params: Mapping[str, Any], lang: str) -> ActionResult:
        func = ACTIONS.get(name)
        if func is None:
            return ActionResult(ok=False, error=f"unknown action {name}")
        return func(context, params, lang)

    return run
