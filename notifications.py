"""The one door from the citizen journeys to SMS: `notify(template_id, phone, params, lang, dedupe_key)`.

Until the SMS outbox (sms/) is wired in, a request is recorded, not sent: it is appended to the Redis
list `notifications:requested` (JSON, newest last, capped) and a log line without personal data is
written. Wiring the outbox means replacing the body of `_deliver` with its enqueue call; callers do
not change.

Templates the journeys ask for (ids for sms/templates.yaml):
  registration_welcome       {}                       after a citizen registers on USSD
  application_queued         {"service": name}        an application waits for the core service
  application_not_submitted  {"service": name}        a queued application was refused (e.g. wrong PIN)
The "application submitted, reference ECZ-…" SMS comes from the core service's
`application.submitted` webhook, not from here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import redis

from common.logs import get_logger
from common.phones import mask_phone

log = get_logger("notifications")

REQUESTED_KEY = "notifications:requested"
DEDUPE_PREFIX = "notifications:dedupe:"
DEDUPE_TTL_S = 7 * 24 * 3600
MAX_RECORDED = 10_000

_redis: redis.Redis | None = None


def configure(redis_client: redis.Redis | None) -> None:
    """Where requests are recorded (the app's Redis); None records nothing but the log line."""
    global _redis
    _redis = redis_client


def notify(template_id: str, phone: str, params: Mapping[str, Any], lang: str, dedupe_key: str) -> bool:
    """Ask for one SMS. Returns False for a repeat of `dedupe_key` (already asked for) and never
    raises: a citizen's hop or a job must not fail because an SMS could not be queued."""
    record = {
        "template": template_id,
        "phone": phone,
        "params": dict(params),
        "lang": lang,
        "dedupe_key": dedupe_key,
        "requested_at": time.time(),
    }
    try:
        return _deliver(record)
    except Exception as exc:  # the SMS is lost, the journey is not: say so loudly
        log.error("notification not recorded", template=template_id, error=type(exc).__name__)
        return False


def _deliver(record: dict[str, Any]) -> bool:
    if _redis is not None:
        if not _redis.set(DEDUPE_PREFIX + record["dedupe_key"], "1", nx=True, ex=DEDUPE_TTL_S):
            return False
        pipe = _redis.pipeline()
        pipe.rpush(REQUESTED_KEY, json.dumps(record, ensure_ascii=False))
        pipe.ltrim(REQUESTED_KEY, -MAX_RECORDED, -1)
        pipe.execute()
    log.info("notification requested", template=record["template"], phone=mask_phone(record["phone"]))
    return True


def requested(redis_client: redis.Redis) -> list[dict[str, Any]]:
    """Every recorded request, oldest first (tests and the lead's migration to the outbox)."""
    return [json.loads(raw) for raw in redis_client.lrange(REQUESTED_KEY, 0, -1)]
