"""Every Lua script the code sends to Redis touches only the keys it is handed in KEYS.

Redis Cluster routes a script by its declared keys and checks nothing else: a script that builds a
key from a value it read works there only while that key happens to share the slot, and a server
proxy, a resharding or a key without the hash tag breaks it. Two checks, each written as the attack:

- on the text: every `redis.call`/`redis.pcall` of every script found in the source names its key
  as `KEYS[...]` (a key made by concatenation, or a command the check cannot place, is refused);
- by running them: every script the code registers (`register_script`) or evaluates (`eval`) is run
  through a tracer on a real Redis and a real three-master Redis Cluster, by the very objects that
  use it, and each command it ran is asked of Redis (`COMMAND GETKEYS`) which keys it touched.

A script found in the source that no run below reaches fails the test too: a new script needs its
run added here.
"""

from __future__ import annotations

import ast
import json
import re
import string
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.commands.core import Script

from common.redis_conn import connect, is_cluster
from tests.hops import TEST_SEALING_KEY

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".venv", "tests", "node_modules", "var", ".git"}
PHONE = "+254712000111"

# Where each command the scripts may run keeps its key: the argument right after the command name.
SINGLE_KEY_COMMANDS = {
    "GET", "SET", "DEL", "EXISTS", "EXPIRE", "PEXPIRE", "TTL", "PTTL", "INCR", "INCRBY", "DECR",
    "DECRBY", "XADD", "HGET", "HSET", "HDEL", "ZADD", "ZREM", "SADD", "SREM", "LPUSH", "RPUSH",
}  # fmt: skip


# -- finding the scripts ---------------------------------------------------------------------------
def scripts_in_source(root: Path = ROOT) -> dict[str, str]:
    """Every string literal of the code base that calls Redis from Lua: {"file:line": text}."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        if SKIP_DIRS & set(path.relative_to(root).parts):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.search(r"redis\.p?call\s*\(", node.value)
            ):
                found[f"{path.relative_to(root)}:{node.lineno}"] = node.value
    return found


def _source_pattern(text: str) -> re.Pattern[str]:
    """A pattern matching `text` as written, or as `text.format(...)` renders it."""
    exact = re.escape(text)
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:
        return re.compile(exact, re.S)
    rendered = "".join(
        re.escape(literal) + ("(?:.+?)" if field is not None else "") for literal, field, _, _ in parts
    )
    return re.compile(f"(?:{exact})|(?:{rendered})", re.S)


# -- the check on the text -------------------------------------------------------------------------
def _call_arguments(text: str, start: int) -> list[str]:
    """The top-level, comma-separated arguments of the call whose "(" is at `start`."""
    depth, quote, current, arguments = 0, "", [], []
    for char in text[start + 1 :]:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
            continue
        if char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                arguments.append("".join(current).strip())
                return arguments
            depth -= 1
        elif char == "," and depth == 0:
            arguments.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    raise ValueError("unbalanced call")


def undeclared_keys_in_text(script: str) -> list[str]:
    """Why `script`'s text may touch a key it was not handed: one line per suspicious call."""
    problems = []
    for match in re.finditer(r"redis\.p?call\s*\(", script):
        arguments = _call_arguments(script, match.end() - 1)
        command = arguments[0].strip("'\"").upper() if arguments else ""
        if not arguments or arguments[0][:1] not in "'\"":
            problems.append(f"command not a literal: {match.group(0)}{', '.join(arguments)})")
        elif command not in SINGLE_KEY_COMMANDS:
            problems.append(f"{command}: the check does not know where its keys are")
        elif len(arguments) < 2 or not re.fullmatch(r"KEYS\[\s*\w+\s*\]", arguments[1]):
            key = arguments[1] if len(arguments) > 1 else "(none)"
            problems.append(f"{command} on {key}: a key not taken from KEYS")
    return problems


# -- the check by running --------------------------------------------------------------------------
# Wraps a script: the local `redis` records every command before running it, and the reply carries
# the record (JSON) ahead of the script's own answer.
_TRACER = """
local traced_calls = {{}}
local real_redis = redis
local function traced(fn)
  return function(...)
    traced_calls[#traced_calls + 1] = {{...}}
    return fn(...)
  end
end
local redis = setmetatable({{call = traced(real_redis.call), pcall = traced(real_redis.pcall)}},
  {{__index = real_redis}})
local traced_answer = (function()
{body}
end)()
return {{cjson.encode(traced_calls), traced_answer}}
"""


class TracingRedis:
    """A client whose scripts run traced: `runs` holds (script text, declared keys, commands run)."""

    def __init__(self, client) -> None:
        self._client = client
        self.runs: list[tuple[str, list[str], list[list[str]]]] = []

    def __getattr__(self, name: str):
        return getattr(self._client, name)

    def register_script(self, script: str) -> Script:
        tracer = self

        class Traced(Script):
            def __call__(self, keys=None, args=None, client=None):
                return tracer.eval(self.script, len(keys or []), *(keys or []), *(args or []))

        return Traced(self._client, script)

    def eval(self, script: str, numkeys: int, *keys_and_args):
        text = script.decode() if isinstance(script, bytes) else script
        keys = [_text(k) for k in keys_and_args[:numkeys]]
        reply = self._client.eval(_TRACER.format(body=text), numkeys, *keys_and_args)
        calls = json.loads(_text(reply[0]))
        self.runs.append((text, keys, [[_text(a) for a in call] for call in (calls or [])]))
        return reply[1] if len(reply) > 1 else None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def keys_of(client, call: list[str]) -> list[str]:
    """The keys Redis says `call` touches (COMMAND GETKEYS), none for a command without keys."""
    try:
        found = client.execute_command("COMMAND GETKEYS", *call)
    except redis.ResponseError:
        return []
    if isinstance(found, dict):  # a cluster client answers per node
        found = next(iter(found.values()))
    return [_text(k) for k in found]


def undeclared_keys_in_runs(tracing: TracingRedis) -> list[str]:
    problems = []
    for text, declared, calls in tracing.runs:
        for call in calls:
            for key in keys_of(tracing._client, call):
                if key not in declared:
                    first_line = text.strip().splitlines()[0][:60]
                    problems.append(f"{call[0]} {key!r} not in KEYS {declared} (script: {first_line} …)")
    return problems


# -- every user of a script, run through its branches ----------------------------------------------
def run_every_script(client) -> TracingRedis:
    """Build each object that registers or evaluates a script on a tracing client, and drive it
    through the branches that touch keys."""
    from audit.drain import drain_lock
    from common.lease import lease
    from common.lookup_limits import LookupLimits
    from console.throttle import LoginThrottle
    from menus.effects import KnownCaller
    from menus.engine import SessionState
    from sessions.store import FORGET_CALLER, RateLimited, SecretBox, SessionStore, StoredSession

    tracing = TracingRedis(client)
    box = SecretBox(TEST_SEALING_KEY)

    def stored(node: str = "ask_id", **extra) -> StoredSession:
        state = SessionState("ecitizen", "v1", node, "en", stack=["main", "register"])
        return StoredSession(state, "*384*123#", "k1", reply="Enter your ID", **extra)

    store = SessionStore(tracing, box, rate_limit_per_minute=100)
    first = store.begin(PHONE, "S1", "k0")
    assert store.commit(first, stored(), resumable=True, language="sw")  # draft pointer set
    second = store.begin(PHONE, "S2")  # a new session while S1 is the phone's draft
    assert second.draft is not None and second.draft_id == "S1"
    assert store.commit(second, stored(resume_from="S1"), resumable=False)  # draft kept
    assert store.keep_draft(PHONE, "S1", 3600)
    third = store.begin(PHONE, "S2", "k1")
    store.release(third)
    again = store.begin(PHONE, "S2", "k1")
    assert store.commit(again, stored(reply_final=True), resumable=False)  # draft dropped
    known = store.begin(PHONE, "S6")
    assert store.commit(known, stored(), resumable=False, caller=KnownCaller(True, "Wanjiku"))  # remembered
    assert store.begin(PHONE, "S7").caller == KnownCaller(True, "Wanjiku")
    forgotten = store.begin(PHONE, "S8")
    assert store.commit(forgotten, stored(), resumable=False, caller=FORGET_CALLER)
    ended = store.begin(PHONE, "S9")  # a final reply remembers the caller, its TTL in milliseconds
    assert store.commit(ended, stored(reply_final=True), resumable=False, caller=KnownCaller(False))
    stale = store.begin(PHONE, "S10")  # learnt longer ago than the TTL: nothing written
    assert store.commit(
        stale, stored(reply_final=True, started_at=0.0), resumable=False, caller=KnownCaller(False)
    )
    limited = SessionStore(tracing, box, rate_limit_per_minute=1)
    other = "+254712000222"  # the hops above count toward PHONE's minute
    limited.release(limited.begin(other, "S3"))
    with pytest.raises(RateLimited):
        limited.begin(other, "S4")
    if not is_cluster(client):  # the commit that carries the audit event: one server only
        lease_ = store.begin(PHONE, "S5")
        store.commit(lease_, stored(), resumable=True, event=("audit:events", 1000, {"kind": "hop"}))

    throttle = LoginThrottle(tracing, b"k" * 32, max_failures=2)
    assert throttle.attempt("ops@example.org", "10.0.0.9") == 0
    throttle.succeeded("ops@example.org", "10.0.0.9")
    throttle.attempt("ops@example.org", "10.0.0.9")
    throttle.not_checked("ops@example.org", "10.0.0.9")
    for _ in range(3):
        throttle.attempt("ops@example.org", "10.0.0.9")  # the last one is refused

    limits = LookupLimits(tracing, b"k" * 32)
    assert limits.admit(PHONE, "ECZ-7K3Q9P")
    limits.found(PHONE, "ECZ-7K3Q9P")

    with lease(tracing, "script-keys", 5) as held:
        assert held is not None and held.extend()
    with drain_lock(tracing, wait_s=1) as locked:
        assert locked
    return tracing


def _flush(client) -> None:
    if is_cluster(client):
        client.flushdb(target_nodes="primaries")
    else:
        client.flushdb()


@pytest.fixture(params=["single", "cluster"])
def any_redis(request) -> Iterator[object]:
    if request.param == "single":
        client = request.getfixturevalue("redis_client")
    else:
        client = connect(request.getfixturevalue("redis_cluster").url(), "hop")
    _flush(client)
    yield client
    _flush(client)


def test_every_script_touches_only_its_declared_keys(any_redis):
    tracing = run_every_script(any_redis)
    assert tracing.runs and all(calls for _, _, calls in tracing.runs)
    assert undeclared_keys_in_runs(tracing) == []


def test_every_script_in_the_source_is_run_by_this_test(redis_client):
    tracing = run_every_script(redis_client)
    ran = {text for text, _, _ in tracing.runs}
    sources = scripts_in_source()
    assert len(sources) >= 10, sources.keys()
    missed = [
        where for where, text in sources.items() if not any(_source_pattern(text).fullmatch(r) for r in ran)
    ]
    assert missed == [], f"scripts no run of this test reaches (add one to run_every_script): {missed}"


def test_every_script_in_the_source_names_its_keys_from_keys():
    problems = {where: undeclared_keys_in_text(text) for where, text in scripts_in_source().items()}
    assert {where: found for where, found in problems.items() if found} == {}


def test_the_caller_remembered_at_a_sessions_end_shares_the_phones_slot(any_redis):
    """Both writers of `u:{phone}:c` (the commit script at a final reply, and the plain SET of an
    aggregator's end notice) keep it in the phone's slot, and never for longer than its TTL."""
    from menus.effects import KnownCaller
    from menus.engine import SessionState
    from sessions.store import SecretBox, SessionStore, StoredSession

    store = SessionStore(any_redis, SecretBox(TEST_SEALING_KEY), caller_ttl_s=600, guest_ttl_s=120)
    state = SessionState("ecitizen", "v1", "main", "en")
    lease_ = store.begin(PHONE, "E1")
    final = StoredSession(state, "*384*123#", "k1", reply="Thank you", reply_final=True)
    assert store.commit(lease_, final, resumable=False, caller=KnownCaller(True, "Wanjiku"))
    key = f"u:{{{PHONE}}}:c"
    assert any_redis.get(key) == b"1Wanjiku" and 0 < any_redis.pttl(key) <= 600_000
    assert store.remember_caller(PHONE, KnownCaller(False), since=time.time() - 100)
    assert any_redis.get(key) == b"0" and 0 < any_redis.pttl(key) <= 20_000
    assert not store.remember_caller(PHONE, KnownCaller(False), since=time.time() - 121)
    if is_cluster(any_redis):
        assert any_redis.keyslot(key) == any_redis.keyslot(store.session_key(PHONE, "E1"))


# -- the attacks -----------------------------------------------------------------------------------
# What the session's begin script did before: read a pointer, then the key it names.
BUILDS_A_KEY = """
local id = redis.call('GET', KEYS[1])
if id then return redis.call('GET', string.sub(KEYS[1], 1, #KEYS[1] - 1) .. 's:' .. id) end
return false
"""


def test_a_script_that_builds_a_key_fails_the_text_check():
    assert undeclared_keys_in_text(BUILDS_A_KEY) == [
        "GET on string.sub(KEYS[1], 1, #KEYS[1] - 1) .. 's:' .. id: a key not taken from KEYS"
    ]
    assert undeclared_keys_in_text("return redis.call(ARGV[1], KEYS[1])")  # a command from a value
    assert undeclared_keys_in_text("return redis.call('MSET', KEYS[1], 1, KEYS[2], 2)")  # not placed


def test_a_script_that_builds_a_key_fails_the_run_check_even_where_the_cluster_accepts_it(any_redis):
    """The built key shares the phone's hash tag, so even Redis Cluster runs the script without a
    word: only the trace shows the undeclared key."""
    pointer, session = f"u:{{{PHONE}}}:d", f"u:{{{PHONE}}}:s:S9"
    any_redis.set(pointer, "S9")
    any_redis.set(session, "the dropped session")
    tracing = TracingRedis(any_redis)
    assert _text(tracing.register_script(BUILDS_A_KEY)(keys=[pointer])) == "the dropped session"
    assert undeclared_keys_in_runs(tracing) == [
        f"GET '{session}' not in KEYS ['{pointer}'] (script: local id = redis.call('GET', KEYS[1]) …)"
    ]


def test_a_script_in_the_source_that_no_run_reaches_is_reported(tmp_path):
    module = tmp_path / "extra.py"
    module.write_text("_SWEEP = \"return redis.call('DEL', KEYS[1])\"\n")
    found = scripts_in_source(tmp_path)
    assert list(found) == ["extra.py:1"]
    assert not _source_pattern(found["extra.py:1"]).fullmatch("return redis.call('GET', KEYS[1])")


def test_the_tracer_returns_what_the_script_returns(redis_client):
    tracing = TracingRedis(redis_client)
    script = tracing.register_script("redis.call('SET', KEYS[1], ARGV[1]) return {1, false, ARGV[1]}")
    assert script(keys=["trace:k"], args=["v"]) == [1, None, b"v"]
    assert tracing.runs == [
        (
            "redis.call('SET', KEYS[1], ARGV[1]) return {1, false, ARGV[1]}",
            ["trace:k"],
            [["SET", "trace:k", "v"]],
        )
    ]
    assert redis_client.get("trace:k") == b"v"
