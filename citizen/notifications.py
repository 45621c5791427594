"""The one door from the citizen journeys to SMS: `notify(template_id, phone, params, lang, dedupe_key)`.

It queues the message in the SMS outbox (`sms.outbox.enqueue`: a row in SQL, then an RQ job), once
per `dedupe_key`. It never raises: a citizen's hop or a job must not fail because an SMS could not
be queued; such a loss is logged as an error and counted.

Templates the journeys ask for (ids in sms/templates.yaml):
  registration_welcome       {"name": first name}     after a citizen registers on USSD
  application_queued         {"service": name}        an application waits for the core service
  application_not_submitted  {"service": name}        a queued application was refused (e.g. wrong PIN)
The "application submitted, reference ECZ-…" SMS comes from the core service's
`application.submitted` webhook (gateway/events.py), deduplicated with `sms.outbox.submitted_key`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from common.logs import get_logger

log = get_logger("notifications")


def notify(template_id: str, phone: str, params: Mapping[str, Any], lang: str, dedupe_key: str) -> bool:
    """Queue one SMS. True when a new message was queued, False for a repeat of `dedupe_key` or a
    failure (logged)."""
    from sms.outbox import enqueue

    try:
        return enqueue(template_id, phone, params, lang, dedupe_key).created
    except Exception as exc:  # the SMS is lost, the journey is not: say so loudly
        log.error("notification not queued", template=template_id, error=type(exc).__name__)
        return False
