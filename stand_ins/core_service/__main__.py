"""`python -m stand_ins.core_service`: serve the core service with granian on 127.0.0.1:$CORE_PORT."""

from __future__ import annotations

import os

from granian import Granian
from granian.constants import Interfaces


def main() -> None:
    port = int(os.environ.get("CORE_PORT", "8010"))
    server = Granian(
        "stand_ins.core_service.app:create_app",
        factory=True,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.WSGI,
        # one worker: the background thread and SQLite file belong to one process
        workers=1,
        blocking_threads=16,
        # access lines would carry phone numbers in query strings
        log_access=False,
    )
    server.serve()


if __name__ == "__main__":
    main()
