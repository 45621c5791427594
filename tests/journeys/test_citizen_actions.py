"""The citizen actions without HTTP, Redis or SQL: field prompts fit a screen, answers are checked
like the core service checks them, keys are stable, errors map to codes, nothing raises, and what
should happen afterwards comes back as effects that the hop service hands on."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from backend_client.errors import (
    AccountLocked,
    BackendRejected,
    BackendUnavailable,
    Conflict,
    IdentityMismatch,
    WrongPin,
)
from backend_client.models import Service
from citizen.actions import ACTION_NAMES, Actions, HopContext, check_field, field_prompt, idempotency_key
from citizen.queued import QueuedWork, submit
from common.outcomes import HopOutcome
from gateway.sink import HopEvents, NoEvents
from gateway.ussd import HopService
from menus.effects import ForgetCaller, RecordEvent, SendSms, SetLanguage
from menus.engine import SessionState
from menus.registry import TreeRegistry
from menus.render import PREFIX_LEN
from menus.strings import BUILTIN_STRINGS
from sessions.store import SecretBox, SessionStore
from stand_ins.core_service.catalogue import SERVICES
from tests.hops import TEST_SEALING_KEY, at_hop

CATALOGUE = [Service.model_validate(s.to_json()) for s in SERVICES]
CONTEXT = HopContext("+254712345678", "ATUid_unit", deadline=time.monotonic() + 5)
PHONE = "+254712345678"
REGISTER = {
    "national_id": "23456789",
    "first_name": "Wanjiku",
    "last_name": "Kamau",
    "date_of_birth": "01/05/1990",
    "pin": "4826",
    "pin_confirm": "4826",
}


class FailingClient:
    """A CoreClient stand-in whose every call raises `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, _name):
        def call(*_args, **_kwargs):
            raise self.error

        return call


class RecordingClient:
    """A CoreClient stand-in that answers every write and remembers the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def register_citizen(self, **kwargs):
        self.calls.append(("register_citizen", kwargs))

    def submit_feedback(self, **kwargs):
        self.calls.append(("submit_feedback", kwargs))


class ListQueue:
    """An `ApplicationQueue` in a list; `refuse` makes it act like Redis is down."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.items: list[dict] = []

    def put(self, **application) -> bool:
        if self.refuse:
            return False
        self.items.append(application)
        return True


def test_the_action_names_are_static_and_match_the_methods():
    names = """identify_caller check_registered register list_departments list_services open_service_code
    list_service_codes start_form next_field save_field quote submit_application list_my_applications
    list_unpaid get_application start_payment submit_feedback"""
    assert frozenset(names.split()) == ACTION_NAMES
    assert isinstance(ACTION_NAMES, frozenset)
    assert "runner" not in ACTION_NAMES and "__init__" not in ACTION_NAMES


def test_an_unknown_name_is_a_failure_not_an_attribute_lookup():
    run = Actions(FailingClient(RuntimeError("unused"))).runner(CONTEXT)
    assert run("runner", {}, "en").error == "unknown action runner"
    assert run("__class__", {}, "en").ok is False


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_every_field_prompt_fits_one_screen_with_an_error_line(lang):
    nav = BUILTIN_STRINGS["nav"][lang]
    longest_error = "Tumia DD/MM/YYYY, si tarehe ijayo."
    for service in CATALOGUE:
        for position, spec in enumerate(service.fields, 1):
            screen = "\n".join([longest_error, field_prompt(spec, lang, position, len(service.fields)), nav])
            assert len(screen) + PREFIX_LEN <= 160, (service.code, spec.name, len(screen))


def service(code: str) -> Service:
    return next(s for s in CATALOGUE if s.code == code)


def test_field_answers_are_checked_like_the_core_service_checks_them():
    purpose, county = service("good_conduct").asked
    assert check_field(purpose, "2", "en") == ("travel", "")
    assert check_field(purpose, "9", "sw")[1] == "Chagua nambari kwenye orodha."
    assert check_field(county, "Nairobi", "en") == ("Nairobi", "")
    assert check_field(county, "Murang’a", "en") == ("Murang'a", "")
    assert check_field(county, "Nb", "en")[1] == "Use 3 to 20 characters."
    number, spouse, when = service("marriage_cert_copy").asked
    assert check_field(number, "12a4", "en")[1] == "Use digits only."
    today = datetime(2025, 3, 1)
    assert check_field(when, "14/02/2010", "en", today) == ("14/02/2010", "")
    assert check_field(when, "14/02/2030", "en", today)[1] == "Use DD/MM/YYYY, from 1920 to today."
    assert check_field(when, "14/02/1919", "sw", today)[1] == "Tumia DD/MM/YYYY, kuanzia 1920 hadi leo."
    assert check_field(spouse, "  Otieno   Ng'ang'a ", "en") == ("Otieno Ng'ang'a", "")


LETTERS = {"en": "Use letters only, no digits.", "sw": "Tumia herufi pekee, bila tarakimu."}
BAD_ANSWERS = [
    ("birth_cert_copy", 0, "2580", LETTERS),
    ("birth_cert_copy", 0, "Akinyi 2", LETTERS),
    (
        "birth_cert_copy",
        1,
        "31/02/2001",
        {"en": "Use DD/MM/YYYY, from 1900 to today.", "sw": "Tumia DD/MM/YYYY, kuanzia 1900 hadi leo."},
    ),
    ("dl_renewal", 0, "12-AB-XYZ", {"en": "Type it like DL1234567.", "sw": "Iandike kama DL1234567."}),
    (
        "business_name_registration",
        0,
        "XX-1234",
        {"en": "Type it like BN-7K3Q9P.", "sw": "Iandike kama BN-7K3Q9P."},
    ),
    ("passport", 1, "Nairobi 254", LETTERS),
]


@pytest.mark.parametrize(("code", "position", "typed", "error"), BAD_ANSWERS)
def test_each_field_says_what_it_expects_in_one_line_in_the_callers_language(code, position, typed, error):
    spec = service(code).asked[position]
    for lang in ("en", "sw"):
        assert check_field(spec, typed, lang, datetime(2025, 3, 1)) == ("", error[lang])
        assert "\n" not in error[lang]


def test_the_applicants_own_details_are_not_asked():
    assert [f.name for f in service("passport").asked] == ["pages", "place_of_birth", "collection_centre"]
    assert [f.name for f in service("good_conduct").asked] == ["purpose", "county"]
    # a birth certificate copy may be a child's: nothing is assumed
    assert [f.name for f in service("birth_cert_copy").asked] == ["full_name", "date_of_birth", "county"]


def test_idempotency_key_is_stable_per_session_and_request():
    first = idempotency_key(CONTEXT, "apply", "good_conduct", "{}")
    assert first == idempotency_key(CONTEXT, "apply", "good_conduct", "{}")
    assert first != idempotency_key(CONTEXT, "apply", "birth_cert_copy", "{}")
    other = HopContext(CONTEXT.phone, "ATUid_other", CONTEXT.deadline)
    assert first != idempotency_key(other, "apply", "good_conduct", "{}")
    assert first.startswith("ussd-") and len(first) <= 100


@pytest.mark.parametrize(
    ("error", "code", "extra"),
    [
        (BackendUnavailable("down", code="connection_error"), "unavailable", {}),
        (WrongPin("no", code="wrong_pin", status=401, details={"attempts_left": 1}), "wrong_pin",
         {"attempts_left": 1}),
        (AccountLocked("no", code="account_locked", status=423), "locked", {}),
        (Conflict("taken", code="already_registered", status=409, details={"field": "national_id"}),
         "id_registered", {}),
        (IdentityMismatch("no match", code="identity_mismatch", status=422), "identity_mismatch", {}),
        (BackendRejected("wait", code="too_many_attempts", status=429), "too_many_attempts", {}),
        (RuntimeError("bug"), "internal", {}),
    ],
)  # fmt: skip
def test_register_maps_errors_to_codes_and_forgets_the_secrets(error, code, extra):
    result = Actions(FailingClient(error)).runner(CONTEXT)("register", REGISTER, "en")
    assert (result.ok, result.error) == (False, code)
    assert result.data["pin"] == result.data["pin_confirm"] == result.data["national_id"] == ""
    assert result.effects == ()  # no welcome SMS for a registration that did not happen
    for key, value in extra.items():
        assert result.data[key] == value


def test_register_returns_its_welcome_sms_instead_of_sending_it():
    client = RecordingClient()
    result = Actions(client).runner(CONTEXT)("register", REGISTER, "sw")
    assert result.ok and result.data["pin"] == ""
    assert result.effects == (
        SendSms("registration_welcome", PHONE, {"name": "Wanjiku"}, "sw", f"registration_welcome:{PHONE}"),
        ForgetCaller(),  # the phone was remembered as a guest: the next dial asks the core again
    )
    [(name, sent)] = client.calls
    assert name == "register_citizen" and sent["pin"] == "4826"


def test_feedback_returns_its_audit_event():
    result = Actions(RecordingClient()).runner(CONTEXT)(
        "submit_feedback", {"feedback_service": "passport", "rating": "4", "feedback_comment": "ok"}, "en"
    )
    assert result.ok and result.effects == (
        RecordEvent("feedback", {"service_code": "passport", "rating": 4}),
    )


def test_an_application_the_core_cannot_take_is_queued_with_its_sms():
    queue = ListQueue()
    params = {"service": "good_conduct", "service_name": "Good conduct", "form": "{}", "apply_pin": "4826"}
    result = Actions(FailingClient(BackendUnavailable("down")), queue).runner(CONTEXT)(
        "submit_application", params, "en"
    )
    assert (result.ok, result.error, result.data["apply_pin"]) == (False, "queued", "")
    [queued] = queue.items
    assert queued["pin"] == "4826" and queued["idempotency_key"].startswith("ussd-")
    [sms] = result.effects
    assert sms.template == "application_queued" and sms.params == {"service": "Good conduct"}
    assert sms.dedupe_key == f"application_queued:{queued['idempotency_key']}"


@pytest.mark.parametrize("queue", [None, ListQueue(refuse=True)], ids=["no-queue", "queue-down"])
def test_a_write_that_cannot_be_queued_apologises_and_promises_nothing(queue):
    actions = Actions(FailingClient(BackendUnavailable("down")), queue)
    result = actions.runner(CONTEXT)(
        "submit_application", {"service": "good_conduct", "apply_pin": "4826"}, "en"
    )
    assert (result.ok, result.error, result.data["apply_pin"]) == (False, "unavailable", "")
    assert result.effects == ()


class ListOutbox:
    def __init__(self) -> None:
        self.sent: list[SendSms] = []

    def notify(self, sms: SendSms) -> bool:
        self.sent.append(sms)
        return True


def test_a_refused_queued_application_tells_the_citizen_through_the_jobs_outbox():
    box = SecretBox(TEST_SEALING_KEY)
    outbox = ListOutbox()
    refusal = WrongPin("no", code="wrong_pin", status=401, details={"attempts_left": 2})
    work = QueuedWork(FailingClient(refusal), box, outbox)
    assert submit(work, PHONE, "good_conduct", {}, "4826", "ussd-key", "sw") is None
    assert outbox.sent == [
        SendSms("application_not_submitted", PHONE, {"service": "good_conduct"}, "sw",
                "application_not_submitted:ussd-key"),
    ]  # fmt: skip
    with pytest.raises(BackendUnavailable):  # left to RQ's retries, no SMS
        submit(
            QueuedWork(FailingClient(BackendUnavailable("down")), box, outbox),
            PHONE,
            "x",
            {},
            "4826",
            "k",
            "en",
        )
    assert len(outbox.sent) == 1


def test_a_queued_job_outside_its_worker_fails_loudly_instead_of_building_an_app():
    from citizen.queued import submit_queued_application
    from common.jobs import NoJobContext

    with pytest.raises(NoJobContext):
        submit_queued_application("sealed", "k")


# ---- the hop service hands effects on ------------------------------------------------------------


class RecordingSink(NoEvents):
    def __init__(self) -> None:
        self.delivered: list[tuple[str, tuple]] = []

    def deliver(self, hop, effects) -> None:
        self.delivered.append((hop.session_id, tuple(effects)))


@pytest.fixture()
def hop_service(redis_client):
    """The hop service over the shipped tree, a real session store, fake actions and a recording sink."""
    from config import Settings

    trees = TreeRegistry.from_directory(Settings().trees_dir)
    store = SessionStore(redis_client, SecretBox(TEST_SEALING_KEY))
    client = RecordingClient()
    client.find_citizen = lambda *_a, **_k: None  # not registered: "Register" leads to the form
    sink = RecordingSink()
    return HopService(trees, store, Actions(client), sink), sink, client


def test_the_hop_service_delivers_an_actions_effects_once_after_the_step(hop_service):
    service, sink, client = hop_service
    texts = ["", "1", "1*23456789", "1*23456789*Wanjiku", "1*23456789*Wanjiku*Kamau"]
    texts += [texts[-1] + "*01/05/1990", texts[-1] + "*01/05/1990*4826", texts[-1] + "*01/05/1990*4826*4826"]
    replies = [service.handle(at_hop("S1", PHONE, "*384*123#", "63902", text)) for text in texts]
    assert "registered" in replies[-1].body
    [(session, effects)] = sink.delivered
    assert session == "S1" and effects == (
        SendSms("registration_welcome", PHONE, {"name": "Wanjiku"}, "en", f"registration_welcome:{PHONE}"),
    )
    # the aggregator retries the last hop: the same screen, no second call, no second effect
    again = service.handle(at_hop("S1", PHONE, "*384*123#", "63902", texts[-1]))
    assert again.outcome is HopOutcome.REPLAY and again.body == replies[-1].body
    assert len(sink.delivered) == 1 and len(client.calls) == 1


def test_choosing_a_language_is_no_effect_for_the_sink_but_is_remembered(hop_service):
    service, sink, _client = hop_service
    service.handle(at_hop("L1", PHONE, "*384*123#", "63902", ""))
    service.handle(at_hop("L1", PHONE, "*384*123#", "63902", "8"))
    reply = service.handle(at_hop("L1", PHONE, "*384*123#", "63902", "8*2"))
    assert reply.language == "sw" and reply.outcome is HopOutcome.OPTION
    assert sink.delivered == [("L1", (SetLanguage("sw"),))]
    assert service.store.language(PHONE) == "sw"


def test_the_gateway_sink_queues_sms_and_records_events():
    class Trail:
        def __init__(self) -> None:
            self.events: list = []

        def record(self, kind, **fields):
            self.events.append((kind, fields))

    outbox, trail = ListOutbox(), Trail()
    sms = SendSms("registration_welcome", PHONE, {"name": "A"}, "en", "k")
    HopEvents(outbox, trail, None).deliver(at_hop("S", PHONE, "*384*123#", "63902", ""), [
        SetLanguage("sw"), sms, RecordEvent("feedback", {"rating": 5})
    ])  # fmt: skip
    assert outbox.sent == [sms] and trail.events == [("feedback", {"rating": 5})]


def test_a_failing_sink_never_breaks_the_citizens_hop(hop_service):
    service, _sink, _client = hop_service

    class Exploding(NoEvents):
        def deliver(self, hop, effects):
            raise RuntimeError("outbox down")

    service.events = Exploding()
    service.handle(at_hop("E1", PHONE, "*384*123#", "63902", ""))
    service.handle(at_hop("E1", PHONE, "*384*123#", "63902", "8"))
    reply = service.handle(at_hop("E1", PHONE, "*384*123#", "63902", "8*2"))
    assert reply.outcome is HopOutcome.OPTION and reply.body.startswith("Karibu")


# ---- who is calling, prefill, paybill --------------------------------------------------------------


class CitizenClient:
    """A CoreClient stand-in that knows one citizen and the catalogue, and counts lookups."""

    def __init__(self, delay_s: float = 0.0) -> None:
        from backend_client.models import Citizen

        self.delay_s = delay_s
        self.lookups: list[float] = []
        self.citizen = Citizen(
            id=1,
            phone=PHONE,
            first_name="Wanjiku",
            last_name="Kamau",
            national_id_masked="*****789",
            date_of_birth="1990-05-01",
            created_at="2025-01-01T00:00:00+00:00",
        )

    def find_citizen(self, phone, *, budget):
        self.lookups.append(budget.remaining())
        if self.delay_s > budget.remaining():
            raise BackendUnavailable("timed out", code="timeout")
        return self.citizen if phone == PHONE else None

    def list_services(self, *, budget):
        return CATALOGUE


def test_the_caller_is_looked_up_with_a_short_budget_and_known_for_the_session():
    client = CitizenClient()
    run = Actions(client, caller_lookup_s=0.3).runner(CONTEXT)  # the hop itself has 5 s
    who = run("identify_caller", {}, "en")
    assert who.ok and who.data == {
        "audience": "registered",
        "registered": "yes",
        "first_name": "Wanjiku",
        "citizen_name": "Wanjiku Kamau",
        "citizen_dob": "01/05/1990",
        "citizen_id": "*****789",
    }
    assert client.lookups[0] <= 0.3
    assert run("check_registered", who.data, "en").ok  # known: no second lookup
    assert run("check_registered", {"registered": "no"}, "en").error == "not_registered"
    assert len(client.lookups) == 1
    stranger = Actions(client).runner(HopContext("+254799000000", "s", time.monotonic() + 5))
    assert stranger("identify_caller", {}, "en").data == {"audience": "guest", "registered": "no"}


def test_a_core_too_slow_for_the_lookup_leaves_the_caller_a_guest():
    run = Actions(CitizenClient(delay_s=1.0), caller_lookup_s=0.2).runner(CONTEXT)
    who = run("identify_caller", {}, "en")
    assert (who.ok, who.error) == (False, "unavailable")  # the engine ignores it: the guest menu shows


@pytest.mark.parametrize("lang", ["en", "sw"])
def test_every_services_summary_fits_one_screen_with_the_longest_answers(lang):
    from config import Settings
    from menus.engine import Engine
    from menus.loader import load_tree_file

    tree = load_tree_file(Settings().trees_dir / "ecitizen.yaml")
    engine = Engine(tree)
    profile = {
        "citizen_name": "Christabel Wanjiru-Kamau Nyambura",
        "citizen_dob": "01/05/1990",
        "citizen_id": "*****789",
    }
    run = Actions(CitizenClient()).runner(CONTEXT)
    for spec in CATALOGUE:
        longest = {
            f.name: f.choices[-1].value if f.choices else "W" * (f.max_length or 10) for f in spec.asked
        }
        params = profile | {"service": spec.code, "form": json.dumps(longest)}
        quote = run("quote", params, lang)
        assert quote.ok, quote
        state = SessionState("ecitizen", tree.version, "apply_summary", lang, answers=dict(quote.data))
        pages = engine._pages(state)
        assert len(pages) == 1 and len(pages[0]) + PREFIX_LEN <= 160, (spec.code, pages)
        if any(f.prefill == "national_id" for f in spec.fields):
            assert "ID *****789" in pages[0]


def test_the_summary_shows_the_details_the_core_fills_in_asking_for_them_once():
    client = CitizenClient()
    run = Actions(client).runner(CONTEXT)
    quote = run("quote", {"service": "passport", "form": '{"pages": "50"}'}, "en")
    assert quote.data["summary"] == "Wanjiku Kamau, ID *****789, 01/05/1990\n50 pages"
    assert quote.data["citizen_id"] == "*****789" and len(client.lookups) == 1  # kept for the session


def test_when_the_prompt_cannot_be_sent_the_paybill_comes_on_screen_and_by_sms():
    run = Actions(FailingClient(BackendUnavailable("down"))).runner(CONTEXT)
    due = {"reference": "ecz7k3q9p", "due_reference": "ECZ-7K3Q9P", "amount_due": "1,050"}
    result = run("start_payment", due, "sw")
    assert (result.error, result.data) == ("paybill", {"reference": "ECZ-7K3Q9P", "amount": "1,050"})
    assert result.effects == (
        SendSms("paybill_instructions", PHONE, {"amount": "1,050", "reference": "ECZ-7K3Q9P"}, "sw",
                "paybill_instructions:ECZ-7K3Q9P:ATUid_unit"),
    )  # fmt: skip
    # an amount known only for another application is never shown for this one
    other = run("start_payment", due | {"reference": "ECZ-4MNP8R"}, "en")
    assert (other.error, other.effects) == ("unavailable", ())
    assert run("start_payment", {"reference": "ECZ-7K3Q9P"}, "en").error == "unavailable"
