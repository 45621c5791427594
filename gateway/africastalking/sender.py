"""Sending SMS through the official `africastalking` SDK, with every result judged into a `SendOutcome`.

A caller may rely on: `send` and `send_many` never raise for anything the provider or the network
does; each message ends as `accepted` (with the provider's messageId and cost), `transient` (worth
retrying later) or `permanent` (retrying cannot help; `reason` names why). Recipients are judged by
`statusCode`, never by the status word, which reads "Success" for queued messages too.

`connect` builds the SDK's SMS service for one sender (not the SDK's module globals, which
`africastalking.initialize` replaces for everyone), points it at `AT_API_URL`, and sends its
requests over kept-alive connections with the standard library's HTTP client: the SDK alone opens
a new connection with `requests` for every message, which costs more CPU than the rest of a send.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import select
import socket
import ssl
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from africastalking.Service import DEFAULT_TIMEOUT_S, AfricasTalkingException
from africastalking.SMS import SMSService

from common.phones import mask_phone
from gateway.africastalking.status_codes import (
    ACCEPTED_CODES,
    AUTH_INVALID,
    PERMANENT_CODES,
    STATUS_NAMES,
    TRANSIENT_CODES,
)
from sms.sending import OutcomeKind, SendOutcome
from sms.sending import permanent as _permanent
from sms.sending import transient as _transient

log = logging.getLogger(__name__)

Timeout = float | tuple[float, float]


def parse_timeout(raw: str | None) -> Timeout:
    """`"5"` -> 5.0, `"3.05,9.05"` -> (3.05, 9.05) (connect, read); empty -> the SDK's default."""
    if not raw or not raw.strip():
        return DEFAULT_TIMEOUT_S
    parts = [float(p) for p in raw.split(",")]
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return (parts[0], parts[1])
    raise ValueError(f"AT_TIMEOUT_S must be one number or connect,read; got {raw!r}")


@dataclass(frozen=True)
class ProviderConfig:
    """Credentials and endpoint of the SMS provider; `from_env()` reads the `AT_*` variables."""

    username: str = "sandbox"
    api_key: str = "sandbox-key"
    sender_id: str | None = None
    # Base URL such as http://127.0.0.1:8025; None keeps the SDK's own (sandbox or live by username).
    api_url: str | None = None
    timeout: Timeout = DEFAULT_TIMEOUT_S
    # Ask the provider to queue and answer before the operator acknowledges: the advice for volume.
    enqueue: bool = True

    @classmethod
    def from_env(cls) -> ProviderConfig:
        env = os.environ
        return cls(
            username=env.get("AT_USERNAME") or cls.username,
            api_key=env.get("AT_API_KEY") or cls.api_key,
            sender_id=env.get("AT_SENDER_ID") or None,
            api_url=env.get("AT_API_URL") or None,
            timeout=parse_timeout(env.get("AT_TIMEOUT_S")),
            enqueue=env.get("AT_ENQUEUE", "1").strip().lower() not in {"0", "false", "no", "off"},
        )


def _form_byte(byte: int) -> str:
    char = chr(byte)
    if char.isascii() and (char.isalnum() or char in "_.-~"):
        return char
    return "+" if char == " " else f"%{byte:02X}"


# Each byte of a UTF-8 form value as `urlencode` writes it: letters, digits and `_.-~` as they are,
# a space as `+`, every other byte as `%XX`. One C-level translate per value instead of a Python
# call per byte (`quote_plus`), which was a third of a send's CPU with a message body in the form.
_FORM_BYTES = {byte: _form_byte(byte) for byte in range(256)}


def _form_value(value: Any) -> str:
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return raw.decode("latin-1").translate(_FORM_BYTES)


def form_body(data: dict[str, Any]) -> bytes:
    """`urllib.parse.urlencode(data).encode()`, the same bytes, for a form of single values."""
    return "&".join(f"{_form_value(name)}={_form_value(value)}" for name, value in data.items()).encode()


class KeptConnections:
    """POSTs forms over one kept-alive `http.client` connection per thread and host, with
    `requests`' timeout and error classes (`ConnectTimeout`, `ReadTimeout`, `ConnectionError`), so
    `judge_error` reads them as it reads the SDK's. A connection the server closed while idle is
    replaced before use; a request that fails is never sent again here (the worker decides)."""

    def __init__(self) -> None:
        self._local = threading.local()

    def post(
        self, url: str, headers: dict[str, str], data: dict[str, Any], timeout: Timeout
    ) -> tuple[int, str, bytes]:
        """The status, Content-Type and body of the answer to a form POST of `data` to `url`."""
        connect_s, read_s = timeout if isinstance(timeout, tuple) else (timeout, timeout)
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        body = form_body(data)
        headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        connection = self._connection(parts.scheme, parts.netloc, connect_s)
        try:
            connection.sock.settimeout(read_s)
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read()
        except TimeoutError as exc:
            self._drop(parts.scheme, parts.netloc)
            raise requests.ReadTimeout(str(exc)) from exc
        except (OSError, http.client.HTTPException) as exc:
            self._drop(parts.scheme, parts.netloc)
            raise requests.ConnectionError(str(exc)) from exc
        if response.will_close:
            self._drop(parts.scheme, parts.netloc)
        return response.status, response.getheader("Content-Type") or "", answer

    def _connections(self) -> dict[tuple[str, str], http.client.HTTPConnection]:
        kept = getattr(self._local, "connections", None)
        if kept is None:
            kept = self._local.connections = {}
        return kept

    def _connection(self, scheme: str, netloc: str, connect_s: float) -> http.client.HTTPConnection:
        kept = self._connections()
        connection = kept.get((scheme, netloc))
        if connection is not None and connection.sock is not None and not _closed_by_peer(connection.sock):
            return connection
        self._drop(scheme, netloc)
        if scheme == "https":
            context = ssl.create_default_context()
            connection = http.client.HTTPSConnection(netloc, timeout=connect_s, context=context)
        else:
            connection = http.client.HTTPConnection(netloc, timeout=connect_s)
        try:
            connection.connect()
        except TimeoutError as exc:
            raise requests.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise requests.ConnectionError(str(exc)) from exc
        kept[(scheme, netloc)] = connection
        return connection

    def _drop(self, scheme: str, netloc: str) -> None:
        connection = self._connections().pop((scheme, netloc), None)
        if connection is not None:
            connection.close()


def _closed_by_peer(sock: socket.socket) -> bool:
    # An idle kept connection is readable only when the server closed it (or broke the protocol).
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


class PooledSMSService(SMSService):
    """The SDK's SMS service (its request fields, headers and answers) with its POSTs sent over
    `KeptConnections` instead of a new connection each. Safe to use from many threads at once."""

    def __init__(self, username: str, api_key: str) -> None:
        super().__init__(username, api_key)
        self._transport = KeptConnections()

    def _make_request(self, url, method, headers, data, params, callback=None, timeout=DEFAULT_TIMEOUT_S):
        if method.upper() != "POST" or callback is not None or params:
            return super()._make_request(url, method, headers, data, params, callback, timeout)
        status, content_type, body = self._transport.post(url, headers, data, timeout)
        # What the SDK's own _make_request answers, so judge_response reads both alike.
        text = body.decode("utf-8", "replace")
        if 200 <= status < 300:
            return json.loads(body) if content_type == "application/json" else text
        raise AfricasTalkingException(text)


def connect(config: ProviderConfig) -> SMSService:
    """The SDK's SMS service for `config`, on kept-alive connections, pointed at `config.api_url`
    if set (the SDK has no public switch for its base URL; it appends /version1 itself, so do we)."""
    service = PooledSMSService(config.username, config.api_key)
    if config.api_url:
        base = config.api_url.rstrip("/")
        if not base.endswith("/version1"):
            base += "/version1"
        service._baseUrl = base
        service._contentUrl = base
    return service


def _sanitise(text: str, limit: int = 120) -> str:
    # Provider error text goes into logs and the outbox: keep it short and mask anything phone-like.
    text = re.sub(r"\+?\d{8,}", lambda m: mask_phone(m.group(0)), " ".join(text.split()))
    return text[:limit]


def judge_response(response: Any, phone: str) -> SendOutcome:
    """The outcome for `phone` from what `SMSService.send` returned (a dict, or a str when the
    Content-Type was not exactly `application/json`)."""
    if isinstance(response, str):
        try:
            response = json.loads(response)
        except ValueError:
            return _transient(
                f"provider answered non-JSON (Content-Type not application/json): {_sanitise(response, 60)}"
            )
    data = response.get("SMSMessageData") if isinstance(response, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("Recipients"), list):
        return _transient("provider answer has no SMSMessageData.Recipients")
    recipients = [r for r in data["Recipients"] if isinstance(r, dict)]
    if not recipients:
        # e.g. {"Message": "InvalidSenderId", "Recipients": []}: nothing was sent to anyone.
        return _permanent(_sanitise(str(data.get("Message") or "NoRecipients")))
    recipient = next((r for r in recipients if r.get("number") == phone), recipients[0])
    try:
        code = int(recipient.get("statusCode"))
    except (TypeError, ValueError):
        return _transient("recipient has no statusCode")
    name = STATUS_NAMES.get(code) or _sanitise(str(recipient.get("status") or f"statusCode {code}"))
    if code in ACCEPTED_CODES:
        message_id = recipient.get("messageId")
        return SendOutcome(
            OutcomeKind.ACCEPTED,
            message_id=str(message_id) if message_id not in (None, "", "None") else None,
            cost=str(recipient.get("cost")) if recipient.get("cost") is not None else None,
            status_code=code,
            reason=name,
        )
    if code in PERMANENT_CODES:
        return _permanent(name, code)
    if code in TRANSIENT_CODES or code >= 500:
        return _transient(name, code)
    return _permanent(f"unknown statusCode {code} ({name})", code)


def judge_error(error: Exception) -> SendOutcome:
    """The outcome of an exception raised by `SMSService.send`."""
    if isinstance(error, AfricasTalkingException):
        # Non-2xx: the SDK keeps only the body. A JSON body may still judge the recipient.
        text = str(error)
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if isinstance(body, dict) and "SMSMessageData" in body:
            return judge_response(body, "")
        if text.strip() == AUTH_INVALID:
            # Retryable: once AT_USERNAME/AT_API_KEY are fixed the message can still go out.
            return _transient("AuthenticationInvalid: check AT_USERNAME and AT_API_KEY")
        return _transient(f"provider error: {_sanitise(text) or 'empty answer'}")
    if isinstance(error, requests.Timeout):
        # A read timeout may come after the provider accepted the message: a retry can duplicate it.
        return _transient(f"timeout ({type(error).__name__})")
    if isinstance(error, requests.RequestException):
        return _transient(f"network error ({type(error).__name__})")
    if isinstance(error, ValueError) and "Invalid phone number" in str(error):
        return _permanent("InvalidPhoneNumber", 403)
    return _transient(f"unexpected {type(error).__name__}")


class AfricasTalkingSender:
    """The `sms.sending.SmsSender` of Africa's Talking: one SMS per call through the SDK; safe to
    use from many threads at once."""

    def __init__(self, config: ProviderConfig | None = None) -> None:
        self.config = config or ProviderConfig.from_env()
        self._service = connect(self.config)

    def send(self, phone: str, body: str) -> SendOutcome:
        """Send `body` to `phone` (E.164, e.g. +254712345678); never raises."""
        if not body:
            return _permanent("EmptyMessage")
        try:
            response = self._service.send(
                body,
                [phone],
                sender_id=self.config.sender_id,
                enqueue=self.config.enqueue,
                timeout=self.config.timeout,
            )
            outcome = judge_response(response, phone)
        except Exception as error:  # nothing from the SDK or the network may escape
            outcome = judge_error(error)
        level = logging.DEBUG if outcome.accepted else logging.WARNING
        log.log(level, "sms to %s %s: %s", mask_phone(phone), outcome.kind, outcome.reason)
        return outcome

    def send_many(self, items: Iterable[tuple[str, str]], max_workers: int = 32) -> list[SendOutcome]:
        """Send each `(phone, body)` concurrently; outcomes come back in the order of `items`.

        The SDK blocks for a whole HTTP round trip, so `max_workers` sends are in flight at once:
        with a provider answering in 300 ms, 32 workers give about 100 messages a second.
        """
        batch = list(items)
        if not batch:
            return []
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(batch)))) as pool:
            return list(pool.map(lambda item: self.send(*item), batch))
