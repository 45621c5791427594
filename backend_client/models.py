"""What backend calls return: immutable pydantic models mirroring openapi.yaml. Unknown fields
are ignored so the core service can add some without breaking the gateway."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

ApplicationStatus = Literal[
    "submitted", "under_review", "approved", "rejected", "ready_for_collection", "collected"
]
PaymentStatus = Literal["pending", "paid", "failed"]
ApplicationPaymentStatus = Literal["unpaid", "pending", "paid", "not_required"]
FieldType = Literal["text", "name", "digits", "date", "choice", "national_id"]
Prefill = Literal["full_name", "date_of_birth", "national_id"]


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class LocalText(Model):
    """The same words in English and Kiswahili."""

    en: str
    sw: str

    def get(self, language: str) -> str:
        """The text in `language` ('en' or 'sw'); English for anything else."""
        return self.sw if language == "sw" else self.en


class Citizen(Model):
    id: int
    phone: str
    first_name: str
    last_name: str
    national_id_masked: str
    date_of_birth: date
    created_at: datetime


class Person(Model):
    """Someone in the population register (development: `CoreClient.dev_people`)."""

    national_id: str
    first_name: str
    last_name: str
    date_of_birth: date


class Department(Model):
    code: str
    name: LocalText
    # for a list line on a 160-character screen ("Police (DCI)"); the name when the core has none
    short_name: LocalText | None = None

    @property
    def label(self) -> LocalText:
        return self.short_name or self.name


class Choice(Model):
    value: str
    label: LocalText
    fee_kes: int | None = None


class ServiceField(Model):
    name: str
    type: FieldType
    prompt: LocalText
    min_length: int | None = None
    max_length: int | None = None
    choices: tuple[Choice, ...] = ()
    # a `text` answer's format (a regular expression), with an example to show the citizen
    pattern: str | None = None
    example: str | None = None
    min_year: int | None = None
    # the applicant's own detail: the core fills it from their record, nobody asks for it
    prefill: Prefill | None = None


class Service(Model):
    code: str
    name: LocalText
    department: Department
    fee_kes: int
    fields: tuple[ServiceField, ...] = ()
    short_name: LocalText | None = None
    # three digits dialled after Apply: *384*123*2*101#
    short_code: str = ""

    @property
    def label(self) -> LocalText:
        return self.short_name or self.name

    @property
    def asked(self) -> tuple[ServiceField, ...]:
        """The fields a citizen is asked, in order (not the prefilled ones)."""
        return tuple(f for f in self.fields if f.prefill is None)

    def fee_for(self, answers: dict[str, str]) -> int:
        """The fee an application with these answers will be charged (a choice may set it)."""
        for spec in self.fields:
            for choice in spec.choices:
                if choice.fee_kes is not None and answers.get(spec.name) == choice.value:
                    return choice.fee_kes
        return self.fee_kes


class StatusChange(Model):
    old_status: ApplicationStatus | None
    status: ApplicationStatus
    note: str | None = None
    changed_at: datetime


class Payment(Model):
    id: str
    reference: str
    phone: str
    amount_kes: int
    status: PaymentStatus
    method: Literal["mpesa_stk", "paybill"] = "mpesa_stk"
    checkout_request_id: str
    mpesa_receipt: str | None = None
    failure_reason: str | None = None
    created_at: datetime
    settled_at: datetime | None = None


class ApplicationSummary(Model):
    reference: str
    service_code: str
    service_name: LocalText | None = None
    status: ApplicationStatus
    fee_kes: int
    payment_status: ApplicationPaymentStatus
    created_at: datetime
    updated_at: datetime


class Application(ApplicationSummary):
    answers: dict[str, str] = {}
    history: tuple[StatusChange, ...] = ()
    latest_payment: Payment | None = None


class ApplicationPage(Model):
    """One page of a citizen's applications, newest first."""

    applications: tuple[ApplicationSummary, ...]
    total: int
    limit: int
    offset: int


class Feedback(Model):
    id: int
    rating: int
    comment: str | None = None
    application_reference: str | None = None
    service_code: str
    created_at: datetime
