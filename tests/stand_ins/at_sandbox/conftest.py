import json
from pathlib import Path

import pytest

from stand_ins.at_sandbox.testing import FormRecorder, ServerThread, running_sandbox

FIXTURES = Path(__file__).resolve().parents[2] / "gateway" / "africastalking" / "fixtures"


@pytest.fixture
def payload():
    """Loads a recorded Africa's Talking payload from tests/fixtures/africastalking by file name."""
    return lambda name: json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def receiver():
    """A stand-in for the gateway's callbacks: records every form POSTed to it."""
    recorder = FormRecorder()
    with ServerThread(recorder) as server:
        recorder.url = server.url
        yield recorder


@pytest.fixture
def sandbox(receiver):
    """The sandbox over real HTTP; its delivery reports and inbound SMS go to `receiver`."""
    with running_sandbox(
        DLR_URL=f"{receiver.url}/sms/africastalking/delivery",
        INBOUND_URL=f"{receiver.url}/sms/africastalking/inbound",
    ) as server:
        yield server
