"""RQ jobs get what they work with from the worker that runs them, never from a global or an app;
a job queued under its old path still runs for one release."""

from __future__ import annotations

import pytest
from rq import Queue, SimpleWorker
from rq.job import JobStatus

from backend_client.errors import BackendUnavailable
from citizen.queued import JOB, QUEUE_NAME, QueuedWork, RqApplicationQueue, submit_queued_application
from common.jobs import SimpleContextWorker
from sessions.store import SecretBox
from tests.hops import TEST_SEALING_KEY

KWARGS = {
    "phone": "+254712345678",
    "service_code": "good_conduct",
    "answers": {"purpose": "employment"},
    "idempotency_key": "ussd-abc",
    "lang": "en",
}


class Application:
    reference = "ECZ-7K3Q9P"


class CoreDouble:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    def create_application(self, **kwargs):
        self.calls.append(kwargs)
        return Application()


class NoSms:
    def notify(self, sms) -> bool:
        raise AssertionError(f"no SMS expected, got {sms}")


def work_and_queue(redis_client) -> tuple[QueuedWork, CoreDouble, Queue]:
    core = CoreDouble()
    return (
        QueuedWork(core, SecretBox(TEST_SEALING_KEY), NoSms()),
        core,
        Queue(QUEUE_NAME, connection=redis_client),
    )


def test_the_job_path_names_the_job_function():
    module, _, name = JOB.rpartition(".")
    assert getattr(__import__(module, fromlist=[name]), name) is submit_queued_application


@pytest.mark.parametrize("path", [JOB, "backend_client.queued.submit_queued_application"])
def test_a_job_runs_with_the_context_its_worker_was_started_with(redis_client, path):
    work, core, queue = work_and_queue(redis_client)
    job = queue.enqueue(path, kwargs={**KWARGS, "sealed_pin": work.box.seal("4826")})
    SimpleContextWorker([queue], connection=redis_client, context=work).work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert job.return_value() == "ECZ-7K3Q9P"
    [call] = core.calls
    assert call["pin"] == "4826" and call["idempotency_key"] == "ussd-abc"


def test_a_job_in_a_worker_without_its_context_fails_and_builds_nothing(redis_client):
    work, core, queue = work_and_queue(redis_client)
    job = queue.enqueue(JOB, kwargs={**KWARGS, "sealed_pin": work.box.seal("4826")})
    SimpleWorker([queue], connection=redis_client).work(burst=True)  # a plain `rq worker`
    assert job.get_status(refresh=True) == JobStatus.FAILED
    assert "QueuedWork missing" in (job.latest_result().exc_string or "")
    assert core.calls == []


def test_a_worker_of_another_context_is_refused_too(redis_client):
    work, core, queue = work_and_queue(redis_client)
    job = queue.enqueue(JOB, kwargs={**KWARGS, "sealed_pin": work.box.seal("4826")})
    SimpleContextWorker([queue], connection=redis_client, context=object()).work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.FAILED and core.calls == []


def test_a_core_outage_leaves_a_queued_application_to_rqs_retries(redis_client):
    class Down:
        def create_application(self, **_kwargs):
            raise BackendUnavailable("down", code="connection_error")

    box = SecretBox(TEST_SEALING_KEY)
    queue = Queue(QUEUE_NAME, connection=redis_client)
    assert RqApplicationQueue(queue, box).put(pin="4826", **KWARGS)
    [job] = queue.get_jobs()
    assert job.func_name == JOB and "4826" not in str(job.kwargs)
    work = QueuedWork(Down(), box, NoSms())
    SimpleContextWorker([queue], connection=redis_client, context=work).work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.SCHEDULED


def test_the_forking_worker_of_flask_worker_hands_its_context_to_the_work_horse(redis_client):
    from common.jobs import ContextWorker

    work, _core, queue = work_and_queue(redis_client)
    job = queue.enqueue(JOB, kwargs={**KWARGS, "sealed_pin": work.box.seal("4826")})
    ContextWorker([queue], connection=redis_client, context=work).work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.FINISHED and job.return_value() == "ECZ-7K3Q9P"
