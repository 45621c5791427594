"""Hops as the Africa's Talking adapter makes them, for tests that drive the hop service directly."""

from __future__ import annotations

from gateway.africastalking.ussd import transcript_hop
from gateway.hop import Hop

TEST_TRANSCRIPT_KEY = b"test-transcript-key"
# A session-sealing key for tests that build a SecretBox themselves (32 bytes, as derived ones are).
TEST_SEALING_KEY = b"test-sealing-key-of-32-bytes-ok!"


def at_hop(session_id: str, phone: str, service_code: str, network: str, text: str) -> Hop:
    """The neutral `Hop` of one Africa's Talking callback whose transcript is `text`."""
    return transcript_hop(
        session_id=session_id,
        phone=phone,
        service_code=service_code,
        network=network,
        text=text,
        key=TEST_TRANSCRIPT_KEY,
    )
