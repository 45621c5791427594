"""`POST /ussd/arkesel` (and `/ussd/arkesel/<token>`): Arkesel's USSD callback.

Every request gets HTTP 200 and a JSON reply in Arkesel's shape (reply.py) — except a wrong or
missing callback secret, which gets 403 with a polite end in the same shape — because anything
else leaves the citizen without a screen. Each request becomes a neutral `Hop` (request.py) for
the hop service. Arkesel sends no end-of-session notice: a session ends by its TTL, and a
continuation for a session the gateway does not hold gets a polite "please dial again".
"""

from __future__ import annotations

from typing import Any

from common.logs import get_logger
from common.phones import InvalidPhoneNumber, normalise_phone
from gateway import metrics
from gateway.arkesel.replay import SameInputReplay
from gateway.arkesel.reply import render
from gateway.arkesel.request import arkesel_hop, read_request
from gateway.callbacks import CallbackAnswer, CallbackRequest, json_answer, secret_of, secret_ok
from gateway.json_callbacks import BadCallback, echo, read_json
from gateway.replies import polite
from gateway.ussd import HopService

log = get_logger("gateway.arkesel")

NO_IDS = ("", "", "")


class ArkeselCallback:
    """Arkesel's USSD callback, a `Callback` (gateway/callbacks.py) answering through
    `hops` with tree `tree_id` (ARKESEL_TREE): the callback lane and Flask's routes serve it alike.

    `service_code`: the code Arkesel routes here, to read the keys of a deep dial (empty: none);
    `text_limit`: characters of `message` a screen may use; `replay`: how retries are recognised;
    `callback_secret`: when set, the request must carry it as `?key=` or as the last path segment.
    """

    name = "arkesel_callback"
    path = "/ussd/arkesel"
    takes_token = True
    fallback = json_answer(render(NO_IDS, polite("error"), final=True))

    def __init__(
        self,
        hops: HopService,
        *,
        callback_secret: str,
        phone_regions: tuple[str, ...],
        tree_id: str,
        service_code: str,
        text_limit: int,
        replay: SameInputReplay,
    ) -> None:
        self.hops = hops
        self.callback_secret = callback_secret
        self.phone_regions = phone_regions
        self.tree_id = tree_id
        self.service_code = service_code
        self.text_limit = text_limit
        self.replay = replay
        self._forbidden = json_answer(render(NO_IDS, polite("error"), final=True), 403)

    def __call__(self, given: CallbackRequest) -> CallbackAnswer:
        if not secret_ok(secret_of(given), self.callback_secret):
            metrics.CALLBACK_REJECTED.labels("bad_secret").inc()
            return self._forbidden
        fields: dict[str, Any] | None = None
        try:
            fields = read_json(given)
            arkesel = read_request(fields)
        except BadCallback as exc:
            log.warning("arkesel callback refused", reason=exc.reason)
            metrics.CALLBACK_REJECTED.labels("bad_request").inc()
            ids = (echo(fields, "sessionid"), echo(fields, "userid"), echo(fields, "msisdn", 20))
            return json_answer(render(ids, polite("bad_request"), final=True))
        ids = (arkesel.session_id, arkesel.user_id, arkesel.msisdn)
        try:
            phone = normalise_phone(arkesel.msisdn, self.phone_regions)
        except InvalidPhoneNumber as exc:
            log.warning("arkesel callback refused", reason=f"phone: {exc.reason}")
            metrics.CALLBACK_REJECTED.labels("bad_phone").inc()
            return json_answer(render(ids, polite("number_not_served"), final=True))
        hop = arkesel_hop(
            arkesel,
            phone,
            tree_id=self.tree_id,
            service_code=self.service_code,
            text_limit=self.text_limit,
            replay=self.replay,
        )
        reply = self.hops.handle(hop)
        return json_answer(render(ids, reply.body, reply.final))
