"""Nothing lost when the call drops: a session that ends in the middle of a registration or an
application keeps its draft, and the citizen gets one SMS in their language saying what was saved
and the exact code to dial to continue.

How a drop is noticed, on any number of gateway nodes:
- the aggregator says so: Africa's Talking's session-end event with a status other than
  `Success` (`session_ended`);
- or the session goes silent: every hop that leaves a session mid-application puts it on the
  `DropWatch` list, due `idle_s` after that hop; `sweep` (run every few seconds by the worker)
  takes what is due and announces the sessions still silent and still mid-application.

Either way `announce` decides, and the SMS goes out at most once per draft: its outbox dedupe key
is the phone and the draft's first session, which a resumed session carries on (`origin`), so a
repeated event, a second node or a second drop after resuming never sends it twice. The SMS
templates are not essential, so a phone that sent STOP gets none.

Browsing never counts: only a session waiting on a register or apply screen after the citizen has
typed at least one answer of that journey (`announced_journey`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from common.logs import get_logger
from common.phones import mask_phone
from menus.effects import SendSms
from menus.engine import SessionState
from menus.model import MenuTree
from menus.registry import TreeRegistry
from sessions.drops import DropWatch
from sessions.store import SessionStore, StoredSession

log = get_logger("citizen.drafts")

# Dialled as the first key (*384*123*0#), it continues the phone's saved draft at once.
RESUME_KEY = "0"
# journey tag of the tree -> the SMS that says its draft is saved
TEMPLATES = {"register": "draft_saved_register", "apply": "draft_saved_apply"}


def announced_journey(tree: MenuTree, state: SessionState) -> str | None:
    """The journey (register, apply) whose draft a drop would announce, or None.

    The session must wait on a screen of that journey that goes on with it (an input, a list, or
    a menu with an option leading further into the same journey, like the summary before the PIN),
    after the citizen typed at least one answer of it. Not a finished journey's last menu (Pay now
    after applying), not a list browsed without typing anything.
    """
    node = tree.nodes.get(state.node)
    if node is None or node.journey not in TEMPLATES:
        return None
    if node.kind == "menu":
        onward = [tree.nodes.get(o.next) for o in node.options]
        if not any(n is not None and n.journey == node.journey for n in onward):
            return None
    elif node.kind not in ("input", "list"):
        return None
    typed = any(
        (earlier := tree.nodes.get(node_id)) is not None
        and earlier.kind == "input"
        and earlier.journey == node.journey
        for node_id in state.stack
    )
    return node.journey if typed else None


def resume_dial(service_code: str) -> str:
    """`*384*123#` -> `*384*123*0#`, the dial that continues a saved draft."""
    return service_code.removesuffix("#") + f"*{RESUME_KEY}#"


class DraftNotices:
    """Watches sessions mid-application and announces the dropped ones. One per process."""

    def __init__(
        self,
        store: SessionStore,
        trees: TreeRegistry,
        watch: DropWatch,
        notify: Callable[[SendSms], bool],
        *,
        idle_s: float,
        keep_s: int,
    ) -> None:
        """`idle_s`: silence after which a session counts as dropped (the session TTL, at least the
        aggregator's own limit); `keep_s`: how long an announced draft stays to be continued."""
        self.store = store
        self.trees = trees
        self.watch = watch
        self.notify = notify
        self.idle_s = idle_s
        self.keep_s = keep_s

    def _tree(self, state: SessionState) -> MenuTree | None:
        return self.trees.version(state.tree_id, state.version) or self.trees.current(state.tree_id)

    def after_hop(self, phone: str, session_id: str, tree: MenuTree, stored: StoredSession) -> None:
        """Called once a hop is saved: keep an eye on the session while it is mid-application."""
        if not stored.reply_final and stored.resume_from is None and announced_journey(tree, stored.state):
            self.watch.watch(phone, session_id, stored.saved_at + self.idle_s)

    def session_ended(self, phone: str, session_id: str) -> bool:
        """The aggregator reports the session ended without success: announce its draft, if any."""
        return self.announce(phone, session_id)

    def sweep(self, now: float | None = None, limit: int = 100) -> int:
        """Announce the watched sessions that have gone silent; watch again those answered since.
        Returns how many SMS were queued."""
        now = time.time() if now is None else now
        sent = 0
        for phone, session_id in self.watch.claim_due(now, limit):
            stored = self.store.load(phone, session_id)
            if stored is None or stored.reply_final:
                continue
            if stored.saved_at + self.idle_s > now:
                self.watch.watch(phone, session_id, stored.saved_at + self.idle_s)
                continue
            if self.announce(phone, session_id, stored):
                sent += 1
        return sent

    def announce(self, phone: str, session_id: str, stored: StoredSession | None = None) -> bool:
        """Keep the dropped session's draft for `keep_s` and queue its SMS, once per draft. False
        when there is nothing to announce: no such session, ended, browsing, or no longer the
        phone's draft (the citizen dialled again meanwhile)."""
        stored = stored or self.store.load(phone, session_id)
        if stored is None or stored.reply_final or stored.resume_from is not None:
            return False
        state = stored.state
        tree = self._tree(state)
        journey = announced_journey(tree, state) if tree is not None else None
        if journey is None or not self.store.keep_draft(phone, session_id, self.keep_s):
            return False
        params = {"dial": resume_dial(stored.service_code), "hours": max(self.keep_s // 3600, 1)}
        if journey == "apply":
            answers = state.answers
            short_code = answers.get("service_short_code", "")
            stem = stored.service_code.removesuffix("#")
            params |= {
                "service": answers.get("service_label") or answers.get("service_name") or "eCitizen",
                "apply_dial": f"{stem}*2*{short_code}#" if short_code else f"{stem}*2#",
            }
        origin = stored.origin or session_id
        sms = SendSms(TEMPLATES[journey], phone, params, state.lang, f"draft_saved:{phone}:{origin}")
        queued = self.notify(sms)
        log.info("draft kept after a drop", phone=mask_phone(phone), journey=journey, sms=queued)
        return queued
