"""Named actions a menu tree may call, and the runner the gateway hands the engine for one hop.

An action takes the session's answers and returns an `ActionResult`; it never raises. Trees name
actions; the validator refuses a tree that names one missing from `ACTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from menus.engine import ActionResult, ActionRunner

if TYPE_CHECKING:
    from rq import Queue

    from backend_client.client import CoreClient


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


@dataclass
class ActionServices:
    """What actions reach outside the engine with; set once per process by `configure`."""

    client: CoreClient | None = None
    # SECRET_KEY of the app: seals a PIN that must wait in a queued job
    secret_key: str = ""
    # RQ queue for writes that could not finish inside a hop (None: such writes just apologise)
    queue: Queue | None = None


SERVICES = ActionServices()


def configure(client: CoreClient, *, secret_key: str = "", queue: Queue | None = None) -> None:
    """Give the actions their core-service client (one per process, it pools connections)."""
    SERVICES.client = client
    SERVICES.secret_key = secret_key
    SERVICES.queue = queue
    for hook in _ON_CONFIGURE:
        hook()


# Modules holding caches tied to a client register a reset here (e.g. the catalogue cache).
_ON_CONFIGURE: list[Callable[[], None]] = []


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


# Registered last: citizen_actions imports `action` from this module. Importing it here means any
# import of the registry (validator, CLI, gateway) sees every action, app or not.
from citizen import actions as citizen_actions  # noqa: E402, F401
