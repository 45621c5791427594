"""Checks a citizen's answers against a service's fields, and fills the fields the core knows."""

from __future__ import annotations

import re
from datetime import date, datetime

from stand_ins.core_service.catalogue import FieldSpec, ServiceSpec
from stand_ins.core_service.db import utcnow
from stand_ins.core_service.errors import ApiError
from stand_ins.core_service.models import Citizen
from stand_ins.core_service.privacy import mask_national_id

# Letters of any alphabet in groups joined by one space, hyphen or apostrophe ("Ng'ang'a").
_NAME = re.compile(r"[^\W\d_]+(?:[ '-][^\W\d_]+)*")


def _invalid(spec: FieldSpec, message: str) -> ApiError:
    return ApiError(422, "invalid_field", f"{spec.name}: {message}", field=spec.name)


def _parse_date(value: str) -> date | None:
    # the citizen types DD/MM/YYYY on the phone; ISO is accepted too
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    return None


def _length(spec: FieldSpec, value: str) -> None:
    if spec.min_length is not None and len(value) < spec.min_length:
        raise _invalid(spec, f"at least {spec.min_length} characters")
    if spec.max_length is not None and len(value) > spec.max_length:
        raise _invalid(spec, f"at most {spec.max_length} characters")


def _check(spec: FieldSpec, value: str) -> str:
    value = value.strip()
    if spec.type == "name":
        value = " ".join(value.replace("\u2019", "'").split())
        if not _NAME.fullmatch(value):
            raise _invalid(spec, "letters only, with spaces, hyphens or apostrophes")
        _length(spec, value)
        return value
    if spec.type == "national_id":
        if not (value.isascii() and value.isdigit() and 7 <= len(value) <= 8):
            raise _invalid(spec, "7 or 8 digits")
        return value
    if spec.type in ("text", "digits"):
        if spec.type == "digits" and not (value.isascii() and value.isdigit()):
            raise _invalid(spec, "digits only")
        _length(spec, value)
        if spec.pattern and not re.fullmatch(spec.pattern, value):
            raise _invalid(spec, f"like {spec.example or spec.pattern}")
        return value
    if spec.type == "date":
        parsed = _parse_date(value)
        if parsed is None:
            raise _invalid(spec, "a date as DD/MM/YYYY")
        earliest = spec.min_year or 1900
        if parsed > utcnow().date() or parsed.year < earliest:
            raise _invalid(spec, f"a date between {earliest} and today")
        return parsed.isoformat()
    values = [c.value for c in spec.choices]
    if value not in values:
        raise _invalid(spec, f"one of {', '.join(values)}")
    return value


def validate_answers(service: ServiceSpec, answers: dict[str, str]) -> dict[str, str]:
    """The answers, cleaned (dates as ISO), or 422 `invalid_field` naming the first bad field.

    Every field the citizen is asked is required; an unknown answer name is refused too, so a typo
    in a menu tree fails loudly instead of being dropped. A field with `prefill` is not required
    and what is sent for it is ignored: `prefilled` fills it from the applicant's record.
    """
    names = {spec.name for spec in service.fields}
    unknown = sorted(set(answers) - names)
    if unknown:
        raise ApiError(422, "invalid_field", f"{unknown[0]}: not a field of {service.code}", field=unknown[0])
    clean: dict[str, str] = {}
    for spec in service.fields:
        if spec.prefill:
            continue
        if spec.name not in answers:
            raise _invalid(spec, "required")
        clean[spec.name] = _check(spec, answers[spec.name])
    return clean


def prefilled(service: ServiceSpec, citizen: Citizen) -> dict[str, str]:
    """The service's `prefill` fields from the applicant's record. The national ID is kept masked:
    the core holds only its keyed hash, and the application belongs to the citizen anyway."""
    known = {
        "full_name": f"{citizen.first_name} {citizen.last_name}",
        "date_of_birth": citizen.date_of_birth.isoformat(),
        "national_id": mask_national_id(citizen.national_id_last3),
    }
    return {spec.name: known[spec.prefill] for spec in service.fields if spec.prefill}
