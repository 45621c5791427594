"""Phone numbers: parse any common local form and normalise to E.164 with `phonenumbers`."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


class InvalidPhoneNumber(ValueError):
    """The number cannot be used; `reason` says why in words an operator can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@lru_cache(maxsize=65536)
def _normalise(raw: str, regions: tuple[str, ...]) -> str:
    text = raw.strip()
    if not text or len(text) > 20:
        raise InvalidPhoneNumber("empty or too long")
    try:
        number = phonenumbers.parse(text, regions[0])
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"not a phone number ({exc.error_type})") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("not a valid number")
    region = phonenumbers.region_code_for_number(number)
    if region not in regions:
        raise InvalidPhoneNumber(f"numbers from {region or 'that country'} are not served")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone(raw: str, regions: tuple[str, ...] = ("KE",)) -> str:
    """Return `raw` as E.164 (`+254712345678`) or raise `InvalidPhoneNumber`.

    Accepts `0712…`, `712…`, `+254 712…`, `254712…`; refuses numbers outside `regions`.
    """
    return _normalise(raw, regions)


def mask_phone(phone: str) -> str:
    """`+254712345678` -> `+2547****678`: enough for on-call to correlate, not to call."""
    if len(phone) < 8:
        return "****"
    return f"{phone[:5]}****{phone[-3:]}"
