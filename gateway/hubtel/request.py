"""Hubtel's request, read strictly, and the neutral `Hop` it becomes.

Hubtel posts one JSON object per hop: `Type` (Initiation, Response, Release, Timeout; any case),
`SessionId`, `Mobile` (international, no `+`), `ServiceCode` (the code without `*`/`#`, e.g.
`713*4`, or a service id), `Message` (the dialled string on Initiation, this hop's input after),
`Operator`, `Sequence` (1 on Initiation, +1 per request), `ClientState`, `Platform`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.hop import Hop
from gateway.json_callbacks import BadCallback, text
from menus.journeys import split_dial

AGGREGATOR = "hubtel"
# Hop session ids carry the aggregator, so a callback of one can never continue another's session.
SESSION_PREFIX = "hubtel:"

# Hubtel's `Type` (lower-cased) -> what the request is. Anything else is refused (Hubtel's own SDK
# treats an unknown type as the end of the session).
EVENTS = {"initiation": "start", "response": "input", "release": "release", "timeout": "timeout"}
# Session-end notices, as recorded with the session's end (`UssdSessionEnd.status`).
END_STATUS = {"release": "Release", "timeout": "Timeout"}

MAX_SESSION_ID = 64 - len(SESSION_PREFIX)
MAX_MESSAGE = 182  # a USSD string is at most 182 characters
_USSD_CODE = re.compile(r"^\*?([0-9]+(?:\*[0-9]+)*)#?$")


@dataclass(frozen=True)
class HubtelRequest:
    """One Hubtel request, every field checked. `event`: start, input, release or timeout."""

    event: str
    session_id: str
    mobile: str
    service_code: str
    message: str
    operator: str
    sequence: int


def _sequence(value: Any) -> int:
    # An int on the wire; a numeric string is read too. Booleans and floats are not sequence numbers.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadCallback("Sequence is not a whole number")
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= 9):
            raise BadCallback("Sequence is not a whole number")
        value = int(value)
    if not 0 <= value < 10**9:
        raise BadCallback("Sequence out of range")
    return value


def read_request(fields: Mapping[str, Any]) -> HubtelRequest:
    """Check the fields of one request (keys lower-cased). Raises `BadCallback`."""
    kind = text(fields, "type", 32).strip().lower()
    if kind not in EVENTS:
        raise BadCallback(f"unknown Type {kind[:20]!r}")
    session_id = text(fields, "sessionid", MAX_SESSION_ID).strip()
    if not session_id:
        raise BadCallback("empty SessionId")
    if "sequence" not in fields:
        raise BadCallback("missing Sequence")
    text(fields, "clientstate", 512, required=False)
    text(fields, "platform", 32, required=False)
    return HubtelRequest(
        event=EVENTS[kind],
        session_id=session_id,
        mobile=text(fields, "mobile", 20),
        service_code=text(fields, "servicecode", 64).strip(),
        message=text(fields, "message", MAX_MESSAGE, required=kind == "response"),
        operator=text(fields, "operator", 32, required=False).strip(),
        sequence=_sequence(fields["sequence"]),
    )


def ussd_code(service_code: str) -> str | None:
    """`713*4` (or `*713*4#`) -> `*713*4#`; None for a service id such as a GUID."""
    match = _USSD_CODE.match(service_code)
    return f"*{match.group(1)}#" if match else None


def network(operator: str) -> str:
    """`MTN`, `mtn-gh`, `vodafone` -> `mtn`, `mtn`, `vodafone`: one spelling per network."""
    name = operator.strip().lower()
    for suffix in ("-gh", "-ke"):
        name = name.removesuffix(suffix)
    return name


@dataclass(frozen=True)
class Route:
    """Where a Hubtel service code goes: the code as the audit trail records it, and the tree
    (empty: the tree that lists the code among its own service codes)."""

    service_code: str
    tree_id: str


def route(service_code: str, codes: Mapping[str, str]) -> Route:
    """The route of `ServiceCode` given HUBTEL_SERVICE_CODES (`codes`: code or service id -> tree)."""
    code = ussd_code(service_code)
    if code is not None and code in codes:
        return Route(code, codes[code])
    if service_code in codes:  # a service id configured as such
        return Route(service_code, codes[service_code])
    return Route(code or service_code, "")


def dialled_keys(message: str, service_code: str, codes: Mapping[str, str]) -> tuple[str, ...]:
    """The keys dialled after the code on Initiation: `*713*4*3#` on code `*713#` -> ("4", "3").

    The request's own code is stripped when it is one; a service id falls back to the configured
    codes. A message that is no dial string of those codes carries no keys.
    """
    dial = message.strip().replace("\uff03", "#")  # a full-width number sign is seen on some handsets
    code = ussd_code(service_code)
    candidates = (code,) if code else tuple(c for c in codes if ussd_code(c) == c)
    try:
        return tuple(split_dial(dial, candidates)[1]) if candidates else ()
    except ValueError:
        return ()


def hubtel_hop(request: HubtelRequest, phone: str, codes: Mapping[str, str], text_limit: int) -> Hop:
    """The neutral hop of an Initiation or Response (`phone` already E.164).

    The replay key is the `Sequence`: a retried request carries the same one. Initiation opens the
    session (its dialled keys consumed one by one); a Response answers the session's last screen.
    """
    where = route(request.service_code, codes)
    starting = request.event == "start"
    if starting:
        inputs = dialled_keys(request.message, request.service_code, codes)
    else:
        inputs = (request.message.strip(),)
    return Hop(
        session_id=SESSION_PREFIX + request.session_id,
        phone=phone,
        service_code=where.service_code,
        network=network(request.operator),
        inputs=inputs,
        replay_key=f"q{request.sequence}",
        is_new=starting,
        aggregator=AGGREGATOR,
        tree_id=where.tree_id,
        needs_session=not starting,
        text_limit=text_limit,
    )
