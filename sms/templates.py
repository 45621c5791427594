"""SMS templates in English and Kiswahili, rendered with their segment count.

The texts, parameter limits and status words live in `templates.yaml` beside this module. A caller
may rely on: `render` either returns a body within the declared limits or raises `TemplateError`
naming what is wrong; every template exists in every language of `LANGUAGES`; `is_essential` says
whether a template may still be sent to a number that opted out with STOP.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml

from sms.segments import Encoding, count_segments, to_gsm7

TEMPLATES_FILE = Path(__file__).with_name("templates.yaml")
LANGUAGES: tuple[str, ...] = ("en", "sw")
MAX_SEGMENTS = 2  # a template whose worst case needs more fails tests/sms/test_templates.py


class TemplateError(ValueError):
    """A template, language or parameter is missing or unusable; the message says which."""


@dataclass(frozen=True)
class ParamSpec:
    """How one parameter is checked: `max_length` in GSM-7 septets, or a status code (`kind="status"`)."""

    name: str
    kind: Literal["text", "status"] = "text"
    max_length: int = 0
    fit: Literal["truncate", "refuse"] = "refuse"


@dataclass(frozen=True)
class SmsTemplate:
    """One message in every language; `params` are the parameters its text needs, in order of use."""

    id: str
    essential: bool
    bodies: Mapping[str, str]
    params: tuple[str, ...]


@dataclass(frozen=True)
class RenderedSms:
    """A body ready to send with its GSM 03.38 encoding and the number of segments it costs."""

    body: str
    encoding: Encoding
    segments: int


@dataclass(frozen=True)
class _Catalogue:
    constants: Mapping[str, str]
    params: Mapping[str, ParamSpec]
    status_words: Mapping[str, Mapping[str, str]]
    templates: Mapping[str, SmsTemplate]


def _placeholders(text: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(text) if field is not None]


def _load(path: Path) -> _Catalogue:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    constants = {k: str(v) for k, v in raw["constants"].items()}
    params = {name: ParamSpec(name=name, **spec) for name, spec in raw["params"].items()}
    status_words = raw["status_words"]
    for code, words in status_words.items():
        if set(words) != set(LANGUAGES):
            raise TemplateError(f"{path.name}: status {code!r} needs words in {LANGUAGES}")
    templates: dict[str, SmsTemplate] = {}
    for template_id, entry in raw["templates"].items():
        bodies = {lang: entry[lang] for lang in LANGUAGES if lang in entry}
        if set(bodies) != set(LANGUAGES):
            raise TemplateError(f"{path.name}: template {template_id!r} needs a text in each of {LANGUAGES}")
        used: list[str] = []
        for lang, body in bodies.items():
            names = _placeholders(body)
            unknown = sorted(set(names) - set(params) - set(constants))
            if unknown:
                raise TemplateError(f"{path.name}: {template_id}.{lang} uses undeclared {unknown}")
            used += [n for n in names if n in params and n not in used]
        for lang, body in bodies.items():
            missing = sorted(set(used) - set(_placeholders(body)))
            if missing:
                raise TemplateError(f"{path.name}: {template_id}.{lang} lacks {missing}")
        templates[template_id] = SmsTemplate(
            id=template_id, essential=bool(entry["essential"]), bodies=bodies, params=tuple(used)
        )
    return _Catalogue(constants, params, status_words, templates)


@lru_cache(maxsize=1)
def _catalogue() -> _Catalogue:
    return _load(TEMPLATES_FILE)


def templates() -> Mapping[str, SmsTemplate]:
    """Every template by id."""
    return _catalogue().templates


def get_template(template_id: str) -> SmsTemplate:
    """The template called `template_id`, or `TemplateError`."""
    try:
        return _catalogue().templates[template_id]
    except KeyError:
        raise TemplateError(f"no SMS template {template_id!r}") from None


def is_essential(template_id: str) -> bool:
    """True when the message is still sent after the citizen sent STOP."""
    return get_template(template_id).essential


def param_specs() -> Mapping[str, ParamSpec]:
    """The declared limits of every parameter, by name."""
    return _catalogue().params


def status_words(language: str) -> dict[str, str]:
    """Status code -> the glossary's word for it in `language` (e.g. `approved` -> `Imeidhinishwa`)."""
    return {code: words[language] for code, words in _catalogue().status_words.items()}


def worst_case_params(template_id: str, language: str) -> dict[str, str]:
    """The longest values the declared limits allow for the template's parameters."""
    catalogue = _catalogue()
    values: dict[str, str] = {}
    for name in get_template(template_id).params:
        spec = catalogue.params[name]
        if spec.kind == "status":
            words = status_words(language)
            values[name] = max(words, key=lambda code: count_segments(words[code]).units)
        else:
            values[name] = "M" * spec.max_length
    return values


def _septets_prefix(text: str, limit: int) -> str:
    used = 0
    for index, ch in enumerate(text):
        used += count_segments(ch).units
        if used > limit:
            return text[:index]
    return text


def _as_text(value: object) -> str:
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, bool):
        raise TemplateError(f"a yes/no value {value!r} is not a template parameter")
    if isinstance(value, int | Decimal | float):
        # Whole shillings without decimals, otherwise two: "1,050" or "1,050.50".
        number = Decimal(str(value))
        return f"{number:,.0f}" if number == number.to_integral_value() else f"{number:,.2f}"
    return str(value)


def _param_value(template_id: str, spec: ParamSpec, value: object, language: str) -> str:
    if spec.kind == "status":
        words = _catalogue().status_words.get(str(value))
        if words is None:
            known = ", ".join(_catalogue().status_words)
            raise TemplateError(f"{template_id}: unknown status {value!r} (known: {known})")
        return words[language]
    text = to_gsm7(_as_text(value).strip())
    if count_segments(text).units <= spec.max_length:
        return text
    if spec.fit == "truncate":
        return _septets_prefix(text, spec.max_length).rstrip()
    raise TemplateError(f"{template_id}: parameter {spec.name!r} is longer than {spec.max_length} characters")


def render(template_id: str, language: str, params: Mapping[str, object]) -> RenderedSms:
    """The body of `template_id` in `language` with `params` filled in, and its segment count.

    Parameters the template does not use are ignored. Text values are made GSM-7 safe (see
    `sms.segments.to_gsm7`); names and service names longer than their limit are cut; a reference,
    amount or date longer than its limit, a missing parameter, an unknown status code, template or
    language raise `TemplateError`. Dates may be `datetime.date`, amounts numbers.
    """
    template = get_template(template_id)
    if language not in template.bodies:
        raise TemplateError(f"{template_id}: no text in language {language!r} (have {LANGUAGES})")
    catalogue = _catalogue()
    missing = [name for name in template.params if name not in params or params[name] is None]
    if missing:
        raise TemplateError(f"{template_id}: missing parameter(s) {', '.join(missing)}")
    values = dict(catalogue.constants)
    for name in template.params:
        values[name] = _param_value(template_id, catalogue.params[name], params[name], language)
    body = template.bodies[language].format_map(values)
    encoding, segments, _ = count_segments(body)
    return RenderedSms(body=body, encoding=encoding, segments=segments)


__all__ = [
    "LANGUAGES",
    "MAX_SEGMENTS",
    "ParamSpec",
    "RenderedSms",
    "SmsTemplate",
    "TemplateError",
    "get_template",
    "is_essential",
    "param_specs",
    "render",
    "status_words",
    "templates",
    "worst_case_params",
]
