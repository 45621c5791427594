"""What the sandbox remembers: the messages it received and the faults switched on for tests.

Both are shared by every request thread, so each is guarded by its own lock.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from stand_ins.at_sandbox.status_codes import STATUS_NAMES


class RequestError(ValueError):
    """A fault switch or query the sandbox does not understand; the message says which."""


@dataclass
class Faults:
    """The fault switches; all off by default. See docs/sms.md for what each does."""

    http_status: int | None = None
    timeout_ms: int = 0
    latency_ms: int = 0
    fail_next: int = 0
    invalid_sender: bool = False
    recipient_codes: dict[str, int] = field(default_factory=dict)
    dlr_failures: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Any) -> Faults:
        if not isinstance(raw, dict):
            raise RequestError("faults must be a JSON object")
        unknown = sorted(set(raw) - set(cls.__dataclass_fields__))
        if unknown:
            raise RequestError(f"unknown fault switch(es): {', '.join(unknown)}")
        faults = cls()
        if raw.get("http_status") is not None:
            faults.http_status = _int(raw, "http_status", 400, 599)
        for name in ("timeout_ms", "latency_ms"):
            if name in raw:
                setattr(faults, name, _int(raw, name, 0, 120_000))
        if "fail_next" in raw:
            faults.fail_next = _int(raw, "fail_next", 0, 1_000_000)
        if "invalid_sender" in raw:
            faults.invalid_sender = bool(raw["invalid_sender"])
        codes = raw.get("recipient_codes", {})
        if not isinstance(codes, dict) or any(int(c) not in STATUS_NAMES for c in codes.values()):
            raise RequestError(f"recipient_codes maps a phone number to one of {sorted(STATUS_NAMES)}")
        faults.recipient_codes = {str(k): int(v) for k, v in codes.items()}
        failures = raw.get("dlr_failures", {})
        if not isinstance(failures, dict):
            raise RequestError("dlr_failures maps a phone number to a failureReason")
        faults.dlr_failures = {str(k): str(v) for k, v in failures.items()}
        return faults

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _int(raw: dict[str, Any], name: str, low: int, high: int) -> int:
    value = raw[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RequestError(f"{name} must be an integer from {low} to {high}")
    return value


class FaultSwitch:
    """The current faults; replacing them wakes any request sleeping on the old ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults = Faults()
        self._changed = threading.Event()
        self.sleeping = 0  # requests held by a timeout or latency fault right now

    def replace(self, faults: Faults) -> None:
        with self._lock:
            self._faults = faults
            old, self._changed = self._changed, threading.Event()
        old.set()

    def current(self) -> Faults:
        with self._lock:
            return self._faults

    def sleep(self, seconds: float, faults: Faults) -> None:
        """Sleep up to `seconds` as `faults` ask, ending early when they are replaced (so `{}`
        unblocks tests); not at all when they were replaced before the sleep began."""
        if seconds > 0:
            with self._lock:
                if faults is not self._faults:
                    return
                changed = self._changed
                self.sleeping += 1
            try:
                changed.wait(seconds)
            finally:
                with self._lock:
                    self.sleeping -= 1

    def take_forced_failure(self) -> bool:
        """True (and one fewer left) while `fail_next` is above zero."""
        with self._lock:
            if self._faults.fail_next > 0:
                self._faults.fail_next -= 1
                return True
            return False


def _digits(phone: str) -> str:
    return "".join(ch for ch in phone if ch.isdigit())


class MessageLog:
    """The messages received, one entry per recipient, oldest first, at most `limit` kept."""

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self._limit = limit
        self._seq = 0
        self._by_seq: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._seq_by_id: dict[str, int] = {}

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            entry = {"seq": self._seq, **entry}
            self._by_seq[self._seq] = entry
            if entry["id"] != "None":
                self._seq_by_id[entry["id"]] = self._seq
            while len(self._by_seq) > self._limit:
                _, dropped = self._by_seq.popitem(last=False)
                self._seq_by_id.pop(dropped["id"], None)
            return dict(entry)

    def update(self, message_id: str, **changes: Any) -> None:
        with self._lock:
            seq = self._seq_by_id.get(message_id)
            if seq is not None:
                self._by_seq[seq].update(changes)

    def clear(self) -> int:
        with self._lock:
            count = len(self._by_seq)
            self._by_seq.clear()
            self._seq_by_id.clear()
            return count

    def list(self, phone: str | None = None, since: str | None = None) -> list[dict[str, Any]]:
        """Entries for `phone` (any spelling of the digits) received after `since`.

        `since` is a `seq` number, a messageId, or a time (ISO 8601 or Unix seconds).
        """
        with self._lock:
            after_seq, after_time = self._since(since)
            wanted = _digits(phone) if phone else None
            return [
                dict(entry)
                for seq, entry in self._by_seq.items()
                if seq > after_seq
                and (after_time is None or entry["received_at"] > after_time)
                and (wanted is None or _digits(entry["to"]) == wanted)
            ]

    def _since(self, since: str | None) -> tuple[int, str | None]:
        if not since:
            return 0, None
        since = since.strip()
        if since.isdigit() and len(since) < 10:
            return int(since), None
        if since in self._seq_by_id:
            return self._seq_by_id[since], None
        try:
            moment = dt.datetime.fromtimestamp(float(since), tz=dt.UTC)
        except ValueError:
            try:
                moment = dt.datetime.fromisoformat(since.replace(" ", "+").replace("Z", "+00:00"))
            except ValueError:
                raise RequestError(f"since must be a seq, a messageId or a time, not {since!r}") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
        return 0, timestamp(moment)


def timestamp(moment: dt.datetime | None = None) -> str:
    """UTC time as ISO 8601 with microseconds: sortable as text, which `MessageLog.list` relies on."""
    return (moment or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
