"""Masking for log lines: the core service never logs a full phone, national ID, name or PIN."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str:
    """'+254712345678' -> '+2547******78' (country and network kept for debugging routes)."""
    if not phone:
        return "-"
    keep_head, keep_tail = 5, 2
    if len(phone) <= keep_head + keep_tail:
        return "*" * len(phone)
    return phone[:keep_head] + "*" * (len(phone) - keep_head - keep_tail) + phone[-keep_tail:]


def mask_national_id(national_id: str | None) -> str:
    """'12345678' (or its stored last 3 digits, '678') -> '*****678': the same width whatever the
    ID's length, so the mask does not reveal it."""
    if not national_id:
        return "-"
    return "*****" + national_id[-3:]


def mask_name(name: str | None) -> str:
    """'Wanjiku' -> 'W***'."""
    return f"{name[0]}***" if name else "-"
