"""The hop pipeline: lock and load the session, work out the new keys, step the engine, save, reply.

Adapters turn their aggregator's request into a `Hop` and render the `HopReply`; everything in
between, whatever the aggregator, happens here.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Protocol

import redis

from citizen.registry import HopContext, runner_for
from common.logs import get_logger
from common.phones import mask_phone
from gateway import metrics
from gateway.africastalking.transcript import Consumed
from gateway.hop import Hop, HopReply
from gateway.replies import polite
from menus.engine import Engine, Screen, SessionState, StepResult
from menus.model import MenuTree
from menus.registry import TreeRegistry
from sessions.store import Lease, RateLimited, SessionBusy, SessionStore, StoredSession

log = get_logger("gateway.ussd")

HopListener = Callable[[Hop, HopReply, float], None]


class HopAuditorLike(Protocol):
    def __call__(self, hop: Hop, reply: HopReply, elapsed: float) -> None: ...

    def stream_event(
        self, hop: Hop, reply: HopReply, elapsed: float
    ) -> tuple[str, int, Mapping[str, str]] | None: ...


class HopService:
    """Answers hops. One per process; safe to share between threads."""

    def __init__(
        self,
        store: SessionStore,
        trees: TreeRegistry,
        screen_limit: int = 160,
        default_language: str = "en",
        hop_budget_ms: int = 2500,
        max_tries: int = 3,
        log_hops: bool = False,
    ) -> None:
        self.store = store
        self.trees = trees
        self.screen_limit = screen_limit
        self.default_language = default_language
        self.hop_budget_s = hop_budget_ms / 1000
        self.max_tries = max_tries
        self.log_hops = log_hops
        # Called after every answered hop (audit trail, analytics); must be quick and never raise.
        self.listeners: list[HopListener] = []
        # The audit trail's hop recorder. Its event rides in the session's commit round trip; hops
        # that save nothing (replays, refusals, errors) are recorded after the reply instead.
        self.auditor: HopAuditorLike | None = None

    def handle(self, hop: Hop) -> HopReply:
        started = time.perf_counter()
        reply = self._handle(hop, started)
        elapsed = time.perf_counter() - started
        metrics.HOPS.labels(reply.outcome).inc()
        metrics.HOP_LATENCY.observe(elapsed)
        # One line per hop only at DEBUG: at INFO the hop path stays quiet (metrics and the audit
        # trail count hops) and does not even build the line's fields; warnings and errors always log.
        if self.log_hops:
            log.debug(
                "hop",
                session=hop.session_id,
                phone=mask_phone(hop.phone),
                node=reply.node,
                outcome=reply.outcome,
                latency_ms=round(elapsed * 1000, 2),
            )
        if self.auditor is not None and not reply.audited:
            self.auditor(hop, reply, elapsed)
        for listener in self.listeners:
            try:
                listener(hop, reply, elapsed)
            except Exception:  # an observer must never break a citizen's hop
                log.exception("hop listener failed")
        return reply

    def _handle(self, hop: Hop, started: float) -> HopReply:
        tree = self.trees.for_service_code(hop.service_code, hop.session_id)
        if tree is None:
            return HopReply(polite("unknown_service"), True, "unknown_service")
        try:
            lease = self.store.begin(hop.phone, hop.session_id)
        except RateLimited as limited:
            return HopReply(polite("rate_limited", limited.lang), True, "rate_limited")
        except SessionBusy:
            metrics.HOP_ERRORS.labels("session_busy").inc()
            return HopReply(polite("busy"), True, "busy")
        except redis.RedisError as exc:
            metrics.HOP_ERRORS.labels("redis").inc()
            log.error("redis unavailable", error=type(exc).__name__)
            return HopReply(polite("busy"), True, "redis_down")
        try:
            return self._advance(hop, tree, lease, started)
        except redis.RedisError as exc:
            metrics.HOP_ERRORS.labels("redis").inc()
            log.error("redis failed mid-hop", error=type(exc).__name__)
            return HopReply(polite("busy", lease.language), True, "redis_down")
        except Exception:
            metrics.HOP_ERRORS.labels("internal").inc()
            log.exception("hop failed", session=hop.session_id)
            self._release_quietly(lease)
            return HopReply(polite("error", lease.language), True, "error")

    def _release_quietly(self, lease: Lease) -> None:
        with contextlib.suppress(redis.RedisError):  # the lock expires on its own
            self.store.release(lease)

    def _engine(self, tree: MenuTree, hop: Hop) -> Engine:
        context = HopContext(hop.phone, hop.session_id, deadline=time.monotonic() + self.hop_budget_s)
        return Engine(tree, runner_for(context), screen_limit=self.screen_limit, max_tries=self.max_tries)

    def _pinned_tree(self, state: SessionState, fallback: MenuTree) -> MenuTree:
        """The version the session started on; the current one if that version is gone."""
        tree = self.trees.version(state.tree_id, state.version) or self.trees.current(state.tree_id)
        return tree or fallback

    def _advance(self, hop: Hop, tree: MenuTree, lease: Lease, started: float) -> HopReply:
        stored = lease.session
        if stored is not None:
            if stored.consumed.is_repeat(hop.text):
                self.store.release(lease)
                return HopReply(
                    stored.reply,
                    stored.reply_final,
                    "replay",
                    stored.state.node,
                    stored.state.lang,
                    tree_id=stored.state.tree_id,
                    tree_version=stored.state.version,
                )
            if stored.reply_final:
                # The session already ended; a late hop gets the closing screen again.
                self.store.release(lease)
                return HopReply(
                    stored.reply,
                    True,
                    "replay",
                    stored.state.node,
                    stored.state.lang,
                    tree_id=stored.state.tree_id,
                    tree_version=stored.state.version,
                )

        if stored is None:
            stored, result = self._open(hop, tree, lease)
        else:
            tree = self._pinned_tree(stored.state, tree)
            result = self._continue(hop, tree, stored)
            tree = self._pinned_tree(stored.state, tree)  # resuming may switch to the draft's version

        language = None
        for effect in result.effects:
            if effect.name == "set_language":
                language = effect.params["lang"]
        stored.consumed = Consumed.of(hop.text)
        stored.reply = result.screen.body
        stored.reply_final = result.screen.final
        stored.hops += 1
        resumable = _resumable(tree, stored.state)
        reply = HopReply(
            result.screen.body,
            result.screen.final,
            result.outcome,
            result.node,
            stored.state.lang,
            tree_id=tree.id,
            tree_version=tree.version,
            audited=self.auditor is not None,
        )
        event = None
        if self.auditor is not None:
            event = self.auditor.stream_event(hop, reply, time.perf_counter() - started)
        if not self.store.commit(lease, stored, resumable, language, event=event):
            log.warning("session lock expired before save", session=hop.session_id)
        return reply

    def _open(self, hop: Hop, tree: MenuTree, lease: Lease) -> tuple[StoredSession, StepResult]:
        """First hop of a session: offer to resume a dropped one, or start (consuming deep-dial keys)."""
        engine = self._engine(tree, hop)
        lang = lease.language or self.default_language
        keys, _ = Consumed().new_keys(hop.text)
        draft = lease.draft
        if draft is not None and not keys and not draft.reply_final and draft.state.stack:
            state = engine.new_state(draft.state.lang)
            stored = StoredSession(state, hop.service_code, resume_from=lease.draft_id)
            body = tree.string("resume", state.lang)
            return stored, StepResult(Screen(body, final=False), (), "resume_offer", state.node)
        state = engine.new_state(lang)
        stored = StoredSession(state, hop.service_code)
        result = engine.start(state)
        return stored, self._keys(engine, state, keys, result)

    def _continue(self, hop: Hop, tree: MenuTree, stored: StoredSession) -> StepResult:
        keys, extended = stored.consumed.new_keys(hop.text)
        if not extended:
            log.warning("transcript did not extend the consumed one", session=hop.session_id)
        state = stored.state
        if state.node not in tree.nodes:
            state.node, state.stack, state.page = tree.start, [], 0
        engine = self._engine(tree, hop)
        if stored.resume_from is not None:
            return self._answer_resume(hop, engine, stored, keys)
        result = StepResult(engine.current(state), (), "start", state.node)
        return self._keys(engine, state, keys, result)

    def _answer_resume(self, hop: Hop, engine: Engine, stored: StoredSession, keys: list[str]) -> StepResult:
        choice, rest = (keys[0], keys[1:]) if keys else ("", [])
        tree = engine.tree
        if choice == "1":
            draft = self._load_draft(hop.phone, stored.resume_from or "")
            stored.resume_from = None
            if draft is not None:
                tree = self._pinned_tree(draft.state, tree)
                engine = self._engine(tree, hop)
                stored.state = draft.state
                stored.state.done = False
                result = StepResult(engine.current(stored.state), (), "resumed", stored.state.node)
                return self._keys(engine, stored.state, rest, result)
        if choice in ("1", "2"):
            stored.resume_from = None
            result = engine.start(stored.state)
            return self._keys(engine, stored.state, rest, result)
        notice = tree.string("invalid", stored.state.lang)
        body = f"{notice}\n{tree.string('resume', stored.state.lang)}"
        return StepResult(Screen(body, final=False), (), "invalid", stored.state.node)

    def _load_draft(self, phone: str, session_id: str) -> StoredSession | None:
        raw = self.store.redis.get(self.store.session_key(phone, session_id))
        return self.store.loads(raw) if raw else None

    @staticmethod
    def _keys(engine: Engine, state: SessionState, keys: list[str], result: StepResult) -> StepResult:
        effects = list(result.effects)
        for key in keys:
            if result.screen.final:
                break
            result = engine.step(state, key)
            effects.extend(result.effects)
        return StepResult(result.screen, tuple(effects), result.outcome, result.node)


def _resumable(tree: MenuTree, state: SessionState) -> bool:
    """Is this session mid-journey, so that a dropped call should be offered "continue"?

    Yes while the citizen is answering (an input or a list to choose from), or on a menu reached
    after answering something. Not on the main menu, help and status screens, or menus browsed
    without typing anything: starting again costs nothing there.
    """
    node = tree.nodes.get(state.node)
    if node is None or node.id == tree.start:
        return False
    if node.kind in ("input", "list"):
        return True
    answered = any(tree.nodes[n].kind == "input" for n in state.stack if n in tree.nodes)
    return node.kind == "menu" and bool(node.options) and answered
