"""Checks a citizen's answers against a service's fields."""

from __future__ import annotations

from datetime import date, datetime

from stand_ins.core_service.catalogue import FieldSpec, ServiceSpec
from stand_ins.core_service.db import utcnow
from stand_ins.core_service.errors import ApiError


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


def _check(spec: FieldSpec, value: str) -> str:
    value = value.strip()
    if spec.type in ("text", "digits"):
        if spec.type == "digits" and not value.isdigit():
            raise _invalid(spec, "digits only")
        if spec.min_length is not None and len(value) < spec.min_length:
            raise _invalid(spec, f"at least {spec.min_length} characters")
        if spec.max_length is not None and len(value) > spec.max_length:
            raise _invalid(spec, f"at most {spec.max_length} characters")
        return value
    if spec.type == "date":
        parsed = _parse_date(value)
        if parsed is None:
            raise _invalid(spec, "a date as DD/MM/YYYY")
        if parsed > utcnow().date() or parsed.year < 1900:
            raise _invalid(spec, "a date between 1900 and today")
        return parsed.isoformat()
    values = [c.value for c in spec.choices]
    if value not in values:
        raise _invalid(spec, f"one of {', '.join(values)}")
    return value


def validate_answers(service: ServiceSpec, answers: dict[str, str]) -> dict[str, str]:
    """The answers, cleaned (dates as ISO), or 422 `invalid_field` naming the first bad field.

    Every field of the service is required; an unknown answer name is refused too, so a typo in
    a menu tree fails loudly instead of being dropped.
    """
    names = {spec.name for spec in service.fields}
    unknown = sorted(set(answers) - names)
    if unknown:
        raise ApiError(422, "invalid_field", f"{unknown[0]}: not a field of {service.code}", field=unknown[0])
    clean: dict[str, str] = {}
    for spec in service.fields:
        if spec.name not in answers:
            raise _invalid(spec, "required")
        clean[spec.name] = _check(spec, answers[spec.name])
    return clean
