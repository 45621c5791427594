"""The audit trail: every hop, SMS state change, core-service write and operator action, appended to
a Redis stream off the hop path and drained into a hash-chained SQL table (docs/audit.md).

    trail = AuditTrail(redis_client, Pseudonymiser(key))      # built once, by create_app
    trail.record("sms", message_id="ATXid_1", status="delivered", cost="KES 0.8000")
"""

from audit.trail import EVENT_KINDS, AuditTrail

__all__ = ["EVENT_KINDS", "AuditTrail"]
