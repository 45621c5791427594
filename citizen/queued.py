"""Applications confirmed while the core service was down: queued, then submitted when it is back.

The job carries the idempotency key of the hop that queued it, so however often it runs (RQ retries,
a worker killed mid-call, the hop retried by the aggregator) the core service creates one
application. Everything else it carries (phone, service, answers, PIN, language) travels as one
value sealed with the session-sealing key (sessions.store.SecretBox): Redis, its AOF and RDB files
hold nothing readable. The job's description is neutral because RQ logs it. A job that succeeds is
deleted at once (`result_ttl=0`); one that fails for good stays, sealed, for FAILED_KEEP_S.

The job finds what it works with (`QueuedWork`: the core-service client, the sealing key, the SMS
outbox) in its worker, which `flask --app app worker` starts with them (`common.jobs`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from rq import Queue, Retry

from backend_client.budget import Budget
from backend_client.client import CoreClient
from backend_client.errors import BackendRejected
from common.jobs import job_context
from common.logs import get_logger
from menus.effects import SendSms
from sessions.store import SecretBox

log = get_logger("citizen.queued")

QUEUE_NAME = "default"
JOB = "citizen.queued.submit_queued_application"
# Backoff between attempts while the core service stays down: about a day in all, then the job
# waits in RQ's failed registry (inspectable, re-queueable), never dropped.
RETRY_INTERVALS_S = [5, 15, 30, 60, 120, 300]
RETRY_MAX = 300
JOB_BUDGET_S = 10.0
# Long enough for an on-call engineer to re-queue it after an outage; sealed all the while.
FAILED_KEEP_S = 7 * 24 * 3600


def job_id(idempotency_key: str) -> str:
    return f"application-{idempotency_key}"


class RqApplicationQueue:
    """`citizen.actions.ApplicationQueue` on an RQ queue: the PIN sealed, the job id from the key."""

    def __init__(self, queue: Queue, box: SecretBox) -> None:
        self.queue = queue
        self.box = box

    def put(
        self,
        *,
        phone: str,
        service_code: str,
        answers: dict[str, str],
        pin: str,
        idempotency_key: str,
        lang: str,
    ) -> bool:
        """Queue the application; False when Redis refused (the citizen is then told to try later,
        and nothing was promised)."""
        application = {
            "phone": phone,
            "service_code": service_code,
            "answers": dict(answers),
            "pin": pin,
            "lang": lang,
        }
        try:
            self.queue.enqueue(
                JOB,
                kwargs={
                    "sealed": self.box.seal(json.dumps(application, ensure_ascii=False)),
                    "idempotency_key": idempotency_key,
                },
                job_id=job_id(idempotency_key),
                description="queued application",
                retry=Retry(max=RETRY_MAX, interval=RETRY_INTERVALS_S),
                result_ttl=0,
                failure_ttl=FAILED_KEEP_S,
            )
        except Exception as exc:  # Redis down too: the citizen must not be told it is queued
            log.error("could not queue an application", error=type(exc).__name__)
            return False
        return True


class SmsOutbox(Protocol):
    def notify(self, sms: SendSms) -> bool: ...


@dataclass(frozen=True)
class QueuedWork:
    """What a worker of the 'default' queue hands its jobs: built once by the worker command."""

    client: CoreClient
    box: SecretBox
    outbox: SmsOutbox


def submit_queued_application(sealed: str = "", idempotency_key: str = "", **before: Any) -> str | None:
    """RQ job: open the sealed application and `submit` it with the worker's `QueuedWork`.

    `before` takes the fields of a job queued by the previous release (phone, service_code,
    answers, sealed_pin, lang: only the PIN sealed), so such a job still runs once."""
    work = job_context(QueuedWork)
    if sealed:
        opened = work.box.open(sealed)
        application = json.loads(opened) if opened else {}
    else:
        application = {**before, "pin": work.box.open(str(before.get("sealed_pin", "")))}
    return submit(
        work,
        str(application.get("phone", "")),
        str(application.get("service_code", "")),
        dict(application.get("answers") or {}),
        str(application.get("pin", "")),
        idempotency_key,
        str(application.get("lang", "en")),
    )


def submit(
    work: QueuedWork,
    phone: str,
    service_code: str,
    answers: dict[str, Any],
    pin: str,
    idempotency_key: str,
    lang: str,
) -> str | None:
    """Submit the application; its reference, or None when the core service refused it or the job
    could not be opened.

    BackendUnavailable propagates so RQ retries with backoff. A refusal (wrong PIN, locked account,
    a field the core service rejects) will not get better by retrying: the citizen is told by SMS.
    A job no key opens (SECRET_KEY changed) is never sent with an empty PIN, which the core would
    count as a wrong one: it is dropped, and the citizen told if the phone can still be read.
    The SMS with the reference comes from the core service's `application.submitted` webhook.
    """
    if not pin or not phone:
        log.error("queued application cannot be opened: was SECRET_KEY changed?", job=job_id(idempotency_key))
        if phone:
            _tell_not_submitted(work, phone, service_code, idempotency_key, lang)
        return None
    try:
        application = work.client.create_application(
            phone=phone,
            pin=pin,
            service_code=service_code,
            answers={str(k): str(v) for k, v in answers.items()},
            idempotency_key=idempotency_key,
            budget=Budget(JOB_BUDGET_S),
        )
    except BackendRejected as exc:
        log.warning("queued application refused", code=exc.code, job=job_id(idempotency_key))
        _tell_not_submitted(work, phone, service_code, idempotency_key, lang)
        return None
    log.info("queued application submitted", reference=application.reference, job=job_id(idempotency_key))
    return application.reference


def _tell_not_submitted(work: QueuedWork, phone: str, service_code: str, key: str, lang: str) -> None:
    refused = SendSms(
        "application_not_submitted",
        phone,
        {"service": service_code},
        lang,
        f"application_not_submitted:{key}",
    )
    work.outbox.notify(refused)
