"""Two publishers (two nodes) publish the same tree at the same moment: one wins, the other gets a
409 in JSON, never a 500, and SQL, Redis and the live tree agree on the winner."""

from __future__ import annotations

import copy
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, func, select

from menus.live import CURRENT_KEY
from records.menus import MenuPublication, MenuVersion
from tests.console.conftest import dial

DRAFT = "/api/v1/menus/ecitizen/draft"
PUBLISH = "/api/v1/menus/ecitizen/publish"


@pytest.fixture
def both_read_before_either_writes():
    """Hold each publish just before it inserts its new version until both are there, so both
    have read the tree's versions and picked the same next number, as two nodes can."""
    barrier = threading.Barrier(2, timeout=10)

    def wait(_mapper, _connection, _target) -> None:
        barrier.wait()

    event.listen(MenuVersion, "before_insert", wait)
    yield barrier
    event.remove(MenuVersion, "before_insert", wait)


def test_two_publishes_at_once_one_wins_the_other_gets_409_json(
    console_app, as_role, redis_client, both_read_before_either_writes
):
    editor = as_role("editor")
    draft = editor.call("GET", DRAFT).get_json()
    document = copy.deepcopy(draft["document"])
    document["nodes"]["main"]["options"][0]["label"]["en"] = "Register now"
    saved = editor.call("PUT", DRAFT, {"revision": draft["revision"], "document": document})
    assert saved.status_code == 200, saved.get_json()
    publishers = [as_role("publisher"), as_role("admin")]

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda who: who.call("POST", PUBLISH, {"note": "race"}), publishers))

    assert sorted(a.status_code for a in answers) == [201, 409], [a.get_data(as_text=True) for a in answers]
    won = next(a for a in answers if a.status_code == 201).get_json()
    lost = next(a for a in answers if a.status_code == 409)
    assert lost.mimetype == "application/json"
    assert lost.get_json()["error"] == "conflict" and "nothing was published" in lost.get_json()["message"]
    with console_app.extensions["database"].session() as session:
        assert session.scalar(select(func.max(MenuVersion.number))) == 2 == won["number"]
        assert (
            session.scalar(select(func.count(MenuPublication.id)).where(MenuPublication.kind == "publish"))
            == 1
        )
    assert redis_client.hget(CURRENT_KEY, "ecitizen").decode() == won["version"]
    assert "1. Register now" in dial(console_app.test_client(), session_id="ATUid_race")
