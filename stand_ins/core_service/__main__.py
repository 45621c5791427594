"""`python -m stand_ins.core_service`: serve the core service with granian on 127.0.0.1:$CORE_PORT.

Exits with status 2 before serving anything when the settings are not fit to start (production
with a missing or development secret), naming each problem on stderr.
"""

from __future__ import annotations

import os
import sys

from granian import Granian
from granian.constants import Interfaces

from stand_ins.core_service.config import insecure_defaults, is_production, load_config, production_problems

EXIT_BAD_SETTINGS = 2


def main() -> int:
    config = load_config()
    problems = production_problems(config)
    if problems:
        print("core service: refusing to start:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    if not is_production(config) and not os.environ.get("DEV_WARNING_SHOWN"):
        weak = insecure_defaults(config)
        if weak:
            print(
                f"core service: development mode; production would refuse {', '.join(weak)}",
                file=sys.stderr,
            )
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
