"""Reliability with real worker processes, the real Redis and the sandbox over HTTP:
`kill -9` during a burst, and the provider down for a while."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import requests
from sqlalchemy import func, select

from records.sms import SENDING, SENT, SmsMessage
from stand_ins.at_sandbox.testing import running_sandbox, set_faults
from tests.sms_channel.processes import start_workers, worker_env
from tests.support import wait_until

pytestmark = pytest.mark.slow

PARAMS = {"reference": "ECZ-7K3Q9P", "service": "Birth certificate", "status": "approved"}


def phone(n: int) -> str:
    return f"+2547{n:08d}"


def count(database, *where) -> int:
    with database.session() as session:
        return session.scalar(select(func.count()).select_from(SmsMessage).where(*where))


def received_per_phone(sandbox_url: str) -> Counter:
    messages = requests.get(f"{sandbox_url}/sandbox/messages", timeout=10).json()
    return Counter(m["to"] for m in messages if m["status_code"] == 101)


def test_kill_9_during_a_burst_of_500_loses_none(channel, settings, redis_client):
    total = 500
    with running_sandbox() as sandbox:
        set_faults(sandbox.url, {"latency_ms": 200})
        env = worker_env(settings.redis_url, settings.database_url, sandbox.url, SMS_BATCH_SIZE="40")
        workers = start_workers(env, 2, redis_client)

        def burst() -> None:
            for n in range(total):
                channel.outbox.enqueue(
                    "application_status_changed", phone(n), PARAMS, dedupe_key=f"burst-{n}"
                )

        producer = threading.Thread(target=burst)
        producer.start()
        try:
            # Kill while a batch is with the provider: some rows are `sending`.
            assert wait_until(
                lambda: count(channel.database, SmsMessage.status == SENT) >= 120
                and count(channel.database, SmsMessage.status == SENDING) > 0,
                timeout=30,
                interval=0.005,
            )
            for worker in workers:
                worker.kill9()
            with channel.database.session() as session:
                in_flight = set(session.scalars(select(SmsMessage.phone).where(SmsMessage.status == SENDING)))
            assert in_flight, "the kill should catch some messages in flight"
            workers = start_workers(env, 2, redis_client)
            settled = wait_until(
                lambda: count(channel.database, SmsMessage.status == SENT) == total, timeout=60
            )
            assert settled, (
                f"not settled: {count(channel.database, SmsMessage.status == SENT)} of {total} sent"
            )
        finally:
            producer.join(60)
            for worker in workers:
                worker.stop()
        per_phone = received_per_phone(sandbox.url)
    assert set(per_phone) == {phone(n) for n in range(total)}, "every notification reached the provider"
    duplicated = {number for number, times in per_phone.items() if times > 1}
    assert duplicated <= in_flight, "only messages in flight at the kill may go twice"
    assert max(per_phone.values()) <= 2
    print(f"kill -9: {len(in_flight)} in flight at the kill, {len(duplicated)} sent twice")


def test_provider_down_for_a_while_then_back_delivers_each_message_once(channel, settings, redis_client):
    total = 60
    with running_sandbox() as sandbox:
        set_faults(sandbox.url, {"http_status": 503})
        env = worker_env(settings.redis_url, settings.database_url, sandbox.url)
        workers = start_workers(env, 1, redis_client)
        try:
            for n in range(total):
                channel.outbox.enqueue("application_status_changed", phone(n), PARAMS, dedupe_key=f"down-{n}")
            # Every message is tried, put back for a retry, and tried again while the provider is down.
            assert wait_until(lambda: count(channel.database, SmsMessage.attempts >= 2) == total, timeout=20)
            assert wait_until(lambda: count(channel.database, SmsMessage.attempts >= 3) == total, timeout=20)
            set_faults(sandbox.url, {"fail_next": 5})  # back, but shaky for a few more sends
            assert wait_until(lambda: count(channel.database, SmsMessage.status == SENT) == total, timeout=40)
        finally:
            for worker in workers:
                worker.stop()
        per_phone = received_per_phone(sandbox.url)
    assert count(channel.database, SmsMessage.status == "failed") == 0
    assert per_phone == Counter({phone(n): 1 for n in range(total)})
