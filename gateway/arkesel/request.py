"""Arkesel's request, read strictly, and the neutral `Hop` it becomes.

Arkesel posts one JSON object per hop: `sessionID`, `userID` (opaque, echoed), `newSession`
(true on the dial), `msisdn` (international, no `+`), `userData` (this hop's input; on the dial,
possibly the dialled string) and `network`. There is no service code, no hop counter and no
end-of-session notice: the tree comes from configuration (ARKESEL_TREE), a retry is told by time
(replay.py), and a continuation of a session the gateway does not hold ends politely.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.arkesel.replay import SameInputReplay
from gateway.hop import Hop
from gateway.json_callbacks import BadCallback, text
from menus.journeys import split_dial

AGGREGATOR = "arkesel"
# Hop session ids carry the aggregator, so a callback of one can never continue another's session.
SESSION_PREFIX = "arkesel:"
MAX_SESSION_ID = 64 - len(SESSION_PREFIX)
MAX_USER_DATA = 182  # a USSD string is at most 182 characters

_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


@dataclass(frozen=True)
class ArkeselRequest:
    """One Arkesel request, every field checked; the ids as sent, for the echo."""

    session_id: str
    user_id: str
    new_session: bool
    msisdn: str
    user_data: str
    network: str


def _flag(value: Any) -> bool:
    # A JSON boolean on the wire; "true"/"false" and 1/0 are read too (seen in third-party code).
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise BadCallback("newSession is not a boolean")


def read_request(fields: Mapping[str, Any]) -> ArkeselRequest:
    """Check the fields of one request (keys lower-cased). Raises `BadCallback`."""
    session_id = text(fields, "sessionid", MAX_SESSION_ID)
    if not session_id.strip():
        raise BadCallback("empty sessionID")
    if "newsession" not in fields:
        raise BadCallback("missing newSession")
    new_session = _flag(fields["newsession"])
    if not new_session and "userdata" not in fields:
        raise BadCallback("missing userData")
    return ArkeselRequest(
        session_id=session_id,
        user_id=text(fields, "userid", 64, required=False),
        new_session=new_session,
        msisdn=text(fields, "msisdn", 20),
        # absent or null on the dial; null on a continuation is read as an empty answer
        user_data=text(fields, "userdata", MAX_USER_DATA, required=False),
        network=text(fields, "network", 32, required=False).strip(),
    )


def dialled_keys(user_data: str, service_code: str) -> tuple[str, ...]:
    """The keys dialled after the code on the first hop: `*920*100*7*1#` on `*920*100#` -> ("7", "1").
    Nothing when no code is configured or `user_data` is no dial string of it."""
    dial = user_data.strip().replace("\uff03", "#")  # a full-width number sign is seen on some handsets
    if not service_code:
        return ()
    try:
        return tuple(split_dial(dial, (service_code,))[1])
    except ValueError:
        return ()


def arkesel_hop(
    request: ArkeselRequest,
    phone: str,
    *,
    tree_id: str,
    service_code: str,
    text_limit: int,
    replay: SameInputReplay,
) -> Hop:
    """The neutral hop of one request (`phone` already E.164): the dial opens the session with the
    keys dialled after `service_code`; a continuation carries its input whole (`*` and `#` too)."""
    replay_key, aliases = replay.keys(request.new_session, request.user_data)
    if request.new_session:
        inputs = dialled_keys(request.user_data, service_code)
    else:
        inputs = (request.user_data.strip(),)
    return Hop(
        session_id=SESSION_PREFIX + request.session_id.strip(),
        phone=phone,
        service_code=service_code,
        network=request.network.lower(),
        inputs=inputs,
        replay_key=replay_key,
        replay_aliases=aliases,
        is_new=request.new_session,
        aggregator=AGGREGATOR,
        tree_id=tree_id,
        needs_session=not request.new_session,
        text_limit=text_limit,
    )
