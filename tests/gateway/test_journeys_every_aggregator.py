"""Every tree's journey file, played through each aggregator's callback over HTTP (test client): the
same dialogues `menus test` runs on the bare engine must hold through Africa's Talking, Hubtel and
Arkesel, with the real hop service and Redis, and Hubtel and Arkesel must show the very screens
Africa's Talking shows, hop by hop."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from app import create_app
from config import Settings
from menus.journeys import _check as check_screen
from menus.journeys import journeys_path, load_journeys, split_dial
from menus.loader import load_tree_file, tree_files
from tests.gateway.arkesel.caller import SteppingClock
from tests.gateway.lines import AGGREGATORS, Line, Screen, StubActions, enable_every_aggregator
from tests.support import free_port

CASES = []
for _tree_path in tree_files(Settings().trees_dir):
    _path = journeys_path(_tree_path)
    if _path.exists():
        for _number, _journey in enumerate(load_journeys(_path)["journeys"]):
            for _aggregator in AGGREGATORS:
                CASES.append(
                    pytest.param(
                        _tree_path, _number, _journey, _aggregator, id=f"{_aggregator}: {_journey['name']}"
                    )
                )


@pytest.fixture(scope="module")
def app(redis_server, tmp_path_factory) -> Iterator[Any]:
    database = tmp_path_factory.mktemp("journeys") / "gateway.db"
    settings = Settings.from_env(
        redis_url=redis_server.url,
        database_url=f"sqlite:///{database}",
        log_level="WARNING",
        core_url=f"http://127.0.0.1:{free_port()}",  # nothing listens: every action is stubbed
        rate_limit_per_minute=10_000,
    )
    application = create_app(enable_every_aggregator(settings))
    application.extensions["database"].upgrade()
    application.extensions["arkesel_replay"].clock = SteppingClock()
    yield application
    application.extensions["core_client"].close()


def play(app, tree, journey: Mapping[str, Any], aggregator: str, phone: str) -> list[tuple[int, Screen]]:
    """Play `journey` through `aggregator`; the (step number, screen) of every step, in order."""
    hops = app.extensions["hops"]
    hops.actions = StubActions(journey.get("actions", {}))
    store = hops.store
    lang = str(journey.get("lang", "en"))
    if lang != hops.default_language:
        store.set_language(phone, lang)
    clock = app.extensions["arkesel_replay"].clock
    screens: list[tuple[int, Screen]] = []
    line: Line | None = None
    for number, step in enumerate(journey.get("steps", []), 1):
        if "dial" in step:
            _, keys = split_dial(str(step["dial"]), tree.service_codes)
            # The bare engine keeps no drafts: every dial of a journey starts afresh.
            store.redis.delete(f"u:{{{phone}}}:d")
            line = Line(aggregator, app.test_client(), phone, f"{aggregator}-{phone}-{number}", clock)
            screen = line.dial(*keys)
        else:
            assert line is not None, "a journey step sends a key before dialling"
            screen = line.press(str(step["send"]))
        screens.append((number, screen))
    return screens


@pytest.mark.parametrize(("tree_path", "number", "journey", "aggregator"), CASES)
def test_journey_through_the_aggregator(app, redis_server, tree_path, number, journey, aggregator):
    redis_server.client().flushdb()
    tree = load_tree_file(tree_path)
    # Distinct Kenyan numbers per run: the language and drafts of one run never reach another.
    phone = f"+2547{AGGREGATORS.index(aggregator) + 1}{number:07d}"
    screens = play(app, tree, journey, aggregator, phone)
    room = app.extensions["settings"].text_limit(aggregator)
    for (step_number, screen), step in zip(screens, journey["steps"], strict=True):
        problem = check_screen(step, screen.text, screen.final)
        assert problem is None, f"{journey['name']} (step {step_number}): {problem}\n{screen.text}"
        assert len(screen.text) <= room, f"step {step_number}: {len(screen.text)} characters over {room}"
    if aggregator != "africastalking":
        at_phone = f"+2547{9}{number:07d}"
        redis_server.client().flushdb()
        at_screens = play(app, tree, journey, "africastalking", at_phone)
        assert [s for _, s in screens] == [s for _, s in at_screens]
