"""RQ workers that hand their jobs a context, so a job never builds an app or reads a global.

A worker command builds what its jobs work with (a database, an outbox, a core-service client…)
once, starts a `ContextWorker` or `SimpleContextWorker` with it, and each job asks for it with
`job_context(Type)`. The context lives on the worker object and on the in-memory job it is
performing; nothing of it is written to Redis.
"""

from __future__ import annotations

from typing import Any, TypeVar

from rq import SimpleWorker, Worker, get_current_job
from rq.job import Job
from rq.queue import Queue

T = TypeVar("T")

_ATTRIBUTE = "worker_context"


class _HandsOutContext:
    """Mixin for RQ worker classes: `context` goes to every job this worker performs."""

    context: Any = None

    def __init__(self, *args: Any, context: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.context = context

    def perform_job(self, job: Job, queue: Queue) -> bool:
        setattr(job, _ATTRIBUTE, self.context)
        return super().perform_job(job, queue)  # type: ignore[misc]


class ContextWorker(_HandsOutContext, Worker):
    """RQ's forking `Worker` (a work horse per job) handing `context` to each job."""


class SimpleContextWorker(_HandsOutContext, SimpleWorker):
    """RQ's `SimpleWorker` (jobs in the worker's own process) handing `context` to each job."""


class NoJobContext(RuntimeError):
    """The job runs outside a worker started with its context (e.g. under a plain `rq worker`)."""


def job_context(expected: type[T]) -> T:
    """The context of the worker performing the current job; `NoJobContext` if it has none of
    type `expected`, so a job started the wrong way fails loudly (and RQ keeps it for a retry)."""
    job = get_current_job()
    context = getattr(job, _ATTRIBUTE, None) if job is not None else None
    if not isinstance(context, expected):
        raise NoJobContext(
            f"{expected.__name__} missing: start this worker with `flask --app app worker` "
            "or `flask --app app sms worker`"
        )
    return context
