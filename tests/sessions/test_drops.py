"""The drop watch list and keeping a dropped session's draft, against a real Redis."""

from __future__ import annotations

import threading
import time

from menus.engine import SessionState
from sessions.drops import DropWatch
from sessions.store import Lease, SecretBox, SessionStore, StoredSession
from tests.hops import TEST_SEALING_KEY

PHONE = "+254712345678"


def test_each_due_session_is_claimed_by_exactly_one_of_many_nodes(redis_client):
    now = time.time()
    for number in range(200):
        DropWatch(redis_client).watch(PHONE, f"s{number}", now - 1)
    DropWatch(redis_client).watch(PHONE, "later", now + 60)
    nodes = [DropWatch(redis_client) for _ in range(4)]
    claimed: list[list[tuple[str, str]]] = [[] for _ in nodes]
    start = threading.Barrier(len(nodes))

    def claim(index: int) -> None:
        start.wait()
        while batch := nodes[index].claim_due(now, limit=7):
            claimed[index].extend(batch)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(len(nodes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [item for batch in claimed for item in batch]
    assert sorted(everything) == sorted((PHONE, f"s{n}") for n in range(200))  # each once, none twice
    assert DropWatch(redis_client).pending() == 1  # the one not due yet stays


def test_watching_again_moves_the_time(redis_client):
    watch = DropWatch(redis_client)
    watch.watch(PHONE, "s1", time.time() - 1)
    watch.watch(PHONE, "s1", time.time() + 60)
    assert watch.claim_due() == [] and watch.pending() == 1


def test_a_draft_is_kept_longer_only_while_it_is_the_phones_draft(redis_client):
    store = SessionStore(redis_client, SecretBox(TEST_SEALING_KEY), session_ttl_s=180, draft_ttl_s=600)

    def save(session_id: str) -> None:
        lease = store.begin(PHONE, session_id)
        state = SessionState("ecitizen", "v1", "reg_last", "en", stack=["main", "reg_id"])
        assert store.commit(lease, StoredSession(state, "*384*123#"), resumable=True)

    save("first")
    assert store.draft_id(PHONE) == "first"
    assert store.keep_draft(PHONE, "first", 86400)
    assert redis_client.ttl(store.session_key(PHONE, "first")) > 600
    save("second")  # a newer session took its place
    assert not store.keep_draft(PHONE, "first", 86400)
    assert redis_client.ttl(f"u:{{{PHONE}}}:d") <= 600
    assert not store.keep_draft(PHONE, "gone", 86400)


def test_saved_time_and_origin_survive_a_round_trip(redis_client):
    store = SessionStore(redis_client, SecretBox(TEST_SEALING_KEY))
    stored = StoredSession(SessionState("t", "v", "n", "sw"), "*384*123#", origin="first")
    lease = Lease("s", PHONE, "token", None, None, None, None)
    redis_client.set(f"u:{{{PHONE}}}:k:s", "token")
    before = time.time()
    assert store.commit(lease, stored, resumable=False)
    again = store.load(PHONE, "s")
    assert again.origin == "first" and again.saved_at >= before - 0.1
