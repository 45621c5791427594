"""JSON shapes of the API (see backend_client/openapi.yaml; keep both in step)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from stand_ins.core_service.catalogue import find_service
from stand_ins.core_service.models import Application, Citizen, Feedback, Payment
from stand_ins.core_service.privacy import mask_national_id


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def citizen_json(citizen: Citizen) -> dict[str, Any]:
    return {
        "id": citizen.id,
        "phone": citizen.phone,
        "first_name": citizen.first_name,
        "last_name": citizen.last_name,
        "national_id_masked": mask_national_id(citizen.national_id_last3),
        "date_of_birth": citizen.date_of_birth.isoformat(),
        "created_at": _time(citizen.created_at),
    }


def application_summary_json(application: Application) -> dict[str, Any]:
    service = find_service(application.service_code)
    return {
        "reference": application.reference,
        "service_code": application.service_code,
        "service_name": {"en": service.name_en, "sw": service.name_sw} if service else None,
        "status": application.status,
        "fee_kes": application.fee_kes,
        "payment_status": application.payment_status,
        "created_at": _time(application.created_at),
        "updated_at": _time(application.updated_at),
    }


def application_json(application: Application, latest_payment: Payment | None) -> dict[str, Any]:
    return application_summary_json(application) | {
        "answers": json.loads(application.answers_json),
        "history": [
            {
                "old_status": change.old_status,
                "status": change.new_status,
                "note": change.note,
                "changed_at": _time(change.changed_at),
            }
            for change in application.history
        ],
        "latest_payment": payment_json(latest_payment) if latest_payment else None,
    }


def payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "id": payment.id,
        "reference": payment.application.reference,
        "phone": payment.phone,
        "amount_kes": payment.amount_kes,
        "status": payment.status,
        "method": payment.method or "mpesa_stk",
        "checkout_request_id": payment.checkout_request_id,
        "mpesa_receipt": payment.mpesa_receipt,
        "failure_reason": payment.failure_reason,
        "created_at": _time(payment.created_at),
        "settled_at": _time(payment.settled_at),
    }


def feedback_json(feedback: Feedback) -> dict[str, Any]:
    return {
        "id": feedback.id,
        "rating": feedback.rating,
        "comment": feedback.comment,
        "application_reference": feedback.application_reference,
        "service_code": feedback.service_code,
        "created_at": _time(feedback.created_at),
    }
