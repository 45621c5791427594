"""Posting delivery reports back to the gateway after a delay, as Africa's Talking does.

One scheduler thread keeps reports in time order and hands each one, when due, to a small pool
that POSTs it, each pool thread over a kept-alive connection of its own (a benchmark at hundreds of
reports a second should not measure this stand-in's connection set-ups); a report the gateway does
not take (connection refused, non-2xx) is tried again with doubling delays a few times and then
dropped (and logged), like a real provider giving up.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode, urlsplit

from common.phones import mask_phone

log = logging.getLogger(__name__)


class DeliveryReporter:
    """Schedules form POSTs of delivery reports to `url`; thread-safe; threads start on first use."""

    def __init__(
        self,
        url: str,
        retries: int = 5,
        retry_delay_s: float = 0.5,
        workers: int = 8,
        timeout_s: float = 5.0,
        on_posted: Callable[[dict[str, str], bool], None] | None = None,
    ) -> None:
        self.url = url
        self._retries = retries
        self._retry_delay_s = retry_delay_s
        self._workers = workers
        self._timeout_s = timeout_s
        self._on_posted = on_posted
        self._heap: list[tuple[float, int, dict[str, str], int]] = []
        self._order = itertools.count()
        self._wakeup = threading.Condition()
        self._pool: ThreadPoolExecutor | None = None
        self._closed = False
        self._connections = threading.local()

    def schedule(self, report: dict[str, str], delay_s: float) -> None:
        """Post `report` (form fields) about `delay_s` from now."""
        self._push(report, delay_s, attempt=0)

    def close(self) -> None:
        """Stop scheduling; reports not yet posted are dropped."""
        with self._wakeup:
            self._closed = True
            self._heap.clear()
            self._wakeup.notify_all()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def pending(self) -> int:
        with self._wakeup:
            return len(self._heap)

    def _push(self, report: dict[str, str], delay_s: float, attempt: int) -> None:
        with self._wakeup:
            if self._closed:
                return
            if self._pool is None:
                # Started lazily so that a server forking workers starts them in the worker.
                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="at-sandbox-dlr")
                threading.Thread(target=self._run, name="at-sandbox-dlr-scheduler", daemon=True).start()
            heapq.heappush(self._heap, (time.monotonic() + delay_s, next(self._order), report, attempt))
            self._wakeup.notify()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wakeup.wait(timeout)
                if self._closed:
                    return
                _, _, report, attempt = heapq.heappop(self._heap)
                pool = self._pool
            try:
                pool.submit(self._post, report, attempt)
            except RuntimeError:  # pool shut down by close()
                return

    def _post(self, report: dict[str, str], attempt: int) -> None:
        try:
            status = self._send(urlencode(report).encode())
            delivered = 200 <= status < 300
            problem = f"HTTP {status}"
        except (OSError, http.client.HTTPException) as exc:
            self._connections.__dict__.pop("http", None)  # a broken connection is not used again
            delivered, problem = False, type(exc).__name__
        if delivered:
            self._notify(report, True)
            return
        if attempt < self._retries:
            self._push(report, self._retry_delay_s * 2**attempt, attempt + 1)
            return
        log.warning(
            "delivery report %s for %s dropped after %d attempts: %s",
            report.get("id"),
            mask_phone(report.get("phoneNumber", "")),
            attempt + 1,
            problem,
        )
        self._notify(report, False)

    def _send(self, body: bytes) -> int:
        """POST `body` as a form to `url` on this thread's connection; the answer's status. A kept
        connection the gateway has closed meanwhile is replaced once, at once."""
        kept = getattr(self._connections, "http", None)
        if kept is not None:
            try:
                return self._post_on(kept, body)
            except (OSError, http.client.HTTPException):
                kept.close()
        return self._post_on(self._connect(), body)

    def _connect(self) -> http.client.HTTPConnection:
        url = urlsplit(self.url)
        kind = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        self._connections.http = kind(url.netloc, timeout=self._timeout_s)
        return self._connections.http

    def _post_on(self, connection: http.client.HTTPConnection, body: bytes) -> int:
        url = urlsplit(self.url)
        target = (url.path or "/") + (f"?{url.query}" if url.query else "")
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.will_close:
            connection.close()
            self._connections.__dict__.pop("http", None)
        return response.status

    def _notify(self, report: dict[str, str], delivered: bool) -> None:
        if self._on_posted is not None:
            self._on_posted(report, delivered)


def delivery_report(
    message_id: str, phone: str, network_code: str, status: str, failure_reason: str = ""
) -> dict[str, Any]:
    """The form fields of one Africa's Talking delivery report."""
    report = {
        "id": message_id,
        "status": status,
        "phoneNumber": phone,
        "networkCode": network_code,
        "retryCount": "0",
    }
    if failure_reason:
        report["failureReason"] = failure_reason
    return report
