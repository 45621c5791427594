"""Texts every tree shares (navigation, errors, resume); a tree's own `strings:` may override them.

Terms follow docs/glossary-sw.md.
"""

from __future__ import annotations

from menus.model import Text

BUILTIN_STRINGS: dict[str, Text] = {
    "more": {"en": "98 More", "sw": "98 Zaidi"},
    "nav": {"en": "0 Back 00 Home", "sw": "0 Rudi 00 Mwanzo"},
    "invalid": {"en": "Invalid entry, try again.", "sw": "Jibu si sahihi, jaribu tena."},
    "too_many_tries": {
        "en": "Too many invalid entries.",
        "sw": "Majaribio mengi yasiyo sahihi.",
    },
    "unavailable": {
        "en": "Sorry, this service is not available right now. Please try again later.",
        "sw": "Samahani, huduma hii haipatikani sasa. Tafadhali jaribu tena baadaye.",
    },
    "resume": {
        "en": "Continue where you left off?\n1. Continue\n2. Start again",
        "sw": "Endelea ulipoachia?\n1. Endelea\n2. Anza upya",
    },
    "resume_none": {
        "en": "Nothing saved to continue.",
        "sw": "Hakuna kilichohifadhiwa cha kuendelea.",
    },
    "bad_digits": {"en": "Use digits only.", "sw": "Tumia tarakimu pekee."},
    "bad_length": {"en": "Wrong length.", "sw": "Urefu si sahihi."},
    "bad_date": {"en": "Use DD/MM/YYYY.", "sw": "Tumia DD/MM/YYYY."},
    "bad_name": {
        "en": "Use letters only, e.g. Wanjiku or Ng'ang'a.",
        "sw": "Tumia herufi pekee, mfano Wanjiku au Ng'ang'a.",
    },
    "bad_age": {"en": "Check the year of birth.", "sw": "Angalia mwaka wa kuzaliwa."},
    "bad_national_id": {
        "en": "ID number has 7 or 8 digits.",
        "sw": "Nambari ya kitambulisho ina tarakimu 7 au 8.",
    },
    "bad_pin": {"en": "PIN has 4 digits.", "sw": "PIN ina tarakimu 4."},
    "weak_pin": {"en": "PIN too easy to guess.", "sw": "PIN ni rahisi kukisia."},
    "pin_mismatch": {"en": "PINs do not match.", "sw": "PIN hazilingani."},
    "bad_amount": {"en": "Enter a valid amount.", "sw": "Weka kiasi sahihi."},
    "empty_list": {"en": "Nothing to show yet.", "sw": "Hakuna cha kuonyesha bado."},
}
