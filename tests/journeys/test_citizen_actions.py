"""The citizen actions without HTTP: field prompts fit a screen, answers are checked like the core
service checks them, keys are stable, errors map to codes, and nothing raises."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from backend_client.errors import AccountLocked, BackendUnavailable, Conflict, WrongPin
from backend_client.models import Service
from citizen import registry as actions
from citizen.actions import check_field, field_prompt, idempotency_key
from citizen.registry import HopContext, known_actions, runner_for
from menus.render import PREFIX_LEN
from menus.strings import BUILTIN_STRINGS
from stand_ins.core_service.catalogue import SERVICES

CATALOGUE = [Service.model_validate(s.to_json()) for s in SERVICES]
CONTEXT = HopContext("+254712345678", "ATUid_unit", deadline=time.monotonic() + 5)


def test_every_action_the_tree_names_is_registered_without_an_app():
    names = """check_registered register list_departments list_services start_form next_field save_field
    quote submit_application list_my_applications list_unpaid get_application start_payment
    submit_feedback"""
    assert set(names.split()) <= known_actions()


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_every_field_prompt_fits_one_screen_with_an_error_line(lang):
    nav = BUILTIN_STRINGS["nav"][lang]
    longest_error = "Tumia DD/MM/YYYY, si tarehe ijayo."
    for service in CATALOGUE:
        for position, spec in enumerate(service.fields, 1):
            screen = "\n".join([longest_error, field_prompt(spec, lang, position, len(service.fields)), nav])
            assert len(screen) + PREFIX_LEN <= 160, (service.code, spec.name, len(screen))


def test_field_answers_are_checked_like_the_core_service_checks_them():
    good_conduct = next(s for s in CATALOGUE if s.code == "good_conduct")
    purpose, county = good_conduct.fields
    assert check_field(purpose, "2", "en") == ("travel", "")
    assert check_field(purpose, "9", "sw")[1] == "Chagua nambari kwenye orodha."
    assert check_field(county, "Nairobi", "en") == ("Nairobi", "")
    assert check_field(county, "Nb", "en")[1] == "Use 3 to 20 characters."
    marriage = next(s for s in CATALOGUE if s.code == "marriage_cert_copy")
    number, _, when = marriage.fields
    assert check_field(number, "12a4", "en")[1] == "Use digits only."
    today = datetime(2025, 3, 1)
    assert check_field(when, "14/02/2010", "en", today) == ("14/02/2010", "")
    assert check_field(when, "14/02/2030", "en", today)[1].startswith("Use DD/MM/YYYY")


def test_idempotency_key_is_stable_per_session_and_request():
    first = idempotency_key(CONTEXT, "apply", "good_conduct", "{}")
    assert first == idempotency_key(CONTEXT, "apply", "good_conduct", "{}")
    assert first != idempotency_key(CONTEXT, "apply", "birth_cert_copy", "{}")
    other = HopContext(CONTEXT.phone, "ATUid_other", CONTEXT.deadline)
    assert first != idempotency_key(other, "apply", "good_conduct", "{}")
    assert first.startswith("ussd-") and len(first) <= 100


class FailingClient:
    """A CoreClient stand-in whose every call raises `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, _name):
        def call(*_args, **_kwargs):
            raise self.error

        return call


@pytest.mark.parametrize(
    ("error", "code", "extra"),
    [
        (BackendUnavailable("down", code="connection_error"), "unavailable", {}),
        (WrongPin("no", code="wrong_pin", status=401, details={"attempts_left": 1}), "wrong_pin",
         {"attempts_left": 1}),
        (AccountLocked("no", code="account_locked", status=423), "locked", {}),
        (Conflict("taken", code="already_registered", status=409, details={"field": "national_id"}),
         "id_registered", {}),
        (RuntimeError("bug"), "internal", {}),
    ],
)  # fmt: skip
def test_register_maps_errors_to_codes_and_forgets_the_secrets(monkeypatch, error, code, extra):
    monkeypatch.setattr(actions.SERVICES, "client", FailingClient(error))
    answers = {"national_id": "23456789", "first_name": "A", "last_name": "B", "date_of_birth": "01/05/1990",
               "pin": "4826", "pin_confirm": "4826"}  # fmt: skip
    result = runner_for(CONTEXT)("register", answers, "en")
    assert (result.ok, result.error) == (False, code)
    assert result.data["pin"] == result.data["pin_confirm"] == result.data["national_id"] == ""
    for key, value in extra.items():
        assert result.data[key] == value


def test_a_write_that_cannot_be_queued_apologises(monkeypatch):
    monkeypatch.setattr(actions.SERVICES, "client", FailingClient(BackendUnavailable("down")))
    monkeypatch.setattr(actions.SERVICES, "queue", None)
    result = runner_for(CONTEXT)("submit_application", {"service": "good_conduct", "apply_pin": "4826"}, "en")
    assert (result.ok, result.error, result.data["apply_pin"]) == (False, "unavailable", "")
