"""`python -m at_sandbox`: serve the sandbox on 127.0.0.1:$AT_SANDBOX_PORT (default 8025) with granian."""

from at_sandbox.server import main

main()
