from __future__ import annotations

import threading

import pytest

from menus.engine import SessionState
from sessions.store import SecretBox, SessionBusy, SessionStore, StoredSession
from tests.hops import TEST_SEALING_KEY

PHONE = "+254712345678"


def make_store(redis_client, **kwargs) -> SessionStore:
    return SessionStore(redis_client, SecretBox(TEST_SEALING_KEY), **kwargs)


def stored(node="help", stack=("main",), **answers) -> StoredSession:
    state = SessionState("ecitizen", "v1", node, "en", stack=list(stack), answers=dict(answers))
    return StoredSession(state, "*384*123#", "k7", reply="Help\n1. Support line", reply_final=False)


def test_begin_commit_roundtrip_keeps_ttls(redis_client):
    store = make_store(redis_client, session_ttl_s=180, draft_ttl_s=600)
    lease = store.begin(PHONE, "S1")
    assert lease.session is None and lease.draft is None and lease.language is None
    assert store.commit(lease, stored(), resumable=True, language="sw")
    key = store.session_key(PHONE, "S1")
    assert 590 <= redis_client.ttl(key) <= 600  # open past the start: kept as a resume draft
    assert redis_client.get("u:{+254712345678}:d") == b"S1"
    assert redis_client.get("u:{+254712345678}:l") == b"sw"
    assert redis_client.exists("u:{+254712345678}:k:S1") == 0  # lock released

    again = store.begin(PHONE, "S1")
    assert again.session.state.node == "help" and again.session.reply.startswith("Help")
    assert again.session.replay_key == "k7"
    assert store.load(PHONE, "S1").replay_key == "k7" and store.load(PHONE, "S2") is None
    final = stored()
    final.reply_final = True
    assert store.commit(again, final, resumable=False)
    assert 170 <= redis_client.ttl(key) <= 180
    assert redis_client.get("u:{+254712345678}:d") is None


def test_sensitive_answers_are_encrypted_at_rest(redis_client):
    store = make_store(redis_client)
    lease = store.begin(PHONE, "S1")
    session = stored(pin="4821", national_id="12345678", first_name="Wanjiku")
    session.state.secrets = ["pin", "national_id"]
    store.commit(lease, session, resumable=True)
    raw = redis_client.get(store.session_key(PHONE, "S1")).decode()
    assert "4821" not in raw and "12345678" not in raw
    loaded = store.begin(PHONE, "S1").session
    assert loaded.state.answers["pin"] == "4821" and loaded.state.answers["national_id"] == "12345678"


def test_the_lock_serialises_hops_of_one_session(redis_client):
    store = make_store(redis_client, lock_wait_ms=200)
    lease = store.begin(PHONE, "S1")
    with pytest.raises(SessionBusy):
        store.begin(PHONE, "S1")
    store.release(lease)
    assert store.begin(PHONE, "S1").session is None


def test_lock_waits_for_the_holder(redis_client):
    store = make_store(redis_client, lock_wait_ms=2000)
    lease = store.begin(PHONE, "S1")
    timer = threading.Timer(0.2, store.commit, args=(lease, stored()), kwargs={"resumable": True})
    timer.start()
    second = store.begin(PHONE, "S1")  # waits until the commit releases the lock
    assert second.session is not None and second.session.state.node == "help"
    timer.join()


def test_a_commit_without_the_lock_saves_nothing(redis_client):
    store = make_store(redis_client, lock_ttl_ms=50)
    lease = store.begin(PHONE, "S1")
    redis_client.delete("u:{+254712345678}:k:S1")  # the lock expired while the hop ran
    assert store.commit(lease, stored(), resumable=True) is False
    assert redis_client.get(store.session_key(PHONE, "S1")) is None
