"""Wire the audit trail into an app: the writer `audit.record` uses, and the hop listener."""

from __future__ import annotations

import redis
from flask import Flask

from audit.hops import HopAuditor
from audit.pseudonym import Pseudonymiser, pseudonym_key
from audit.trail import AuditTrail, configure
from config import Settings
from menus.registry import TreeRegistry


def init_audit(app: Flask, settings: Settings, client: redis.Redis, trees: TreeRegistry) -> HopAuditor | None:
    """Configure `audit.record` for this process; the hop listener, or None when AUDIT_ENABLED=0."""
    key = pseudonym_key(settings.audit_pseudonym_key, app.config["SECRET_KEY"])
    trail = AuditTrail(client, Pseudonymiser(key), settings.audit_stream_maxlen)
    configure(trail)
    app.extensions["audit"] = trail
    return HopAuditor(trail, trees) if settings.audit_enabled else None
