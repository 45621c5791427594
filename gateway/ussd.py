"""The hop pipeline: lock and load the session, pick the new inputs, step the engine, save, reply,
then hand the events on.

Adapters turn their aggregator's request into a `Hop` and render the `HopReply`; everything in
between, whatever the aggregator, happens here. Every collaborator is passed in by `create_app`.
"""

from __future__ import annotations

import contextlib
import time

import redis

from citizen.actions import Actions, HopContext, known_caller
from citizen.drafts import RESUME_KEY, DraftNotices
from common.logs import get_logger
from common.outcomes import HopOutcome
from common.phones import mask_phone
from gateway import metrics
from gateway.hop import Hop, HopReply
from gateway.replies import polite
from gateway.sink import EventSink
from menus.effects import Effect, ForgetCaller, KnownCaller, SetLanguage
from menus.engine import Engine, Screen, SessionState, StaticPages, StepResult
from menus.model import MenuTree
from menus.registry import TreeRegistry
from menus.render import PREFIX_LEN
from sessions.store import FORGET_CALLER, Lease, RateLimited, SessionBusy, SessionStore, StoredSession

log = get_logger("gateway.ussd")


class HopService:
    """Answers hops. One per process; safe to share between threads.

    - `trees`: the tree per service code and every version a session may be pinned to;
    - `store`: session state, the per-session lock, replay, resume drafts, rate limits;
    - `actions`: the citizen actions, bound to their core-service client and queue;
    - `events`: where the hop's audit event and its actions' effects go after the engine step;
    - `drafts`: watches sessions mid-application, so a dropped one gets its "saved" SMS;
    - `meter`: hop counts and latency for Prometheus (pushed at most a second late).

    Who is calling is remembered per phone only once a session stops being live: its final
    reply, or the aggregator's end notice (`session_ended`); a session dropped mid-journey is read
    back through the phone's draft instead. Either way the answer lasts until the caller TTL after
    the session that asked the core began.

    A repeated hop (`Hop.repeats` the last one answered) gets the stored reply and runs no action
    and no effect. A continuation that needs a session the store does not hold (`Hop.needs_session`)
    gets a polite final screen and opens none. Effects are handed on after the session is saved,
    once per hop. Screens fit `screen_limit` (which counts a 4-character `CON `/`END `), or the
    hop's own `text_limit` when its aggregator frames screens differently.
    """

    def __init__(
        self,
        trees: TreeRegistry,
        store: SessionStore,
        actions: Actions,
        events: EventSink,
        *,
        screen_limit: int = 160,
        default_language: str = "en",
        hop_budget_ms: int = 2500,
        max_tries: int = 3,
        log_hops: bool = False,
        drafts: DraftNotices | None = None,
        meter: metrics.HopMeter | None = None,
    ) -> None:
        self.trees = trees
        self.store = store
        self.actions = actions
        self.events = events
        self.screen_limit = screen_limit
        self.default_language = default_language
        self.hop_budget_s = hop_budget_ms / 1000
        self.max_tries = max_tries
        self.log_hops = log_hops
        self.drafts = drafts
        self.meter = meter or metrics.HopMeter()
        # Static screens rendered once per tree version and screen limit, shared by every hop's engine.
        self._pages: dict[tuple[str, str, int], StaticPages] = {}

    def handle(self, hop: Hop) -> HopReply:
        """The reply to `hop`. Never raises: a failure is a polite final screen with its outcome."""
        started = time.perf_counter()
        reply, audited = self._handle(hop, started)
        elapsed = time.perf_counter() - started
        self.meter.record(reply.outcome, elapsed)
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
        if not audited:
            self.events.hop_answered(hop, reply, elapsed)
        return reply

    def _handle(self, hop: Hop, started: float) -> tuple[HopReply, bool]:
        tree = self._tree(hop)
        if tree is None:
            return HopReply(polite("unknown_service"), True, HopOutcome.UNKNOWN_SERVICE), False
        try:
            lease = self.store.begin(hop.phone, hop.session_id, hop.replay_key)
        except RateLimited as limited:
            return HopReply(polite("rate_limited", limited.lang), True, HopOutcome.RATE_LIMITED), False
        except SessionBusy:
            metrics.HOP_ERRORS.labels("session_busy").inc()
            return HopReply(polite("busy"), True, HopOutcome.BUSY), False
        except redis.RedisError as exc:
            metrics.HOP_ERRORS.labels("redis").inc()
            log.error("redis unavailable", error=type(exc).__name__)
            return HopReply(polite("busy"), True, HopOutcome.REDIS_DOWN), False
        try:
            return self._advance(hop, tree, lease, started)
        except redis.RedisError as exc:
            metrics.HOP_ERRORS.labels("redis").inc()
            log.error("redis failed mid-hop", error=type(exc).__name__)
            return HopReply(polite("busy", lease.language), True, HopOutcome.REDIS_DOWN), False
        except Exception:
            metrics.HOP_ERRORS.labels("internal").inc()
            log.exception("hop failed", session=hop.session_id)
            self._release_quietly(lease)
            return HopReply(polite("error", lease.language), True, HopOutcome.ERROR), False

    def _tree(self, hop: Hop) -> MenuTree | None:
        """The tree a new session of `hop` starts on: the one serving its service code, or the tree
        it names (looked up through that tree's own first code, so it is served as a dial of it)."""
        code = hop.service_code
        if hop.tree_id:
            named = self.trees.current(hop.tree_id)
            if named is None:
                return None
            code = named.service_codes[0]
        return self.trees.for_service_code(code, hop.session_id)

    def _release_quietly(self, lease: Lease) -> None:
        with contextlib.suppress(redis.RedisError):  # the lock expires on its own
            self.store.release(lease)

    def _engine(self, tree: MenuTree, hop: Hop, caller: KnownCaller | None = None) -> Engine:
        context = HopContext(
            hop.phone, hop.session_id, deadline=time.monotonic() + self.hop_budget_s, known_caller=caller
        )
        # The engine's limit counts a 4-character prefix; an aggregator without one gets it as text.
        limit = hop.text_limit + PREFIX_LEN if hop.text_limit else self.screen_limit
        pages = self._pages.get((tree.id, tree.version, limit))
        if pages is None:
            if len(self._pages) > 64:  # versions published over months: keep the live ones only
                self._pages.clear()
            pages = self._pages.setdefault((tree.id, tree.version, limit), {})
        runner = self.actions.runner(context)
        return Engine(tree, runner, screen_limit=limit, max_tries=self.max_tries, static_pages=pages)

    def _pinned_tree(self, state: SessionState, fallback: MenuTree) -> MenuTree:
        """The version the session started on; the current one if that version is gone."""
        tree = self.trees.version(state.tree_id, state.version) or self.trees.current(state.tree_id)
        return tree or fallback

    def _advance(self, hop: Hop, tree: MenuTree, lease: Lease, started: float) -> tuple[HopReply, bool]:
        stored = lease.session
        if stored is not None and (hop.repeats(stored.replay_key) or (stored.reply_final and not hop.is_new)):
            # A retried hop, or a late one after the session ended: the same screen, nothing run.
            self.store.release(lease)
            state = stored.state
            reply = HopReply(
                stored.reply,
                stored.reply_final,
                HopOutcome.REPLAY,
                state.node,
                state.lang,
                tree_id=state.tree_id,
                tree_version=state.version,
            )
            return reply, False
        if stored is None and hop.needs_session and not hop.is_new:
            # An answer to a screen this gateway no longer holds (expired, or never shown).
            self.store.release(lease)
            return HopReply(polite("expired", lease.language), True, HopOutcome.EXPIRED), False

        if stored is None or hop.is_new:
            stored, result = self._open(hop, tree, lease)
        else:
            tree = self._pinned_tree(stored.state, tree)
            result = self._continue(hop, tree, stored, lease.caller)
            tree = self._pinned_tree(stored.state, tree)  # resuming may switch to the draft's version

        language = None
        caller: KnownCaller | str | None = None
        effects = result.effects
        for effect in effects:
            if isinstance(effect, SetLanguage):
                language = effect.lang
            elif isinstance(effect, ForgetCaller):
                caller = FORGET_CALLER
                stored.caller_remembered = False  # the registration is the core's newest word
        # The save below acts on ForgetCaller; who is calling is in the session's answers.
        effects = tuple(e for e in effects if not isinstance(e, ForgetCaller))
        if result.screen.final and not stored.caller_remembered:
            caller = known_caller(stored.state.answers) or caller
        stored.replay_key = hop.replay_key
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
        )
        event = self.events.hop_event(hop, reply, time.perf_counter() - started)
        try:
            if not self.store.commit(lease, stored, resumable, language, event=event, caller=caller):
                log.warning("session lock expired before save", session=hop.session_id)
            elif self.drafts is not None:
                self._watch(hop, tree, stored)
        finally:
            # After the save, so a retry of this hop is a replay and cannot ask for them again; even
            # when the save failed, because the actions behind them did run.
            if effects:
                self._deliver(hop, effects)
        return reply, event is not None

    def session_ended(self, phone: str, session_id: str) -> bool:
        """The aggregator says the session is over (AT's end event, Hubtel's release or timeout):
        remember who called for the phone's next dial, as the session's answers say, unless its
        final reply already did or they came from an earlier session. Never raises; True when
        something was remembered."""
        try:
            stored = self.store.load(phone, session_id)
            if stored is None or stored.reply_final or stored.caller_remembered:
                return False
            known = known_caller(stored.state.answers)
            return known is not None and self.store.remember_caller(phone, known, stored.started_at)
        except redis.RedisError as exc:  # the next dial asks the core; nothing else is lost
            log.warning("caller not remembered at the session's end", error=type(exc).__name__)
            return False

    def _watch(self, hop: Hop, tree: MenuTree, stored: StoredSession) -> None:
        assert self.drafts is not None
        try:
            self.drafts.after_hop(hop.phone, hop.session_id, tree, stored)
        except redis.RedisError as exc:  # the citizen has their screen; only a drop SMS may be missed
            log.warning("session not watched for a drop", error=type(exc).__name__)

    def _deliver(self, hop: Hop, effects: tuple[Effect, ...]) -> None:
        try:
            self.events.deliver(hop, effects)
        except Exception:  # the citizen has their screen; a lost effect is logged, not a failed hop
            log.exception("effects not delivered", session=hop.session_id)

    def _known(self, remembered: KnownCaller | None, draft: StoredSession | None) -> KnownCaller | None:
        """Who is calling without asking the core: the phone's `remembered` caller, else what the
        phone's dropped session (`draft`) learnt from the core, while that is within the caller TTL."""
        if remembered is not None:
            return remembered
        if draft is None or draft.caller_remembered:
            return None
        known = known_caller(draft.state.answers)
        if known is None or self.store.caller_ttl_ms(known, draft.started_at) <= 0:
            return None
        return known

    def _open(self, hop: Hop, tree: MenuTree, lease: Lease) -> tuple[StoredSession, StepResult]:
        """First hop of a session: offer to resume a dropped one, or start (consuming deep-dial keys)."""
        caller = self._known(lease.caller, lease.draft)
        engine = self._engine(tree, hop, caller)
        lang = lease.language or self.default_language
        keys = hop.inputs
        draft = lease.draft
        if keys and keys[0] == RESUME_KEY:
            return self._resume_at_once(hop, tree, lease, keys[1:])
        if draft is not None and not keys and not draft.reply_final and draft.state.stack:
            state = engine.new_state(draft.state.lang)
            stored = StoredSession(state, hop.service_code, resume_from=lease.draft_id)
            body = tree.string("resume", state.lang)
            return stored, StepResult(Screen(body, final=False), (), HopOutcome.RESUME_OFFER, state.node)
        state = engine.new_state(lang)
        stored = StoredSession(state, hop.service_code, caller_remembered=caller is not None)
        result = engine.start(state)
        return stored, self._keys(engine, state, keys, result)

    def _resume_at_once(
        self, hop: Hop, tree: MenuTree, lease: Lease, keys: tuple[str, ...]
    ) -> tuple[StoredSession, StepResult]:
        """`*384*123*0#` (the code the "saved" SMS gives): continue the phone's draft without
        asking; with nothing saved, the main menu says so."""
        draft = lease.draft
        if draft is not None and not draft.reply_final and draft.state.stack:
            tree = self._pinned_tree(draft.state, tree)
            engine = self._engine(tree, hop, lease.caller)
            state = draft.state
            state.done = False
            origin = draft.origin or lease.draft_id
            stored = StoredSession(state, hop.service_code, origin=origin, caller_remembered=True)
            result = StepResult(engine.current(state), (), HopOutcome.RESUMED, state.node)
            return stored, self._keys(engine, state, keys, result)
        engine = self._engine(tree, hop, lease.caller)
        state = engine.new_state(lease.language or self.default_language)
        started = engine.start(state)
        notice = tree.string("resume_none", state.lang)
        result = StepResult(engine.current(state, notice), started.effects, HopOutcome.START, state.node)
        stored = StoredSession(state, hop.service_code, caller_remembered=lease.caller is not None)
        return stored, self._keys(engine, state, keys, result)

    def _continue(
        self, hop: Hop, tree: MenuTree, stored: StoredSession, caller: KnownCaller | None
    ) -> StepResult:
        keys, certain = hop.new_inputs(stored.replay_key)
        if not certain:
            log.warning("hop does not extend the inputs answered so far", session=hop.session_id)
        state = stored.state
        if state.node not in tree.nodes:
            state.node, state.stack, state.page = tree.start, [], 0
        engine = self._engine(tree, hop, caller)
        if stored.resume_from is not None:
            return self._answer_resume(hop, engine, stored, keys, caller)
        result = StepResult(engine.current(state), (), HopOutcome.START, state.node)
        return self._keys(engine, state, keys, result)

    def _answer_resume(
        self,
        hop: Hop,
        engine: Engine,
        stored: StoredSession,
        keys: tuple[str, ...],
        caller: KnownCaller | None,
    ) -> StepResult:
        choice, rest = (keys[0], keys[1:]) if keys else ("", ())
        tree = engine.tree
        draft = None
        if choice in ("1", "2"):
            draft = self.store.load(hop.phone, stored.resume_from or "")
        if choice == "1":
            if draft is not None:
                stored.origin = draft.origin or stored.resume_from
            stored.resume_from = None
            if draft is not None:
                tree = self._pinned_tree(draft.state, tree)
                engine = self._engine(tree, hop, caller)
                stored.state = draft.state
                stored.state.done = False
                stored.caller_remembered = True
                node = stored.state.node
                result = StepResult(engine.current(stored.state), (), HopOutcome.RESUMED, node)
                return self._keys(engine, stored.state, rest, result)
        if choice in ("1", "2"):
            stored.resume_from = None
            # Starting again greets from what the dropped session learnt, as a fresh dial would.
            known = self._known(caller, draft)
            if known is not None:
                engine = self._engine(tree, hop, known)
            stored.caller_remembered = known is not None
            result = engine.start(stored.state)
            return self._keys(engine, stored.state, rest, result)
        notice = tree.string("invalid", stored.state.lang)
        body = f"{notice}\n{tree.string('resume', stored.state.lang)}"
        return StepResult(Screen(body, final=False), (), HopOutcome.INVALID, stored.state.node)

    @staticmethod
    def _keys(engine: Engine, state: SessionState, keys: tuple[str, ...], result: StepResult) -> StepResult:
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
