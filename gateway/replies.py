"""Screens the gateway shows on its own, when no tree can answer. Short, polite, both languages
when the citizen's language is not known. Every adapter renders these in its own reply shape."""

from __future__ import annotations

_TEXTS: dict[str, dict[str, str]] = {
    "busy": {
        "en": "Service busy, please try again shortly.",
        "sw": "Huduma ina shughuli nyingi, tafadhali jaribu tena baadaye.",
    },
    "bad_request": {
        "en": "Sorry, we could not read your request. Please dial again.",
        "sw": "Samahani, hatukuweza kusoma ombi lako. Tafadhali piga tena.",
    },
    "unknown_service": {
        "en": "Sorry, this code is not in service. Dial *384*123# for eCitizen.",
        "sw": "Samahani, nambari hii haitumiki. Piga *384*123# kwa eCitizen.",
    },
    "number_not_served": {
        "en": "Sorry, this service is only for Kenyan mobile numbers.",
        "sw": "Samahani, huduma hii ni kwa nambari za simu za Kenya pekee.",
    },
    "rate_limited": {
        "en": "Too many requests. Please wait a minute and dial again.",
        "sw": "Maombi mengi mno. Tafadhali subiri dakika moja kisha upige tena.",
    },
    "expired": {
        "en": "Your session has ended. Please dial again.",
        "sw": "Muda umekwisha. Tafadhali piga tena.",
    },
    "error": {
        "en": "Sorry, something went wrong. Please dial again.",
        "sw": "Samahani, kuna hitilafu. Tafadhali piga tena.",
    },
}


def polite(key: str, lang: str | None = None) -> str:
    """The text for `key` in `lang`, or in English and Kiswahili when the language is unknown."""
    texts = _TEXTS[key]
    if lang in texts:
        return texts[lang]
    return f"{texts['en']}\n{texts['sw']}"
