"""Words the citizen actions put on screens (status names, field errors): English and Kiswahili.

Terms follow docs/glossary-sw.md. Kept here, beside the actions that use them, because they are
computed from the core service's answers; everything static lives in the menu tree.
"""

from __future__ import annotations

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
    "date": {"en": "Use DD/MM/YYYY, not a future date.", "sw": "Tumia DD/MM/YYYY, si tarehe ijayo."},
    "choice": {"en": "Choose a number from the list.", "sw": "Chagua nambari kwenye orodha."},
}


def word(table: dict[str, dict[str, str]], key: str, lang: str) -> str:
    """`table[key]` in `lang` (English for an unknown language); the key itself if unknown."""
    texts = table.get(key)
    if texts is None:
        return key.replace("_", " ")
    return texts.get(lang) or texts["en"]


def money(amount: int) -> str:
    """KES amounts as Kenyans write them: 1,050."""
    return f"{amount:,}"
