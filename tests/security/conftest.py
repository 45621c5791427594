"""The console's fixtures (an app with an operator of every role, logged-in clients), for the
security tests that attack the console."""

from tests.console.conftest import as_role, console_app, console_redis_url  # noqa: F401
