"""Words the citizen actions put on screens (status names, field errors): English and Kiswahili.

Terms follow docs/glossary-sw.md. Kept here, beside the actions that use them, because they are
computed from the core service's answers; everything static lives in the menu tree.
"""

from __future__ import annotations

import re

STATUS_WORDS: dict[str, dict[str, str]] = {
    "submitted": {"en": "Submitted", "sw": "Imepokelewa"},
    "under_review": {"en": "Under review", "sw": "Inashughulikiwa"},
    "approved": {"en": "Approved", "sw": "Imeidhinishwa"},
    "rejected": {"en": "Rejected", "sw": "Imekataliwa"},
    "ready_for_collection": {"en": "Ready for collection", "sw": "Iko tayari kuchukuliwa"},
    "collected": {"en": "Collected", "sw": "Imechukuliwa"},
}

PAYMENT_WORDS: dict[str, dict[str, str]] = {
    "paid": {"en": "Paid", "sw": "Imelipwa"},
    "unpaid": {"en": "Not paid", "sw": "Haijalipwa"},
    "pending": {"en": "Payment pending", "sw": "Malipo yanasubiriwa"},
    "not_required": {"en": "No fee", "sw": "Hakuna ada"},
}

FIELD_ERRORS: dict[str, dict[str, str]] = {
    "length": {"en": "Use {min} to {max} characters.", "sw": "Tumia herufi {min} hadi {max}."},
    "digits": {"en": "Use digits only.", "sw": "Tumia tarakimu pekee."},
    "date": {
        "en": "Use DD/MM/YYYY, from {earliest} to today.",
        "sw": "Tumia DD/MM/YYYY, kuanzia {earliest} hadi leo.",
    },
    "choice": {"en": "Choose a number from the list.", "sw": "Chagua nambari kwenye orodha."},
    "name": {"en": "Use letters only, no digits.", "sw": "Tumia herufi pekee, bila tarakimu."},
    "national_id": {
        "en": "ID number has 7 or 8 digits.",
        "sw": "Nambari ya kitambulisho ina tarakimu 7 au 8.",
    },
    "format": {"en": "Type it like {example}.", "sw": "Iandike kama {example}."},
}

# A reference as the core writes it: ECZ- and six of these (no 0, O, 1, I or L).
_REFERENCE = re.compile(r"(?:ECZ)?([2-9A-HJKMNP-Z]{6})")


def canonical_reference(typed: str) -> str | None:
    """'ecz 7k3q9p', 'ECZ7K3Q9P' or '7K3Q9P' -> 'ECZ-7K3Q9P' (the paybill account); None when it
    cannot be a reference."""
    compact = re.sub(r"[\s-]", "", typed).upper()
    match = _REFERENCE.fullmatch(compact)
    return f"ECZ-{match.group(1)}" if match else None


def word(table: dict[str, dict[str, str]], key: str, lang: str) -> str:
    """`table[key]` in `lang` (English for an unknown language); the key itself if unknown."""
    texts = table.get(key)
    if texts is None:
        return key.replace("_", " ")
    return texts.get(lang) or texts["en"]


def money(amount: int) -> str:
    """KES amounts as Kenyans write them: 1,050."""
    return f"{amount:,}"
