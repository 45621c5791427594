"""`python -m stand_ins.at_sandbox`: serve the sandbox with granian on 127.0.0.1:$AT_SANDBOX_PORT (8025)."""

from stand_ins.at_sandbox.server import main

main()
