"""Serving the sandbox with granian (WSGI, one process, many threads)."""

from __future__ import annotations

import os

from granian import Granian
from granian.constants import Interfaces
from granian.log import LogLevels

# One process, because the received messages and faults live in its memory; many blocking threads,
# because a send may sleep for `latency_ms` and that must not hold up other senders (200/s at 300 ms
# needs about 60 in flight).
DEFAULT_THREADS = 256


def serve(host: str = "127.0.0.1", port: int = 8025, threads: int = DEFAULT_THREADS) -> None:
    """Run the sandbox until interrupted; configuration comes from the `AT_SANDBOX_*` environment."""
    Granian(
        target="stand_ins.at_sandbox.app:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=1,
        blocking_threads=threads,
        log_level=LogLevels.info,
    ).serve()


def main() -> None:
    serve(
        host=os.environ.get("AT_SANDBOX_HOST", "127.0.0.1"),
        port=int(os.environ.get("AT_SANDBOX_PORT", "8025")),
        threads=int(os.environ.get("AT_SANDBOX_THREADS", str(DEFAULT_THREADS))),
    )
