"""Checks for what a citizen types at an input node. Each returns the value to keep or an error key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from menus.model import InputSpec
from menus.patterns import PatternError, compiled


@dataclass(frozen=True)
class Checked:
    value: str | None = None
    error: str | None = None  # a key of the tree's strings, e.g. "bad_pin"

    @property
    def ok(self) -> bool:
        return self.error is None


_TOO_EASY_PINS = frozenset(
    {"0000", "1111", "2222", "3333", "4444", "5555", "6666", "7777", "8888", "9999", "1234"}
)


# Letters of any alphabet in groups joined by one space, hyphen or apostrophe: "Ng'ang'a",
# "Mary-Anne", "Ole Sankale", "Müller". A typographic apostrophe (’) is read as the plain one.
_NAME = re.compile(r"[^\W\d_]+(?:[ '-][^\W\d_]+)*")
NAME_MAX = 60


def clean_name(raw: str, max_length: int = NAME_MAX) -> str | None:
    """`raw` as a person's name (spaces collapsed, ’ as '), or None when it is not one: letters
    only, at least 2 of them, at most `max_length` characters."""
    value = " ".join(raw.replace("\u2019", "'").split())
    if not _NAME.fullmatch(value) or len(value) > max_length:
        return None
    if sum(ch.isalpha() for ch in value) < 2:
        return None
    return value


def _length_ok(value: str, spec: InputSpec) -> bool:
    return (spec.min is None or len(value) >= spec.min) and (spec.max is None or len(value) <= spec.max)


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def check_input(spec: InputSpec, raw: str, answers: Mapping[str, str], today: date) -> Checked:
    """Validate `raw` against `spec`; `answers` lets a confirmation compare with an earlier entry."""
    value = raw.strip()
    kind = spec.type
    if kind == "digits":
        if not value.isdigit() or not value.isascii():
            return Checked(error="bad_digits")
        return Checked(value) if _length_ok(value, spec) else Checked(error="bad_length")
    if kind == "text":
        if not value:
            return Checked(error="bad_length")
        return Checked(value) if _length_ok(value, spec) else Checked(error="bad_length")
    if kind == "name":
        name = clean_name(value, spec.max or NAME_MAX)
        return Checked(name) if name else Checked(error="bad_name")
    if kind == "regex":
        # RE2: linear time whatever the operator wrote (menus/patterns.py)
        try:
            matched = compiled(spec.pattern or ".*").fullmatch(value)
        except PatternError:
            matched = None  # the validator refuses such a tree; never a stalled or failed hop
        return Checked(value) if matched else Checked(error="custom" if spec.error else "invalid")
    if kind == "national_id":
        ok = value.isascii() and value.isdigit() and 7 <= len(value) <= 8
        return Checked(value) if ok else Checked(error="bad_national_id")
    if kind == "pin":
        if not (value.isascii() and value.isdigit() and len(value) == 4):
            return Checked(error="bad_pin")
        if spec.same_as:
            return Checked(value) if answers.get(spec.same_as) == value else Checked(error="pin_mismatch")
        return Checked(error="weak_pin") if value in _TOO_EASY_PINS else Checked(value)
    if kind == "date":
        try:
            born = datetime.strptime(value, "%d/%m/%Y").date()
        except ValueError:
            return Checked(error="bad_date")
        age = _age(born, today)
        if born > today or (spec.min_age is not None and age < spec.min_age):
            return Checked(error="bad_age")
        if spec.max_age is not None and age > spec.max_age:
            return Checked(error="bad_age")
        return Checked(born.strftime("%d/%m/%Y"))
    if kind == "amount":
        if not (value.isascii() and value.isdigit()) or len(value) > 9:
            return Checked(error="bad_amount")
        amount = int(value)
        if (spec.min is not None and amount < spec.min) or (spec.max is not None and amount > spec.max):
            return Checked(error="bad_amount")
        return Checked(str(amount))
    raise ValueError(f"unknown input type {kind!r}")
