"""Stream entries (the audit trail's hop events) written off the hop's critical path.

When sessions live on another Redis than the queue role (a Redis Cluster, or two servers), a hop's
audit event cannot ride in the session's commit script. `StreamPipe.put` queues it in memory and
returns at once; one background thread per process sends whatever has gathered as one pipelined
round trip to the queue Redis. Under load many hops share a round trip; idle, an event leaves within
about a millisecond.

What a caller may rely on: `put` never blocks and never raises. Entries wait in memory while the
queue Redis is unreachable (up to `max_pending`, then new ones are dropped and counted), and are
retried in order. A process killed with SIGKILL loses what had not been sent yet (at most a few
milliseconds of hops); a normal exit flushes.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable, Mapping

import redis

Entry = tuple[str, int, Mapping[str, str]]


class StreamPipe:
    def __init__(
        self,
        client: redis.Redis,
        max_pending: int = 50_000,
        batch: int = 500,
        on_failure: Callable[[str, int], None] | None = None,
    ) -> None:
        self.client = client
        self.max_pending = max_pending
        self.batch = batch
        self.on_failure = on_failure or (lambda _stage, _count: None)
        self._pending: deque[Entry] = deque()
        self._wake = threading.Event()
        self._start_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._owner_pid: int | None = None

    def put(self, entry: Entry) -> None:
        """Queue one (stream, cap, fields) entry for XADD; never blocks, never raises."""
        if len(self._pending) >= self.max_pending:
            self.on_failure("dropped", 1)
            return
        self._pending.append(entry)
        if self._owner_pid != os.getpid():
            self._start()
        self._wake.set()

    __call__ = put

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _start(self) -> None:
        with self._start_lock:
            if self._owner_pid == os.getpid():
                return
            # A forked child inherits the deque but not the thread: it starts its own.
            self._owner_pid = os.getpid()
            threading.Thread(target=self._run, name="stream-pipe", daemon=True).start()
            atexit.register(self.flush)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if not self.flush():
                self._wake.wait(0.5)  # the queue Redis is away: try again shortly
                self._wake.set()

    def flush(self) -> bool:
        """Send everything pending now; False when Redis failed (the entries stay queued)."""
        with self._send_lock:
            while self._pending:
                entries = [self._pending.popleft() for _ in range(min(self.batch, len(self._pending)))]
                pipe = self.client.pipeline(transaction=False)
                for stream, cap, fields in entries:
                    pipe.xadd(stream, dict(fields), maxlen=cap, approximate=True)
                try:
                    pipe.execute()
                except redis.RedisError:
                    self.on_failure("stream", len(entries))
                    self._pending.extendleft(reversed(entries))
                    with contextlib.suppress(Exception):
                        pipe.reset()
                    return False
        return True
