"""The queued-application job's old path, kept for one release.

Jobs queued before the upgrade are stored in Redis as `backend_client.queued.submit_queued_application`;
RQ imports that name when it runs them. The job now lives in `citizen.queued`: this module only
points the old name there (docs/architecture.md, "RQ job paths"). Delete it one release after the
upgrade, once no job of the old name can be waiting (RQ retries a job for about a day).
"""

from citizen.queued import submit_queued_application

__all__ = ["submit_queued_application"]
