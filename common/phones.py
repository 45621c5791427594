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
    # Each served region in turn reads the number as its own local or international-without-`+` form
    # (`0244…`, `233244…` in Ghana); the first valid reading wins, so the first region is the default.
    problem = "not a valid number"
    for default_region in regions:
        try:
            number = phonenumbers.parse(text, default_region)
        except phonenumbers.NumberParseException as exc:
            raise InvalidPhoneNumber(f"not a phone number ({exc.error_type})") from None
        if not phonenumbers.is_valid_number(number):
            continue
        region = phonenumbers.region_code_for_number(number)
        if region in regions:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        problem = f"numbers from {region or 'that country'} are not served"
    raise InvalidPhoneNumber(problem)


def normalise_phone(raw: str, regions: tuple[str, ...] = ("KE",)) -> str:
    """Return `raw` as E.164 (`+254712345678`) or raise `InvalidPhoneNumber`.

    Accepts `0712…`, `712…`, `+254 712…`, `254712…` (and the same forms of every region in
    `regions`: `233244…` with `("KE", "GH")`); refuses numbers outside `regions`.
    """
    return _normalise(raw, regions)


def mask_phone(phone: str) -> str:
    """`+254712345678` -> `+2547****678`: enough for on-call to correlate, not to call."""
    if len(phone) < 8:
        return "****"
    return f"{phone[:5]}****{phone[-3:]}"
