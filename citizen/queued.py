"""Applications confirmed while the core service was down: queued, then submitted when it is back.

The job carries the idempotency key of the hop that queued it, so however often it runs (RQ retries,
a worker killed mid-call, the hop retried by the aggregator) the core service creates one
application. The PIN travels sealed with the app's SECRET_KEY (sessions.store.SecretBox); the job's
description is neutral because RQ logs it.

The job finds what it works with (`QueuedWork`: the core-service client, the sealing key, the SMS
outbox) in its worker, which `flask --app app worker` starts with them (`common.jobs`).
"""

from __future__ import annotations

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
KEEP_S = 30 * 24 * 3600


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
        try:
            self.queue.enqueue(
                JOB,
                kwargs={
                    "phone": phone,
                    "service_code": service_code,
                    "answers": dict(answers),
                    "sealed_pin": self.box.seal(pin),
                    "idempotency_key": idempotency_key,
                    "lang": lang,
                },
                job_id=job_id(idempotency_key),
                description="queued application",
                retry=Retry(max=RETRY_MAX, interval=RETRY_INTERVALS_S),
                result_ttl=KEEP_S,
                failure_ttl=KEEP_S,
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


def submit_queued_application(
    phone: str,
    service_code: str,
    answers: dict[str, Any],
    sealed_pin: str,
    idempotency_key: str,
    lang: str,
) -> str | None:
    """RQ job: `submit` with the worker's `QueuedWork`."""
    return submit(job_context(QueuedWork), phone, service_code, answers, sealed_pin, idempotency_key, lang)


def submit(
    work: QueuedWork,
    phone: str,
    service_code: str,
    answers: dict[str, Any],
    sealed_pin: str,
    idempotency_key: str,
    lang: str,
) -> str | None:
    """Submit the application; its reference, or None when the core service refused it.

    BackendUnavailable propagates so RQ retries with backoff. A refusal (wrong PIN, locked account,
    a field the core service rejects) will not get better by retrying: the citizen is told by SMS.
    The SMS with the reference comes from the core service's `application.submitted` webhook.
    """
    try:
        application = work.client.create_application(
            phone=phone,
            pin=work.box.open(sealed_pin),
            service_code=service_code,
            answers={str(k): str(v) for k, v in answers.items()},
            idempotency_key=idempotency_key,
            budget=Budget(JOB_BUDGET_S),
        )
    except BackendRejected as exc:
        log.warning("queued application refused", code=exc.code, job=job_id(idempotency_key))
        refused = SendSms(
            "application_not_submitted",
            phone,
            {"service": service_code},
            lang,
            f"application_not_submitted:{idempotency_key}",
        )
        work.outbox.notify(refused)
        return None
    log.info("queued application submitted", reference=application.reference, job=job_id(idempotency_key))
    return application.reference
