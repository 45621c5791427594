"""What a step asks the caller to do once it is over: the engine's events (goflow's model).

The engine and the actions it runs never send, write or record anything themselves; they return
effects, and whoever runs the engine (the hop service, a journey test, the console's simulator)
decides what to do with them. Each effect is a small frozen value, so a test can compare them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Effect:
    """Base of every effect; the engine carries effects in order and never looks inside one."""

    __slots__ = ()


@dataclass(frozen=True)
class SetLanguage(Effect):
    """The citizen chose a language: remember it for their next dials and SMS."""

    lang: str


@dataclass(frozen=True)
class SendSms(Effect):
    """Queue one SMS from a template (ids in sms/templates.yaml), once per `dedupe_key`."""

    template: str
    phone: str
    params: Mapping[str, Any]
    lang: str | None
    dedupe_key: str


@dataclass(frozen=True)
class RecordEvent(Effect):
    """Append one event of `kind` to the audit trail (ids, statuses and figures only)."""

    kind: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class KnownCaller:
    """What the gateway may remember about a phone between sessions: whether it is a registered
    citizen, and the first name a greeting uses. Never an ID number, a date or anything from a PIN."""

    registered: bool
    first_name: str = ""


@dataclass(frozen=True)
class ForgetCaller(Effect):
    """What the gateway remembers about the caller is out of date (e.g. they just registered)."""
