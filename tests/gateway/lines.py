"""One interface over the three aggregators' test callers, so a dialogue can be played through any
of them and their screens compared; and actions answered from a journey's stubs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from citizen.actions import HopContext
from menus.engine import ActionResult, ActionRunner
from menus.journeys import stub_runner
from tests.conftest import Dialler
from tests.gateway.arkesel.caller import ArkeselCaller, SteppingClock
from tests.gateway.hubtel.caller import HubtelCaller

AGGREGATORS = ("africastalking", "hubtel", "arkesel")


@dataclass(frozen=True)
class Screen:
    """A screen as the citizen sees it: its text (no `CON `/`END `) and whether the session ended."""

    text: str
    final: bool


class Line:
    """A phone on one aggregator: `dial(*deep_keys)` opens a session, `press(key)` answers."""

    def __init__(self, aggregator: str, client, phone: str, session_id: str, clock: SteppingClock | None):
        self.aggregator = aggregator
        if aggregator == "africastalking":
            self._at = Dialler(client, phone=phone, session_id=session_id)
        elif aggregator == "hubtel":
            self._hubtel = HubtelCaller(client, phone=phone, session_id=session_id)
        else:
            self._arkesel = ArkeselCaller(client, phone=phone, session_id=session_id, clock=clock)

    def dial(self, *deep_keys: str) -> Screen:
        if self.aggregator == "africastalking":
            return _at_screen(self._at.dial(*deep_keys))
        if self.aggregator == "hubtel":
            text = self._hubtel.dial(*deep_keys)
            return Screen(text, self._hubtel.final)
        text = self._arkesel.dial(*deep_keys)
        return Screen(text, self._arkesel.final)

    def press(self, key: str) -> Screen:
        if self.aggregator == "africastalking":
            return _at_screen(self._at.press(key))
        if self.aggregator == "hubtel":
            text = self._hubtel.press(key)
            return Screen(text, self._hubtel.final)
        text = self._arkesel.press(key)
        return Screen(text, self._arkesel.final)


def _at_screen(body: str) -> Screen:
    assert body[:4] in ("CON ", "END "), body
    return Screen(body[4:], body.startswith("END "))


def enable_every_aggregator(app_settings):
    """Settings with the three aggregators on, their codes routed to the eCitizen tree, and Ghana's
    numbers served next to Kenya's (an AT caller on +254, a Hubtel or Arkesel one on either)."""
    return replace(
        app_settings,
        aggregators=AGGREGATORS,
        phone_regions=("KE", "GH"),
        hubtel_service_codes=(("*713#", "ecitizen"),),
        arkesel_tree="ecitizen",
        arkesel_service_code="*920*100#",
    )


@dataclass
class StubActions:
    """Stands in for `citizen.actions.Actions`: every hop's runner answers from `stubs` (a journey's
    `actions:`), a list of answers given in turn across the whole dialogue; calls are recorded."""

    stubs: Mapping[str, Any]
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._run = stub_runner(self.stubs)

    def runner(self, _context: HopContext) -> ActionRunner:
        def run(name: str, params: Mapping[str, Any], lang: str) -> ActionResult:
            self.calls.append((name, dict(params)))
            return self._run(name, params, lang)

        return run
