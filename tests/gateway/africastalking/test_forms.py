"""The strict form parser reads exactly what the standard library's parse_qs reads, and refuses
what a callback must not carry."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from gateway.africastalking.forms import BadCallback, read_form
from gateway.callbacks import CallbackRequest

FORM = "application/x-www-form-urlencoded"


def _parse(body: bytes) -> dict[str, str]:
    return read_form(CallbackRequest({}, FORM, len(body), lambda n: body[:n]))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"sessionId=ATUid_1&serviceCode=%2A384%2A123%23&phoneNumber=%2B254712345678&networkCode=63902&text=",
        b"text=1*2*3&a=b",
        b"text=Habari+yako%21&name=J%C3%BCrgen",
        b"a&b=&=c&&d=e=f",
        b"text=100%25&x=%zz&y=%4",
        b"text=%E2%82%AC+%2B+plus",
    ],
)
def test_reads_what_parse_qs_reads(body):
    expected = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True, errors="strict").items()}
    assert _parse(body) == expected


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"sessionId=a&sessionId=b", "field sessionId given more than once"),
        (b"text=%ff%fe", "undecodable body"),
        (b"\xff\xfe=1", "undecodable body"),
        (b"&".join(b"f%d=1" % n for n in range(41)), "too many fields"),
        (b"a=" + b"x" * 5000, "body too large"),
    ],
)
def test_refuses_what_a_callback_must_not_carry(body, reason):
    with pytest.raises(BadCallback) as refused:
        _parse(body)
    assert refused.value.reason == reason


def test_a_foreign_media_type_is_refused_before_reading():
    def never(_n):
        raise AssertionError("read")

    with pytest.raises(BadCallback):
        read_form(CallbackRequest({}, "application/json", 10, never))
