import pytest

from gateway.africastalking.sender import AfricasTalkingSender, ProviderConfig
from stand_ins.at_sandbox.testing import running_sandbox


@pytest.fixture
def sandbox():
    """The Africa's Talking sandbox over real HTTP on a free 127.0.0.1 port, without delivery reports."""
    with running_sandbox() as server:
        yield server


@pytest.fixture
def sender(sandbox):
    """A sender pointed at `sandbox` with short timeouts, so timeout faults end quickly."""
    return AfricasTalkingSender(ProviderConfig(api_url=sandbox.url, sender_id="ECITIZEN", timeout=(1.0, 0.5)))


@pytest.fixture(params=["lane", "flask"])
def settings(settings, database_url, request):
    """Every callback test runs twice: through the callback lane and through Flask's route."""
    # database_url named here too: pytest does not follow an overridden fixture's own arguments when it
    # decides what to parametrize (SQLite and PostgreSQL).
    from dataclasses import replace

    return replace(settings, callback_lane=request.param == "lane")
