"""Africa's Talking's cumulative transcript becomes a neutral hop: new inputs, replay key, resends."""

from __future__ import annotations

import pytest

from common.keys import GatewayKeys
from gateway.africastalking.ussd import replay_key, transcript_hop

KEY = GatewayKeys.derive("test-secret").transcript


def hop(text: str):
    return transcript_hop(
        session_id="ATUid_1",
        phone="+254712345678",
        service_code="*384*123#",
        network="63902",
        text=text,
        key=KEY,
    )


@pytest.mark.parametrize(
    ("answered", "text", "new", "certain"),
    [
        ("1*2", "1*2*3", ("3",), True),
        ("1*2", "1*2*3*4", ("3", "4"), True),  # two keys in one answer: both are new
        ("1*2", "1*2*", ("",), True),  # an empty answer is an input too
        ("", "3*1", ("3", "1"), True),  # the plain dial answered, then a multi-key answer
        ("1", "1*1", ("1",), True),  # a new key that looks like the previous one is still new
        ("1*2", "9*9*5", ("5",), False),  # history rewritten: the last key, flagged
    ],
)
def test_new_inputs_are_the_transcript_past_the_last_answered_hop(answered, text, new, certain):
    assert hop(text).new_inputs(replay_key(answered, KEY)) == (new, certain)


def test_a_first_hop_carries_every_deep_dial_key_and_no_resends():
    first = hop("7*1")
    assert first.inputs == ("7", "1") and not first.is_new
    assert hop("").inputs == () and hop("").resends == ()


def test_the_replay_key_is_keyed_and_reveals_nothing():
    assert hop("1*4826").replay_key == hop("1*4826").replay_key  # a retry is recognised
    assert hop("1*4826").replay_key != hop("1*4827").replay_key
    other_key = transcript_hop(
        session_id="s",
        phone="p",
        service_code="c",
        network="n",
        text="1*4826",
        key=GatewayKeys.derive("other").transcript,
    )
    assert other_key.replay_key != hop("1*4826").replay_key  # no table of PIN digests fits every app
    assert "4826" not in hop("1*4826").replay_key + repr(hop("1*4826").resends)
