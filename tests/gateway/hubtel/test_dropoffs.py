"""Hubtel's Release and Timeout notices end sessions that analytics then counts as drop-offs."""

from __future__ import annotations

from analytics.queries import Filters, sessions
from audit.drain import Drainer, drain_client
from tests.gateway.hubtel.caller import HubtelCaller


def test_release_and_timeout_are_drop_offs_on_the_screen_the_citizen_left(app, client, settings):
    timed_out = HubtelCaller(client, phone="+233200585542", session_id="timed-out")
    timed_out.dial()
    timed_out.press("3")  # Track: asks for a reference
    timed_out.timeout()
    released = HubtelCaller(client, phone="+233241234567", session_id="released")
    released.dial()
    released.press("7")  # Help
    released.release()
    browsing = HubtelCaller(client, phone="+233501234567", session_id="browsing")
    browsing.dial()  # no notice yet: still active
    Drainer(drain_client(settings.redis_url), app.extensions["database"]).drain_all()

    with app.extensions["database"].session() as db:
        facts = {f.session_id: f for f in sessions(db, app.extensions["trees"], Filters())}
    assert set(facts) == {"hubtel:timed-out", "hubtel:released", "hubtel:browsing"}
    assert (facts["hubtel:timed-out"].state, facts["hubtel:timed-out"].reason) == ("dropped", "timeout")
    assert facts["hubtel:timed-out"].last_node == "track_ref"
    assert (facts["hubtel:released"].state, facts["hubtel:released"].reason) == ("dropped", "exit")
    assert facts["hubtel:released"].last_node == "help"
    assert facts["hubtel:browsing"].state == "active"
