"""Session state in Redis with two round trips per hop: `begin` (lock + read) and `commit` (write + unlock),
and a third on the first hop after a dropped call (reading the dropped session, to offer to resume it).

Keys of one phone share a Redis Cluster hash tag, `{+2547…}`, so each script touches one slot, and
every script is handed each key it touches in KEYS (none builds a key from a value it read; the
test in tests/ops/test_script_keys.py runs every script the code registers and checks it):
  u:{phone}:s:<sid>   the session (compact JSON, TTL: draft life while open, session TTL once ended)
  u:{phone}:k:<sid>   the per-session lock (token, PX)
  u:{phone}:d         the resume draft: id of the last session that dropped mid-journey
  u:{phone}:l         the language the citizen chose
  u:{phone}:r         hops in the current minute, for the rate limit
  u:{phone}:c         who is calling, as the core last said (registered flag, first name), kept a
                      short while (`caller_ttl_s`, a guest's `guest_ttl_s`, counted from the start
                      of the session that learnt it) so a repeat dial's first screen does not wait
                      on the core. Written only once that session is no longer live (its final
                      reply, or the aggregator's end notice): a live session holds the same answer
                      in its own document, so the key costs nothing while the session does
"""

from __future__ import annotations

import contextlib
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from common.keys import fernet_key
from menus.effects import KnownCaller
from menus.engine import SessionState

# `caller` of `SessionStore.commit`: drop what is remembered about the phone's caller.
FORGET_CALLER = "forget"

# Scripts take their settings baked in (see SessionStore.__init__): fewer arguments, less packing
# per hop. KEYS: lock, session, draft pointer, language, rate counter, known caller. ARGV: lock
# token, session id, the hop's replay key. A hop repeating the last answered one (an aggregator's
# retry) is a replay: it is answered from the session and never counts toward the phone's hops per
# minute. Answers {status, session, language, draft id, known caller}: the id of the phone's dropped
# session, if this one is new and another one is the draft. Its document is read by the caller (a
# key named by a value read here cannot be declared in KEYS).
_BEGIN = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', {lock_ttl_ms}) then return {{0}} end
local session = redis.call('GET', KEYS[2])
local lang = redis.call('GET', KEYS[4])
local replay = false
if session and ARGV[3] ~= '' then
  local ok, doc = pcall(cjson.decode, session)
  replay = ok and type(doc) == 'table' and doc['rk'] == ARGV[3]
end
if not replay then
  local n = redis.call('INCR', KEYS[5])
  if n == 1 then redis.call('EXPIRE', KEYS[5], 60) end
  if n > {rate_limit} then
    redis.call('DEL', KEYS[1])
    return {{2, false, lang}}
  end
end
local draft_id = false
if not session then
  draft_id = redis.call('GET', KEYS[3])
  if draft_id == ARGV[2] then draft_id = false end
end
return {{1, session, lang, draft_id, redis.call('GET', KEYS[6])}}
"""

# KEYS: lock, session, draft pointer, language, known caller[, event stream]. ARGV: token, session
# JSON, its TTL, draft action (set | del | keep), session id, new language or "", known caller or
# "" (keep) or "-" (forget), its TTL in ms[, stream cap, field, value, ...]. The hop's event (the audit
# trail's) and the caller's answer go in first and whatever happens: the citizen got a reply, and
# what the core said (or that a registration made the cached answer stale) holds for the phone.
_COMMIT = """
if #ARGV > 9 then redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[9], '*', unpack(ARGV, 10)) end
if ARGV[7] == '-' then
  redis.call('DEL', KEYS[5])
elseif ARGV[7] ~= '' then
  redis.call('SET', KEYS[5], ARGV[7], 'PX', ARGV[8])
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
if ARGV[4] == 'set' then
  redis.call('SET', KEYS[3], ARGV[5], 'EX', {draft_ttl_s})
elseif ARGV[4] == 'del' then
  redis.call('DEL', KEYS[3])
end
if ARGV[6] ~= '' then redis.call('SET', KEYS[4], ARGV[6], 'EX', {language_ttl_s}) end
redis.call('DEL', KEYS[1])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: draft pointer, session. ARGV: session id, TTL. Keep a dropped session for longer, but only
# while it is still the phone's draft (a newer session has not taken its place).
_KEEP_DRAFT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXPIRE', KEYS[2], ARGV[2]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


class SessionBusy(Exception):
    """Another hop of the same session held the lock for longer than we may wait."""


class RateLimited(Exception):
    """The phone sent more hops this minute than allowed."""

    def __init__(self, lang: str | None) -> None:
        super().__init__("rate limited")
        self.lang = lang


@dataclass
class StoredSession:
    """A session as kept in Redis: the engine's state plus what the gateway needs for replay.

    `replay_key` is the opaque key the adapter gave the last hop it answered (`Hop.replay_key`):
    a hop with the same key is a retry and gets `reply` again. It never holds what was typed.
    """

    state: SessionState
    service_code: str
    replay_key: str = ""
    reply: str = ""
    reply_final: bool = False
    # Set while the first screen asks "continue where you left off?": the dropped session's id.
    resume_from: str | None = None
    started_at: float = field(default_factory=time.time)
    hops: int = 0
    # When it was last saved (the hop's time): a silent session is dropped some time after this.
    saved_at: float = field(default_factory=time.time)
    # The session a resumed one continues (the first of the line): one draft, however often resumed.
    origin: str | None = None
    # Who is calling came from an earlier session (the phone's remembered caller, a draft): its
    # answers are no fresher than that memory, so they are never written back as the phone's caller.
    caller_remembered: bool = False


@dataclass
class Lease:
    """The lock on one session for one hop, and what `begin` read under it."""

    session_id: str
    phone: str
    token: str
    session: StoredSession | None
    draft: StoredSession | None
    draft_id: str | None
    language: str | None
    # Who is calling, as the core said within the last few minutes (None: not known).
    caller: KnownCaller | None = None


class SecretBox:
    """Seals the sensitive answers (PIN, ID number) a session must hold until its action runs, and
    a queued application's fields (Fernet: AES-128-CBC and HMAC-SHA256).

    `key` (32 bytes, `GatewayKeys.sealing`) seals; `older` keys only open what they sealed before a
    key change. `open` answers "" for anything no key opens.
    """

    def __init__(self, key: bytes, *older: bytes) -> None:
        self._fernet = MultiFernet([Fernet(fernet_key(k)) for k in (key, *older)])

    def seal(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            return ""  # a key rotation loses in-flight secrets; the citizen is asked again


def _state_doc(state: SessionState, box: SecretBox) -> dict[str, Any]:
    answers = state.answers
    if state.secrets:
        answers = {k: (box.seal(v) if k in state.secrets else v) for k, v in answers.items()}
    doc: dict[str, Any] = {"t": state.tree_id, "v": state.version, "n": state.node, "l": state.lang}
    if state.page:
        doc["p"] = state.page
    if state.tries:
        doc["e"] = state.tries
    if state.stack:
        doc["s"] = state.stack
    if answers:
        doc["a"] = answers
    if state.secrets:
        doc["x"] = state.secrets
    if state.items:
        doc["i"] = state.items
    if state.done:
        doc["d"] = 1
    return doc


def _state_from(doc: dict[str, Any], box: SecretBox) -> SessionState:
    secrets_ = list(doc.get("x", []))
    answers = dict(doc.get("a", {}))
    for key in secrets_:
        if key in answers:
            answers[key] = box.open(answers[key])
    return SessionState(
        tree_id=doc["t"],
        version=doc["v"],
        node=doc["n"],
        lang=doc["l"],
        page=doc.get("p", 0),
        tries=doc.get("e", 0),
        stack=list(doc.get("s", [])),
        answers=answers,
        secrets=secrets_,
        items=list(doc.get("i", [])),
        done=bool(doc.get("d")),
    )


class SessionStore:
    """All Redis access for USSD sessions. Thread-safe; share one per process."""

    def __init__(
        self,
        client: redis.Redis,
        box: SecretBox,
        session_ttl_s: int = 180,
        draft_ttl_s: int = 600,
        language_ttl_s: int = 365 * 24 * 3600,
        lock_ttl_ms: int = 5000,
        lock_wait_ms: int = 3000,
        rate_limit_per_minute: int = 30,
        caller_ttl_s: int = 600,
        guest_ttl_s: int = 120,
        event_sink: Callable[[tuple[str, int, Mapping[str, str]]], None] | None = None,
    ) -> None:
        self.redis = client
        # Set when the audit stream is on another Redis (a cluster, or a separate queue role):
        # the hop's event then goes to this sink instead of riding in the commit script.
        self.event_sink = event_sink
        self.box = box
        self.session_ttl_s = session_ttl_s
        self.draft_ttl_s = max(draft_ttl_s, session_ttl_s)
        self.language_ttl_s = language_ttl_s
        self.lock_wait_ms = lock_wait_ms
        self.caller_ttl_s = caller_ttl_s
        self.guest_ttl_s = guest_ttl_s
        self._begin = client.register_script(
            _BEGIN.format(lock_ttl_ms=int(lock_ttl_ms), rate_limit=int(rate_limit_per_minute))
        )
        self._commit = client.register_script(
            _COMMIT.format(draft_ttl_s=int(self.draft_ttl_s), language_ttl_s=int(language_ttl_s))
        )
        self._release = client.register_script(_RELEASE)
        self._keep_draft = client.register_script(_KEEP_DRAFT)

    # -- keys ---------------------------------------------------------------------------------
    @staticmethod
    def _prefix(phone: str) -> str:
        return f"u:{{{phone}}}:"

    def session_key(self, phone: str, session_id: str) -> str:
        return f"{self._prefix(phone)}s:{session_id}"

    def load(self, phone: str, session_id: str) -> StoredSession | None:
        """The session as last saved (e.g. a dropped one to resume), or None; no lock taken."""
        raw = self.redis.get(self.session_key(phone, session_id))
        return self.loads(raw) if raw else None

    def _keys(self, phone: str, session_id: str) -> list[str]:
        p = self._prefix(phone)
        return [f"{p}k:{session_id}", f"{p}s:{session_id}", f"{p}d", f"{p}l", f"{p}r", f"{p}c"]

    # -- serialisation ------------------------------------------------------------------------
    def dumps(self, stored: StoredSession) -> bytes:
        doc = _state_doc(stored.state, self.box)
        doc.update(
            sc=stored.service_code,
            rk=stored.replay_key,
            r=stored.reply,
            # Down, never up: the caller's TTL is counted from it and must not outlive the core's answer.
            st=math.floor(stored.started_at * 10) / 10,
            h=stored.hops,
            at=round(stored.saved_at, 1),
        )
        if stored.reply_final:
            doc["rf"] = 1
        if stored.resume_from:
            doc["ro"] = stored.resume_from
        if stored.origin:
            doc["og"] = stored.origin
        if stored.caller_remembered:
            doc["cm"] = 1
        # Compact UTF-8 JSON: readable with redis-cli, and orjson makes it a few microseconds a hop.
        return orjson.dumps(doc)

    def loads(self, raw: bytes | str) -> StoredSession:
        doc = orjson.loads(raw)
        return StoredSession(
            state=_state_from(doc, self.box),
            service_code=doc.get("sc", ""),
            replay_key=doc.get("rk", ""),
            reply=doc.get("r", ""),
            reply_final=bool(doc.get("rf")),
            resume_from=doc.get("ro"),
            started_at=doc.get("st", time.time()),
            hops=doc.get("h", 0),
            saved_at=doc.get("at", doc.get("st", time.time())),
            origin=doc.get("og"),
            caller_remembered=bool(doc.get("cm")),
        )

    # -- the two round trips of a hop ---------------------------------------------------------
    def begin(self, phone: str, session_id: str, replay_key: str = "") -> Lease:
        """Take the session's lock and read the session, the resume draft and the language.

        Waits up to `lock_wait_ms` while another hop of the same session runs; raises
        `SessionBusy` after that and `RateLimited` when the phone is over its hops per minute. A
        hop whose `replay_key` equals the session's last one is not counted toward that limit.
        """
        token = secrets.token_hex(8)
        keys = self._keys(phone, session_id)
        deadline = time.monotonic() + self.lock_wait_ms / 1000
        delay = 0.002
        while True:
            result = self._begin(
                keys=keys,
                args=[token, session_id, replay_key],
            )
            if result[0] != 0:
                break
            if time.monotonic() >= deadline:
                raise SessionBusy(session_id)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
        # Redis drops trailing nils from a script's reply: pad back to five fields.
        status, session_raw, lang_raw, draft_raw_id, caller_raw = [*result, None, None, None, None][:5]
        language = _text(lang_raw)
        if status == 2:
            raise RateLimited(language)
        session = self.loads(session_raw) if session_raw else None
        draft_id = _text(draft_raw_id)
        # Only the first hop after a dropped call gets here: one more round trip, outside the
        # script, because the dropped session's key comes from the pointer's value.
        draft = None
        if draft_id:
            try:
                draft = self.load(phone, draft_id)
            except redis.RedisError:
                with contextlib.suppress(redis.RedisError):  # else the lock expires on its own
                    self._release(keys=keys[:1], args=[token])
                raise
        caller = _caller_from(caller_raw)
        return Lease(session_id, phone, token, session, draft, draft_id if draft else None, language, caller)

    def commit(
        self,
        lease: Lease,
        stored: StoredSession,
        resumable: bool,
        language: str | None = None,
        event: tuple[str, int, Mapping[str, str]] | None = None,
        caller: KnownCaller | str | None = None,
    ) -> bool:
        """Save the session and its reply, keep or drop the resume draft, remember a new language,
        and release the lock, in one round trip. False when the lock had expired (nothing saved).

        `caller`: who the core said is calling, remembered for the phone's next dials until
        `caller_ttl_s` (a guest `guest_ttl_s`; a TTL of 0 remembers nothing) after the session
        began (`stored.started_at`, when the core was asked), or `FORGET_CALLER` to drop what is
        remembered. Applied even when the lock had expired: it is about the phone, not this session.

        `resumable`: the session waits for input past its start, so if the call drops now the next
        dial should offer to continue here. `event`: (stream, cap, fields) to XADD in the same
        script, so the hop's audit event costs no round trip of its own; with an `event_sink`
        (sessions on a Redis Cluster or apart from the queue role) it goes to the sink instead.
        """
        if stored.resume_from is not None:
            # Still asking "continue where you left off?": the old draft stays as it is.
            draft_action, ttl = "keep", self.session_ttl_s
        elif resumable and not stored.reply_final:
            draft_action, ttl = "set", self.draft_ttl_s
        else:
            # Ended, or back at the start (nothing to resume, or the citizen chose to start again).
            draft_action, ttl = "del", self.session_ttl_s
        stored.saved_at = time.time()
        lock, session, draft, lang, _rate, known = self._keys(lease.phone, lease.session_id)
        keys = [lock, session, draft, lang, known]
        caller_value, caller_ttl = self._caller_write(caller, stored.started_at)
        args: list[object] = [
            lease.token,
            self.dumps(stored),
            ttl,
            draft_action,
            lease.session_id,
            language or "",
            caller_value,
            caller_ttl,
        ]
        if event is not None and self.event_sink is not None:
            saved = bool(self._commit(keys=keys, args=args))
            self.event_sink(event)
            return saved
        if event is not None:
            stream, cap, fields = event
            keys.append(stream)
            args.append(cap)
            for name, value in fields.items():
                args += (name, value)
        return bool(self._commit(keys=keys, args=args))

    def caller_ttl_ms(self, caller: KnownCaller, since: float) -> int:
        """Milliseconds `caller`, as the core said it at `since` (epoch seconds), may still be
        remembered: until `caller_ttl_s` (a guest `guest_ttl_s`) after `since`; 0 once that is past."""
        ttl = self.caller_ttl_s if caller.registered else self.guest_ttl_s
        if ttl <= 0:
            return 0
        return max(0, int((since + ttl - time.time()) * 1000))

    def _caller_write(self, caller: KnownCaller | str | None, since: float) -> tuple[str, int]:
        if caller == FORGET_CALLER:
            return "-", 0
        if not isinstance(caller, KnownCaller):
            return "", 0
        ttl_ms = self.caller_ttl_ms(caller, since)
        if ttl_ms <= 0:
            return "", 0
        return _caller_text(caller), ttl_ms

    def remember_caller(self, phone: str, caller: KnownCaller, since: float) -> bool:
        """Remember `caller`, as the core said it at `since`, for the phone's next dials (one SET,
        no lock: it is about the phone, not a session). False when its time is already up."""
        value, ttl_ms = self._caller_write(caller, since)
        if not value:
            return False
        self.redis.set(f"{self._prefix(phone)}c", value, px=ttl_ms)
        return True

    def forget_caller(self, phone: str) -> None:
        """Drop what is remembered about who `phone` is: the next dial asks the core."""
        self.redis.delete(f"{self._prefix(phone)}c")

    def draft_id(self, phone: str) -> str | None:
        """The id of the session the phone's next dial would offer to continue, if any."""
        return _text(self.redis.get(f"{self._prefix(phone)}d"))

    def keep_draft(self, phone: str, session_id: str, ttl_s: int) -> bool:
        """Keep the dropped session `session_id` (and the phone's pointer to it) for `ttl_s` more
        seconds, if it is still the phone's draft; False (nothing changed) otherwise."""
        keys = self._keys(phone, session_id)
        return bool(self._keep_draft(keys=[keys[2], keys[1]], args=[session_id, int(ttl_s)]))

    def release(self, lease: Lease) -> None:
        self._release(keys=self._keys(lease.phone, lease.session_id)[:1], args=[lease.token])

    def language(self, phone: str) -> str | None:
        return _text(self.redis.get(f"{self._prefix(phone)}l"))

    def languages(self, phones: list[str]) -> dict[str, str | None]:
        """`language` of each of `phones`, in one round trip (one per node on a cluster)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for phone in phones:
                pipe.get(f"{self._prefix(phone)}l")
            return {phone: _text(raw) for phone, raw in zip(phones, pipe.execute(), strict=True)}

    def set_language(self, phone: str, lang: str) -> None:
        self.redis.set(f"{self._prefix(phone)}l", lang, ex=self.language_ttl_s)


def _caller_text(caller: KnownCaller) -> str:
    # "1Wanjiku" or "0": the registered flag and the first name, nothing else about the citizen.
    return ("1" + caller.first_name) if caller.registered else "0"


def _caller_from(raw: bytes | str | None) -> KnownCaller | None:
    text = _text(raw)
    if not text or text[0] not in "01":
        return None
    return KnownCaller(registered=text[0] == "1", first_name=text[1:] if text[0] == "1" else "")


def _text(raw: bytes | str | None) -> str | None:
    return raw.decode() if isinstance(raw, bytes) else raw
