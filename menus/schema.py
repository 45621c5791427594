"""JSON Schema of a menu tree file (YAML on disk, JSON in the database and the API)."""

from __future__ import annotations

from menus.model import INPUT_TYPES, LANGUAGES, NODE_KINDS

_ID = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"}

TEXT_SCHEMA = {
    "type": "object",
    "properties": {lang: {"type": "string", "minLength": 1, "maxLength": 600} for lang in LANGUAGES},
    "additionalProperties": False,
}

OPTION_SCHEMA = {
    "type": "object",
    "required": ["label", "next"],
    "properties": {
        "label": TEXT_SCHEMA,
        "next": _ID,
        "set_language": {"enum": list(LANGUAGES)},
        "value": {"type": "string", "minLength": 1, "maxLength": 40},
        "audiences": {"type": "array", "items": _ID, "minItems": 1, "uniqueItems": True},
    },
    "additionalProperties": False,
}

INPUT_SCHEMA = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": list(INPUT_TYPES)},
        "min": {"type": "integer", "minimum": 0},
        "max": {"type": "integer", "minimum": 1},
        "pattern": {"type": "string", "minLength": 1, "maxLength": 200},
        "same_as": _ID,
        "min_age": {"type": "integer", "minimum": 0, "maximum": 150},
        "max_age": {"type": "integer", "minimum": 0, "maximum": 150},
        "error": TEXT_SCHEMA,
    },
    "additionalProperties": False,
}

NODE_SCHEMA = {
    "type": "object",
    "required": ["kind"],
    "properties": {
        "kind": {"enum": list(NODE_KINDS)},
        "text": TEXT_SCHEMA,
        "options": {"type": "array", "items": OPTION_SCHEMA, "maxItems": 97},
        "input": INPUT_SCHEMA,
        "action": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"},
        "store": _ID,
        "next": _ID,
        "failure": _ID,
        "errors": {
            "type": "object",
            "propertyNames": {"pattern": "^[a-z][a-z0-9_]{0,39}$"},
            "additionalProperties": _ID,
        },
        "empty": _ID,
        "sensitive": {"type": "boolean"},
        "journey": _ID,
        "params": {"type": "object"},
        "audience_text": {"type": "object", "propertyNames": _ID.copy(), "additionalProperties": TEXT_SCHEMA},
        "shortcut": {
            "type": "object",
            "required": ["pattern", "store", "next"],
            "properties": {
                "pattern": {"type": "string", "minLength": 1, "maxLength": 200},
                "store": _ID,
                "next": _ID,
            },
            "additionalProperties": False,
        },
        "label_max": {"type": "integer", "minimum": 4, "maximum": 120},
    },
    "additionalProperties": False,
    "allOf": [
        {"if": {"properties": {"kind": {"const": "menu"}}}, "then": {"required": ["text", "options"]}},
        {
            "if": {"properties": {"kind": {"const": "input"}}},
            "then": {"required": ["text", "input", "store", "next"]},
        },
        {
            "if": {"properties": {"kind": {"const": "list"}}},
            "then": {"required": ["text", "action", "store", "next"]},
        },
        {
            "if": {"properties": {"kind": {"const": "action"}}},
            "then": {"required": ["action", "next", "failure"]},
        },
        {"if": {"properties": {"kind": {"const": "end"}}}, "then": {"required": ["text"]}},
    ],
}

TREE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["id", "title", "service_codes", "start", "nodes"],
    "properties": {
        "id": _ID,
        "title": {"type": "string", "minLength": 1, "maxLength": 80},
        "service_codes": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": r"^\*[0-9*]+#$"},
        },
        "start": _ID,
        "on_start": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}$"},
        "audiences": {"type": "array", "items": _ID, "minItems": 2, "uniqueItems": True},
        "strings": {"type": "object", "additionalProperties": TEXT_SCHEMA},
        "nodes": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": _ID,
            "additionalProperties": NODE_SCHEMA,
        },
    },
    "additionalProperties": False,
}
