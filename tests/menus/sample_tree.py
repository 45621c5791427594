"""A small tree that uses every node kind, for engine and validator tests."""

from __future__ import annotations

import copy
from typing import Any

SAMPLE: dict[str, Any] = {
    "id": "sample",
    "title": "Sample",
    "service_codes": ["*384*999#"],
    "start": "home",
    "nodes": {
        "home": {
            "kind": "menu",
            "text": {"en": "Sample home", "sw": "Mwanzo wa mfano"},
            "options": [
                {"label": {"en": "Register", "sw": "Jisajili"}, "next": "national_id"},
                {"label": {"en": "Services", "sw": "Huduma"}, "next": "services"},
                {"label": {"en": "Kiswahili", "sw": "Kiswahili"}, "next": "home", "set_language": "sw"},
                {"label": {"en": "Long info", "sw": "Habari ndefu"}, "next": "info"},
            ],
        },
        "national_id": {
            "kind": "input",
            "journey": "register",
            "text": {"en": "Enter your national ID number", "sw": "Weka nambari ya kitambulisho"},
            "input": {"type": "national_id"},
            "store": "national_id",
            "next": "born",
        },
        "born": {
            "kind": "input",
            "journey": "register",
            "text": {"en": "Date of birth (DD/MM/YYYY)", "sw": "Tarehe ya kuzaliwa (DD/MM/YYYY)"},
            "input": {"type": "date", "min_age": 16, "max_age": 120},
            "store": "born",
            "next": "pin",
        },
        "pin": {
            "kind": "input",
            "journey": "register",
            "text": {"en": "Enter PIN", "sw": "Weka PIN"},
            "input": {"type": "pin"},
            "store": "pin",
            "next": "pin2",
        },
        "pin2": {
            "kind": "input",
            "journey": "register",
            "text": {"en": "Confirm PIN", "sw": "Thibitisha PIN"},
            "input": {"type": "pin", "same_as": "pin"},
            "store": "pin2",
            "next": "save",
        },
        "save": {"kind": "action", "action": "register", "next": "saved", "failure": "not_saved"},
        "saved": {
            "kind": "end",
            "text": {
                "en": "Registered ID {national_id}, born {born}. Ref {reference}",
                "sw": "Umesajiliwa. {reference}",
            },
        },
        "not_saved": {
            "kind": "end",
            "text": {"en": "Could not register: {error}", "sw": "Imeshindikana: {error}"},
        },
        "services": {
            "kind": "list",
            "text": {"en": "Choose a service", "sw": "Chagua huduma"},
            "action": "list_services",
            "store": "service",
            "next": "amount",
            "failure": "not_saved",
            "empty": "none",
        },
        "none": {"kind": "end", "text": {"en": "No services", "sw": "Hakuna huduma"}},
        "amount": {
            "kind": "input",
            "text": {"en": "{service_label}: amount", "sw": "{service_label}: kiasi"},
            "input": {"type": "amount", "min": 10, "max": 70000},
            "store": "amount",
            "next": "paid",
        },
        "paid": {"kind": "end", "text": {"en": "Paying {amount} for {service}", "sw": "Unalipa {amount}"}},
        "info": {
            "kind": "end",
            "text": {
                "en": " ".join(["Word"] * 40),
                "sw": " ".join(["Neno"] * 40),
            },
        },
    },
}


def sample(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(SAMPLE)
    document.update(changes)
    return document
