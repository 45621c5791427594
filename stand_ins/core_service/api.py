"""The citizen-facing API the gateway calls through backend_client/ (contract: openapi.yaml)."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from stand_ins.core_service import guessing, payments, webhooks
from stand_ins.core_service.catalogue import DEPARTMENTS, SERVICES, ServiceSpec, find_service
from stand_ins.core_service.db import utcnow
from stand_ins.core_service.errors import ApiError
from stand_ins.core_service.fields import prefilled, validate_answers
from stand_ins.core_service.idempotency import idempotent_write
from stand_ins.core_service.models import Application, Citizen, Feedback, Payment, StatusChange
from stand_ins.core_service.pins import check_pin
from stand_ins.core_service.privacy import mask_national_id, mask_phone
from stand_ins.core_service.references import new_reference, normalise_reference
from stand_ins.core_service.requests_schema import (
    PHONE_PATTERN,
    CreateApplication,
    RegisterCitizen,
    StartPayment,
    SubmitFeedback,
    VerifyPin,
)
from stand_ins.core_service.serialize import (
    application_json,
    application_summary_json,
    citizen_json,
    feedback_json,
    payment_json,
)
from stand_ins.core_service.workflow import SUBMITTED

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__)


def json_body() -> dict[str, Any]:
    """The request's JSON object, or 400 `invalid_json`."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "Send a JSON object with Content-Type: application/json.")
    return body


def _phone_arg() -> str:
    phone = (request.args.get("phone") or "").strip()
    if not PHONE_PATTERN.match(phone):
        raise ApiError(400, "invalid_request", "phone: an E.164 number such as +254712345678", field="phone")
    return phone


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(400, "invalid_request", f"{name}: a whole number from {low} to {high}", field=name)
    return int(raw)


def _citizen_by_phone(phone: str) -> Citizen:
    citizen = g.db.scalar(select(Citizen).where(Citizen.phone == phone))
    if citizen is None:
        raise ApiError(404, "citizen_not_found", "No citizen is registered with this phone number.")
    return citizen


def find_application(reference: str) -> Application:
    """The application with this reference (typed loosely), or 404 `application_not_found`."""
    canonical = normalise_reference(reference)
    application = (
        g.db.scalar(select(Application).where(Application.reference == canonical)) if canonical else None
    )
    if application is None:
        raise ApiError(404, "application_not_found", "No application has this reference.")
    return application


def own_application(reference: str, phone: str) -> Application:
    """The application if it belongs to the citizen of `phone`; anyone else gets exactly the 404 of
    an unknown reference, so a reference reveals nothing to a stranger."""
    application = find_application(reference)
    if application.citizen.phone != phone:
        raise ApiError(404, "application_not_found", "No application has this reference.")
    return application


def _service(code: str) -> ServiceSpec:
    service = find_service(code)
    if service is None:
        raise ApiError(404, "service_not_found", "No service has this code.")
    return service


def _payment_settings() -> payments.PaymentSettings:
    return current_app.extensions["core"].payment_settings


@bp.get("/health")
def health():
    g.db.execute(text("SELECT 1"))
    return jsonify({"status": "ok"})


# ---- citizens -----------------------------------------------------------------------------------


IDENTITY_MISMATCH = ("identity_mismatch", "The details do not match the national register.")
ID_TAKEN = (
    "already_registered",
    "This national ID is already registered. The citizen should visit a Huduma Centre with their ID.",
)


def _phone_taken() -> ApiError:
    return ApiError(
        409, "already_registered", "A citizen with this phone is already registered.", field="phone"
    )


def _id_taken() -> ApiError:
    # says nothing of the phone it is registered on: that is the other citizen's business
    return ApiError(409, *ID_TAKEN, field="national_id")


@bp.post("/citizens")
@idempotent_write()
def register_citizen():
    form = RegisterCitizen.model_validate(json_body())
    core = current_app.extensions["core"]
    db = g.db
    if db.scalar(select(Citizen.id).where(Citizen.phone == form.phone)) is not None:
        raise _phone_taken()
    digest = core.national_ids.digest(form.national_id)
    attempt = guessing.start_attempt(db, core.guess_limits, form.phone, digest)
    # the register first: only someone who knows the person's details learns the ID is taken
    person = core.register.match(form.national_id, form.first_name, form.last_name, form.date_of_birth)
    if person is None:
        raise ApiError(422, *IDENTITY_MISMATCH)
    guessing.forget(db, attempt)
    if db.scalar(select(Citizen.id).where(Citizen.national_id_hash == digest)) is not None:
        raise _id_taken()
    citizen = Citizen(
        national_id_hash=digest,
        national_id_last3=core.national_ids.last3(form.national_id),
        first_name=person.first_name,
        last_name=person.last_name,
        date_of_birth=person.date_of_birth,
        phone=form.phone,
        pin_hash=core.hasher.hash(form.pin),
        failed_pin_attempts=0,
        created_at=utcnow(),
    )
    db.add(citizen)
    try:
        db.flush()
    except IntegrityError:
        # the same phone or ID registered by a concurrent request a moment ago
        db.rollback()
        if db.scalar(select(Citizen.id).where(Citizen.phone == form.phone)) is not None:
            raise _phone_taken() from None
        raise _id_taken() from None
    log.info(
        "citizen registered id=%s phone=%s national_id=%s",
        citizen.id,
        mask_phone(form.phone),
        mask_national_id(form.national_id),
    )
    return citizen_json(citizen), 201


@bp.get("/citizens")
def find_citizen():
    return jsonify(citizen_json(_citizen_by_phone(_phone_arg())))


@bp.post("/citizens/verify-pin")
def verify_pin():
    form = VerifyPin.model_validate(json_body())
    citizen = _citizen_by_phone(form.phone)
    check_pin(
        g.db, current_app.extensions["core"].hasher, citizen, form.pin, current_app.config["PIN_LOCK_SECONDS"]
    )
    g.db.commit()
    return jsonify({"valid": True, "citizen": citizen_json(citizen)})


# ---- catalogue ----------------------------------------------------------------------------------


@bp.get("/departments")
def list_departments():
    counts = {d.code: sum(1 for s in SERVICES if s.department.code == d.code) for d in DEPARTMENTS}
    return jsonify({"departments": [d.to_json() | {"service_count": counts[d.code]} for d in DEPARTMENTS]})


@bp.get("/services")
def list_services():
    department = request.args.get("department")
    services = [s for s in SERVICES if department is None or s.department.code == department.upper()]
    return jsonify({"services": [s.to_json() for s in services]})


@bp.get("/services/<code>")
def get_service(code: str):
    return jsonify(_service(code).to_json())


# ---- applications -------------------------------------------------------------------------------


@bp.post("/applications")
@idempotent_write(required=True)
def create_application():
    form = CreateApplication.model_validate(json_body())
    service = _service(form.service_code)
    answers = validate_answers(service, form.answers)  # before the PIN: a bad form costs no attempt
    citizen = _citizen_by_phone(form.phone)
    db = g.db
    check_pin(
        db, current_app.extensions["core"].hasher, citizen, form.pin, current_app.config["PIN_LOCK_SECONDS"]
    )
    answers |= prefilled(service, citizen)
    reference = new_reference()
    while db.scalar(select(Application.id).where(Application.reference == reference)) is not None:
        reference = new_reference()
    now = utcnow()
    fee = service.fee_for(answers)
    application = Application(
        reference=reference,
        citizen=citizen,
        service_code=service.code,
        answers_json=json.dumps(answers),
        fee_kes=fee,
        status=SUBMITTED,
        payment_status="unpaid" if fee else "not_required",
        created_at=now,
        updated_at=now,
    )
    db.add(application)
    db.add(
        StatusChange(
            application=application,
            old_status=None,
            new_status=SUBMITTED,
            note=None,
            changed_by="citizen",
            changed_at=now,
        )
    )
    webhooks.enqueue(db, webhooks.APPLICATION_SUBMITTED, application, new_status=SUBMITTED)
    db.flush()
    log.info(
        "application created ref=%s service=%s phone=%s", reference, service.code, mask_phone(citizen.phone)
    )
    return application_json(application, None), 201


@bp.get("/applications")
def list_applications():
    citizen = _citizen_by_phone(_phone_arg())
    limit = _int_arg("limit", 20, 1, 100)
    offset = _int_arg("offset", 0, 0, 100_000)
    db = g.db
    total = db.scalar(select(func.count(Application.id)).where(Application.citizen_id == citizen.id))
    rows = db.scalars(
        select(Application)
        .where(Application.citizen_id == citizen.id)
        # id breaks ties between applications created in the same instant
        .order_by(Application.created_at.desc(), Application.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return jsonify(
        {
            "applications": [application_summary_json(a) for a in rows],
            "total": total,
            "limit": limit,
            "offset": offset,
        }
    )


def latest_payment(application: Application) -> Payment | None:
    return g.db.scalar(
        select(Payment)
        .where(Payment.application_id == application.id)
        .order_by(Payment.created_at.desc())
        .limit(1)
    )


@bp.get("/applications/<reference>")
def get_application(reference: str):
    application = own_application(reference, _phone_arg())
    payments.settle_due(g.db, _payment_settings(), application_id=application.id)
    return jsonify(application_json(application, latest_payment(application)))


# ---- payments -----------------------------------------------------------------------------------


def _payer_owns(reference: str) -> None:
    own_application(reference, StartPayment.model_validate(json_body()).phone)


@bp.post("/applications/<reference>/payments")
@idempotent_write(authorize=_payer_owns)
def start_payment(reference: str):
    form = StartPayment.model_validate(json_body())
    application = own_application(reference, form.phone)
    payments.settle_due(g.db, _payment_settings(), application_id=application.id)
    payment, created = payments.start_payment(g.db, application, form.phone, _payment_settings())
    g.db.flush()
    return payment_json(payment), 201 if created else 200


@bp.get("/payments/<payment_id>")
def get_payment(payment_id: str):
    payment = g.db.get(Payment, payment_id)
    if payment is None:
        raise ApiError(404, "payment_not_found", "No payment has this id.")
    payments.settle_due(g.db, _payment_settings(), application_id=payment.application_id)
    g.db.refresh(payment)
    return jsonify(payment_json(payment))


# ---- feedback -----------------------------------------------------------------------------------


@bp.post("/feedback")
@idempotent_write()
def submit_feedback():
    form = SubmitFeedback.model_validate(json_body())
    reference = None
    if form.application_reference is not None:
        # only the applicant rates an application; a stranger learns nothing about it
        application = own_application(form.application_reference, form.phone)
        reference, service_code = application.reference, application.service_code
    else:
        service_code = _service(form.service_code or "").code
    feedback = Feedback(
        phone=form.phone,
        rating=form.rating,
        comment=form.comment or None,
        application_reference=reference,
        service_code=service_code,
        created_at=utcnow(),
    )
    g.db.add(feedback)
    g.db.flush()
    return feedback_json(feedback), 201
