"""Request bodies of the core service API, validated with pydantic (a failure becomes a 400
`invalid_request` naming the field)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator, model_validator

from stand_ins.core_service.db import utcnow

PHONE_PATTERN = re.compile(r"^\+[1-9]\d{7,14}$")
Phone = Annotated[StrictStr, Field(pattern=PHONE_PATTERN.pattern, description="E.164, e.g. +254712345678")]
Pin = Annotated[StrictStr, Field(pattern=r"^\d{4}$")]
PersonName = Annotated[
    StrictStr, Field(min_length=1, max_length=40, pattern=r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")
]

# a national ID is issued at 18 in Kenya; over 120 is a typing mistake
MIN_AGE, MAX_AGE = 18, 120


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class RegisterCitizen(_Body):
    national_id: Annotated[StrictStr, Field(pattern=r"^\d{7,8}$")]
    first_name: PersonName
    last_name: PersonName
    date_of_birth: date
    phone: Phone
    pin: Pin

    @field_validator("date_of_birth")
    @classmethod
    def _plausible_age(cls, value: date) -> date:
        today = utcnow().date()
        age = today.year - value.year - ((today.month, today.day) < (value.month, value.day))
        if not MIN_AGE <= age <= MAX_AGE:
            raise ValueError(f"age must be between {MIN_AGE} and {MAX_AGE}")
        return value


class VerifyPin(_Body):
    phone: Phone
    pin: Pin


class CreateApplication(_Body):
    phone: Phone
    pin: Pin
    service_code: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    answers: dict[StrictStr, StrictStr] = Field(default_factory=dict)


class StartPayment(_Body):
    # the caller's phone: only the applicant may start a payment, and the prompt goes to them
    phone: Phone


class SubmitFeedback(_Body):
    phone: Phone
    rating: Annotated[StrictInt, Field(ge=1, le=5)]
    comment: Annotated[StrictStr, Field(max_length=140)] | None = None
    application_reference: StrictStr | None = None
    service_code: StrictStr | None = None

    @model_validator(mode="after")
    def _one_subject(self) -> SubmitFeedback:
        if (self.application_reference is None) == (self.service_code is None):
            raise ValueError("give exactly one of application_reference or service_code")
        return self


class ChangeStatus(_Body):
    status: StrictStr
    note: Annotated[StrictStr, Field(max_length=280)] | None = None
