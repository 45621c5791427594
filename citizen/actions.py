"""The citizen-service actions the eCitizen tree names: register, apply, pay, track, feedback.

`Actions` binds them to one `CoreClient` (and, for applications confirmed while the core service
is down, an `ApplicationQueue`); `create_app` builds one per process and the hop service asks it
for a runner per hop. Each action calls the core service inside the hop's budget, never raises,
and returns what should happen afterwards as effects (`menus.effects`: an SMS to queue, an event
to record) instead of doing it. Action names are the methods marked `@action`; `ACTION_NAMES`
lists them without building anything, for the validator.

Who is calling is asked once per session (`identify_caller`, the tree's `on_start`, with a short
budget of its own so the first screen never waits long); the answer stays in the session's answers
(`audience`, `registered`, `first_name`, and the profile shown on a summary: `citizen_name`,
`citizen_dob`, `citizen_id`), so later menus and `check_registered` do not ask the core again.
Once the session is over, the hop service keeps what its answers say (`known_caller`: registered
or not, first name, nothing else) per phone for a few minutes; a dial within that time comes with
it (`HopContext.known_caller`) and its first screen does not wait on the core. A registration
through the gateway asks for what is kept to be forgotten (`ForgetCaller`).

Error codes an action returns, for the tree's `errors:` routing:

  unavailable          the core service is down, slow (over the hop budget) or answered nonsense
  not_registered       no citizen with this phone (check_registered, my applications)
  already_registered   register: this phone is already registered
  id_registered        register: this national ID is registered on another phone
  identity_mismatch    register: the details do not match the population register
  too_many_attempts    register: too many details that did not match, from this phone or for this ID;
                       track and pay by reference: too many lookups that found nothing
                       (common.lookup_limits), from this phone or of this reference
  invalid              the core service refused a field (data: field)
  wrong_pin            data: attempts_left
  locked               3 wrong PINs: the account is locked for a while
  not_found            no such application or service
  already_paid, no_fee_due   start_payment
  paybill              start_payment: the M-Pesa prompt could not be sent; the citizen gets the
                       paybill instructions on screen (data: reference, amount) and by SMS
  queued               submit_application: the core service was unreachable, the application
                       waits in the queue and the citizen gets an SMS
  complete             next_field: every field of the service is answered (go to the summary)
  invalid_field        save_field: the answer does not fit the field (data: field_error)
  internal             a bug; logged with its type, never shown as a stack trace

SMS the actions ask for (template ids in sms/templates.yaml):
  registration_welcome       {"name": first name}     after a citizen registers on USSD
  application_queued         {"service": name}        an application waits for the core service
  paybill_instructions       {"amount", "reference"}  the M-Pesa prompt could not be sent
The "application submitted, reference ECZ-…" SMS comes from the core service's
`application.submitted` webhook (gateway/events.py), deduplicated with `sms.outbox.submitted_key`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import wraps
from typing import Any, Protocol

from backend_client.budget import Budget
from backend_client.client import CoreClient
from backend_client.errors import (
    AccountLocked,
    BackendError,
    BackendRejected,
    BackendUnavailable,
    Conflict,
    IdentityMismatch,
    InvalidRequest,
    NotFound,
    WrongPin,
)
from backend_client.models import Citizen, Service, ServiceField
from citizen.texts import (
    FIELD_ERRORS,
    PAYMENT_WORDS,
    STATUS_WORDS,
    canonical_reference,
    money,
    word,
)
from common.logs import get_logger
from common.lookup_limits import LookupLimits
from menus.effects import ForgetCaller, KnownCaller, RecordEvent, SendSms
from menus.engine import ActionResult, ActionRunner
from menus.inputs import clean_name

log = get_logger("citizen.actions")

# The catalogue changes a few times a year; fetching it once per hop would double apply's calls.
CATALOGUE_TTL_S = 300.0
# Kenya keeps East Africa Time all year: dates on screens are local dates.
EAT = timezone(timedelta(hours=3))
MAX_LIST = 50
# The summary screen holds the service's short name, these lines, the fee and two options; the
# applicant's own details take up to PROFILE_LEN of it (a long name is cut, never the ID or date).
SUMMARY_LEN = 75
PROFILE_LEN = 48
GREETING_NAME_LEN = 20
# The caller lookup before the first screen: a slow core must not hold up the main menu.
CALLER_LOOKUP_S = 0.8


@dataclass(frozen=True)
class HopContext:
    """Who is asking, and how long the hop may still spend on the backend."""

    phone: str
    session_id: str
    deadline: float  # time.monotonic() value after which no backend call may start
    # Who is calling, as the core said a few minutes ago (the hop service's per-phone memory).
    known_caller: KnownCaller | None = None


class ApplicationQueue(Protocol):
    """Where an application confirmed while the core service is down waits (citizen.queued)."""

    def put(
        self,
        *,
        phone: str,
        service_code: str,
        answers: dict[str, str],
        pin: str,
        idempotency_key: str,
        lang: str,
    ) -> bool:
        """True once the application is safely queued; False (nothing promised) otherwise."""
        ...


# An action as written: (self, context, the session's answers, language) -> result.
ActionMethod = Callable[["Actions", HopContext, Mapping[str, Any], str], ActionResult]


def _budget(context: HopContext) -> Budget:
    return Budget.until(context.deadline)


def idempotency_key(context: HopContext, *parts: str) -> str:
    """The key of one write in one USSD session: a retried hop (same session, same request) sends
    the same key, so the core service answers with the first result instead of a second write."""
    digest = hashlib.sha256("|".join([context.phone, context.session_id, *parts]).encode()).hexdigest()
    return f"ussd-{digest[:40]}"


class _TooManyLookups(Exception):
    """Over the lookup limits (common.lookup_limits): answered as `too_many_attempts`."""


def _failure(error: str, **data: Any) -> ActionResult:
    return ActionResult(ok=False, data=data, error=error)


def action(forget: tuple[str, ...] = ()) -> Callable[[ActionMethod], ActionMethod]:
    """Mark a method as the action of its name, mapping backend errors to error codes; never raises.

    `forget` names sensitive answers (PIN, ID number) to blank in the session whatever the outcome:
    once sent, they have no reason to stay, even encrypted.
    """

    def wrap(method: ActionMethod) -> ActionMethod:
        name = method.__name__

        @wraps(method)
        def run(self: Actions, context: HopContext, params: Mapping[str, Any], lang: str) -> ActionResult:
            result = _mapped(self, context, params, lang)
            if forget:
                result = dataclasses.replace(result, data={**result.data, **dict.fromkeys(forget, "")})
            return result

        def _mapped(self: Actions, context: HopContext, params: Mapping[str, Any], lang: str) -> ActionResult:
            try:
                return method(self, context, params, lang)
            except _TooManyLookups:
                return _failure("too_many_attempts")
            except BackendUnavailable as exc:
                log.warning("core service unavailable", action=name, code=exc.code)
                return _failure("unavailable")
            except WrongPin as exc:
                return _failure("wrong_pin", attempts_left=exc.attempts_left)
            except AccountLocked:
                return _failure("locked")
            except NotFound as exc:
                return _failure("not_registered" if exc.code == "citizen_not_found" else "not_found")
            except Conflict as exc:
                return _failure(exc.code)
            except InvalidRequest as exc:
                log.warning("core service refused a field", action=name, code=exc.code, field=exc.field)
                return _failure("invalid", field=exc.field or "")
            except BackendError as exc:
                log.warning("core service error", action=name, code=exc.code)
                return _failure("unavailable")
            except Exception as exc:  # a bug must become a polite screen, not a stack trace
                log.exception("action failed", action=name, error=type(exc).__name__)
                return _failure("internal")

        run.is_action = True  # type: ignore[attr-defined]
        return run

    return wrap


class _Catalogue:
    """The core service's services, fetched at most once per CATALOGUE_TTL_S."""

    def __init__(self, client: CoreClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._services: list[Service] = []
        self._fetched_at = float("-inf")

    def services(self, budget: Budget) -> list[Service]:
        if time.monotonic() - self._fetched_at < CATALOGUE_TTL_S:
            return self._services
        services = self._client.list_services(budget=budget)
        with self._lock:
            self._services, self._fetched_at = services, time.monotonic()
        return services

    def service(self, code: str, budget: Budget) -> Service:
        for service in self.services(budget):
            if service.code == code:
                return service
        raise NotFound(f"service {code} not in the catalogue", code="service_not_found", status=404)


def _form(params: Mapping[str, Any]) -> dict[str, str]:
    """The service's answers collected so far, kept in the session as one JSON answer `form`."""
    try:
        form = json.loads(params.get("form") or "{}")
    except ValueError:
        return {}
    return form if isinstance(form, dict) else {}


class Actions:
    """The citizen actions of one process, bound to their collaborators. Thread-safe.

    `queue` takes applications confirmed while the core service cannot answer in time; without
    one, such a confirmation apologises (`unavailable`) instead of promising an SMS. `lookups`
    limits looking applications up by a typed reference (Track, Pay); without it, no limit.
    """

    def __init__(
        self,
        client: CoreClient,
        queue: ApplicationQueue | None = None,
        lookups: LookupLimits | None = None,
        *,
        caller_lookup_s: float = CALLER_LOOKUP_S,
    ) -> None:
        self.client = client
        self.queue = queue
        self.lookups = lookups
        self.catalogue = _Catalogue(client)
        self.caller_lookup_s = caller_lookup_s

    def _by_reference(self, context: HopContext, reference: str, call: Callable[[], Any]) -> Any:
        """`call()`, a core-service call about `reference`, inside the lookup limits: raises
        `_TooManyLookups` when over them. Only an unknown (or someone else's) reference counts as
        a miss; the caller's own, or a core that could not tell, gives the count back."""
        if self.lookups is None:
            return call()
        if not self.lookups.admit(context.phone, reference):
            raise _TooManyLookups
        try:
            result = call()
        except NotFound:
            raise
        except BackendError:
            self.lookups.found(context.phone, reference)
            raise
        self.lookups.found(context.phone, reference)
        return result

    def runner(self, context: HopContext) -> ActionRunner:
        """The engine's action runner for one hop of `context`."""

        def run(name: str, params: Mapping[str, Any], lang: str) -> ActionResult:
            if name not in ACTION_NAMES:
                return ActionResult(ok=False, error=f"unknown action {name}")
            return getattr(self, name)(context, params, lang)

        return run

    # ---- citizens ------------------------------------------------------------------------------

    @action()
    def identify_caller(self, context: HopContext, _params: Mapping[str, Any], _lang: str) -> ActionResult:
        """Who is calling, before the first screen: a registered citizen's audience, first name and
        profile, or the `guest` audience. A recent answer the hop brings (`known_caller`) is used
        as it is, without the core (audience and first name only). Otherwise the core is asked,
        for at most `caller_lookup_s`; the session's answers keep what it said, which the hop
        service remembers for the phone once the session is over. When the core cannot answer in
        time it fails (`unavailable`) and the caller is shown the guest menu."""
        known = context.known_caller
        if known is not None:
            return ActionResult(ok=True, data=_greeting(known))
        deadline = min(context.deadline, time.monotonic() + self.caller_lookup_s)
        citizen = self.client.find_citizen(context.phone, budget=Budget.until(deadline))
        return ActionResult(ok=True, data=GUEST if citizen is None else _profile(citizen))

    @action()
    def check_registered(self, context: HopContext, params: Mapping[str, Any], _lang: str) -> ActionResult:
        """ok when this phone has a citizen; `not_registered` otherwise. Asks the core only when
        this session does not know yet (`registered` unset: the lookup at the start failed)."""
        if params.get("registered") == "yes":
            return ActionResult(ok=True)
        if params.get("registered") == "no":
            return _failure("not_registered")
        citizen = self.client.find_citizen(context.phone, budget=_budget(context))
        if citizen is None:
            return ActionResult(ok=False, data=GUEST, error="not_registered")
        return ActionResult(ok=True, data=_profile(citizen))

    @action(forget=("pin", "pin_confirm", "national_id"))
    def register(self, context: HopContext, params: Mapping[str, Any], lang: str) -> ActionResult:
        """Register the caller with national_id, first_name, last_name, date_of_birth (DD/MM/YYYY),
        pin. On success, asks for the SMS `registration_welcome`. The PIN and ID leave the session."""
        born = datetime.strptime(str(params["date_of_birth"]), "%d/%m/%Y").date()
        try:
            citizen = self.client.register_citizen(
                national_id=str(params["national_id"]),
                first_name=str(params["first_name"]),
                last_name=str(params["last_name"]),
                date_of_birth=born,
                phone=context.phone,
                pin=str(params["pin"]),
                idempotency_key=idempotency_key(context, "register"),
                budget=_budget(context),
            )
        except Conflict as exc:
            taken = exc.code == "already_registered" and exc.details.get("field") == "national_id"
            return _failure("id_registered" if taken else exc.code)
        except IdentityMismatch:
            return _failure("identity_mismatch")
        except BackendRejected as exc:
            if exc.code == "too_many_attempts":
                return _failure("too_many_attempts")
            raise
        welcome = SendSms(
            "registration_welcome",
            context.phone,
            {"name": str(params.get("first_name", ""))},
            lang,
            f"registration_welcome:{context.phone}",
        )
        data = (
            _profile(citizen)
            if isinstance(citizen, Citizen)
            else {"registered": "yes", "audience": "registered"}
        )
        # The phone's remembered answer said "guest": the next dial asks the core again.
        return ActionResult(ok=True, data=data, effects=(welcome, ForgetCaller()))

    # ---- catalogue and the service's own fields ------------------------------------------------

    @action()
    def list_departments(self, context: HopContext, _params: Mapping[str, Any], _lang: str) -> ActionResult:
        """Departments that offer at least one service, in catalogue order."""
        seen: dict[str, Any] = {}
        for service in self.catalogue.services(_budget(context)):
            seen.setdefault(service.department.code, service.department.label)
        items = [{"id": code, "label": name.model_dump()} for code, name in seen.items()]
        return ActionResult(ok=True, data={"items": items})

    @action()
    def list_services(self, context: HopContext, params: Mapping[str, Any], _lang: str) -> ActionResult:
        """Services of `department` (every service when it is not set)."""
        department = params.get("department")
        services = self.catalogue.services(_budget(context))
        items = [
            {"id": s.code, "label": s.label.model_dump()}
            for s in services
            if not department or s.department.code == department
        ]
        return ActionResult(ok=True, data={"items": items})

    @action()
    def open_service_code(self, context: HopContext, params: Mapping[str, Any], lang: str) -> ActionResult:
        """The service whose three-digit short code was typed (`typed_code`) becomes `service`;
        `not_found` when no service has it."""
        typed = str(params.get("typed_code", "")).strip()
        for service in self.catalogue.services(_budget(context)):
            if service.short_code and service.short_code == typed:
                return ActionResult(
                    ok=True, data={"service": service.code, "service_label": service.label.get(lang)}
                )
        return _failure("not_found")

    @action()
    def list_service_codes(self, context: HopContext, _params: Mapping[str, Any], lang: str) -> ActionResult:
        """Every service's short code and short name, one a line, as `service_codes` (for Help)."""
        lines = [
            f"{s.short_code} {s.label.get(lang)}"
            for s in self.catalogue.services(_budget(context))
            if s.short_code
        ]
        return ActionResult(ok=True, data={"service_codes": "\n".join(lines)})

    @action()
    def start_form(self, context: HopContext, params: Mapping[str, Any], lang: str) -> ActionResult:
        """Begin the application form of `service`: forget answers of any service chosen before."""
        service = self.catalogue.service(str(params.get("service", "")), _budget(context))
        data = {
            "service_name": service.name.get(lang),
            "service_short_code": service.short_code,
            "form": "{}",
            "fee": money(service.fee_kes),
        }
        return ActionResult(ok=True, data=data)

    @action()
    def next_field(self, context: HopContext, params: Mapping[str, Any], lang: str) -> ActionResult:
        """The first unanswered field of `service` as `field_prompt`/`field_name`; `complete` when
        none. Prefilled fields are not asked: the core fills them from the citizen's record."""
        service = self.catalogue.service(str(params.get("service", "")), _budget(context))
        form = _form(params)
        asked = service.asked
        total = len(asked)
        for position, spec in enumerate(asked, 1):
            if spec.name not in form:
                prompt = field_prompt(spec, lang, position, total)
                return ActionResult(ok=True, data={"field_prompt": prompt, "field_name": spec.name})
        return _failure("complete")

    @action()
    def save_field(self, context: HopContext, params: Mapping[str, Any], lang: str) -> ActionResult:
        """Check `field_answer` against field `field_name` and add it to `form`, or `invalid_field`."""
        service = self.catalogue.service(str(params.get("service", "")), _budget(context))
        name = params.get("field_name")
        spec = next((f for f in service.asked if f.name == name), None)
        if spec is None:
            return _failure("not_found")
        value, problem = check_field(spec, str(params.get("field_answer", "")), lang)
        if problem:
            return _failure("invalid_field", field_error=problem)
        form = _form(params) | {spec.name: value}
        return ActionResult(ok=True, data={"form": json.dumps(form, ensure_ascii=False)})

    @action()
    def quote(self, context: HopContext, params: Mapping[str, Any], lang: str) -> ActionResult:
        """The fee for the answers given (a choice may set it) and the `summary` to confirm: what
        the core will fill from the citizen's record (name, ID, date of birth), then the answers,
        cut to fit the summary screen."""
        budget = _budget(context)
        service = self.catalogue.service(str(params.get("service", "")), budget)
        form = _form(params)
        data: dict[str, Any] = {}
        profile: Mapping[str, Any] = params
        if any(f.prefill for f in service.fields) and not params.get("citizen_name"):
            citizen = self.client.find_citizen(context.phone, budget=budget)
            if citizen is None:
                return _failure("not_registered", **GUEST)
            data = _profile(citizen)
            profile = data
        known = _prefilled(service, profile)
        answered = ", ".join(_shown(f, form[f.name], lang) for f in service.asked if f.name in form)
        room = SUMMARY_LEN - (len(known) + 1 if known else 0)
        data |= {
            "service_name": service.label.get(lang),
            "summary": "\n".join(line for line in (known, _cut(answered, room)) if line),
            "fee": money(service.fee_for(form)),
        }
        return ActionResult(ok=True, data=data)

    # ---- applications --------------------------------------------------------------------------

    @action(forget=("apply_pin",))
    def submit_application(self, context: HopContext, params: Mapping[str, Any], lang: str) -> ActionResult:
        """Submit `service` with `form`, confirmed by `apply_pin`. If the core service cannot be
        reached in time, the application is queued with the same idempotency key (`queued`) and the
        SMS `application_queued` is asked for; without a queue, `unavailable`."""
        service_code = str(params.get("service", ""))
        form = _form(params)
        pin = str(params.get("apply_pin", ""))
        # the answers are part of the key: a second, different application in one session is its own
        key = idempotency_key(context, "apply", service_code, json.dumps(form, sort_keys=True))
        try:
            application = self.client.create_application(
                phone=context.phone,
                pin=pin,
                service_code=service_code,
                answers=form,
                idempotency_key=key,
                budget=_budget(context),
            )
        except BackendUnavailable as exc:
            # Put in the queue here, not as an effect: the screen says "queued" only once it is.
            queued = self.queue is not None and self.queue.put(
                phone=context.phone,
                service_code=service_code,
                answers=form,
                pin=pin,
                idempotency_key=key,
                lang=lang,
            )
            log.warning("application not submitted in time", code=exc.code, queued=queued)
            if not queued:
                return _failure("unavailable")
            name = params.get("service_name") or service_code
            sms = SendSms(
                "application_queued", context.phone, {"service": name}, lang, f"application_queued:{key}"
            )
            return ActionResult(ok=False, error="queued", effects=(sms,))
        data = {
            "reference": application.reference,
            "fee": money(application.fee_kes),
            # what "Pay now" may offer by paybill if the prompt cannot be sent
            "due_reference": application.reference,
            "amount_due": money(application.fee_kes),
        }
        return ActionResult(ok=True, data=data)

    @action()
    def list_my_applications(
        self, context: HopContext, _params: Mapping[str, Any], _lang: str
    ) -> ActionResult:
        """The caller's applications, newest first, labelled with reference and service."""
        page = self.client.list_applications(context.phone, limit=MAX_LIST, budget=_budget(context))
        items = []
        for summary in page.applications:
            names = summary.service_name
            label = {
                lang: f"{summary.reference} {names.get(lang) if names else summary.service_code}"
                for lang in ("en", "sw")
            }
            items.append({"id": summary.reference, "label": label})
        return ActionResult(ok=True, data={"items": items})

    @action()
    def list_unpaid(self, context: HopContext, _params: Mapping[str, Any], _lang: str) -> ActionResult:
        """The caller's applications with a fee still to pay, newest first, with the amount."""
        page = self.client.list_applications(context.phone, limit=MAX_LIST, budget=_budget(context))
        items = [
            {
                "id": s.reference,
                "label": f"{s.reference} KES {money(s.fee_kes)}",
                "data": {"due_reference": s.reference, "amount_due": money(s.fee_kes)},
            }
            for s in page.applications
            if s.payment_status == "unpaid"
        ]
        return ActionResult(ok=True, data={"items": items})

    @action()
    def get_application(self, context: HopContext, params: Mapping[str, Any], lang: str) -> ActionResult:
        """Status of application `reference` in glossary words, with the date it got that status."""
        reference = str(params.get("reference", ""))
        application = self._by_reference(
            context,
            reference,
            lambda: self.client.get_application(reference, phone=context.phone, budget=_budget(context)),
        )
        since = application.history[-1].changed_at if application.history else application.updated_at
        names = application.service_name
        data = {
            "reference": application.reference,
            "service_name": names.get(lang) if names else application.service_code,
            "status_text": word(STATUS_WORDS, application.status, lang),
            "status_date": _local_date(since),
            "payment_text": word(PAYMENT_WORDS, application.payment_status, lang),
            "fee": money(application.fee_kes),
        }
        return ActionResult(ok=True, data=data)

    # ---- payments and feedback -----------------------------------------------------------------

    @action()
    def start_payment(self, context: HopContext, params: Mapping[str, Any], lang: str) -> ActionResult:
        """Start the M-Pesa prompt for application `reference`'s fee, to the caller's phone. Only
        the caller's own applications: anyone else's is `not_found`, as the core answers.

        When the prompt cannot be sent (the core or M-Pesa does not answer in time) and the amount
        due for this reference is known (`due_reference`/`amount_due`, from applying or from the
        unpaid list), the citizen is told to pay by paybill instead (`paybill`, with the SMS
        `paybill_instructions`); otherwise `unavailable`."""
        reference = str(params.get("reference", ""))
        try:
            payment = self._by_reference(
                context,
                reference,
                lambda: self.client.start_payment(
                    reference,
                    phone=context.phone,
                    idempotency_key=idempotency_key(context, "pay", reference.upper()),
                    budget=_budget(context),
                ),
            )
        except BackendUnavailable:
            canonical = canonical_reference(reference)
            amount = str(params.get("amount_due") or "")
            if (
                not amount
                or not canonical
                or canonical_reference(str(params.get("due_reference", ""))) != canonical
            ):
                raise
            return paybill_fallback(context, canonical, amount, lang)
        data = {"amount": money(payment.amount_kes), "reference": payment.reference}
        return ActionResult(ok=True, data=data)

    @action()
    def submit_feedback(self, context: HopContext, params: Mapping[str, Any], _lang: str) -> ActionResult:
        """A 1-5 `rating` of service `feedback_service`, with an optional `feedback_comment`; the
        rating (not the comment, which stays with the core service) goes to the audit trail."""
        service_code = str(params.get("feedback_service", ""))
        comment = str(params.get("feedback_comment") or "").strip()[:140] or None
        rating = int(params.get("rating", 0))
        self.client.submit_feedback(
            phone=context.phone,
            rating=rating,
            comment=comment,
            service_code=service_code,
            idempotency_key=idempotency_key(context, "feedback", service_code),
            budget=_budget(context),
        )
        event = RecordEvent("feedback", {"service_code": service_code, "rating": rating})
        return ActionResult(ok=True, data={"feedback_comment": ""}, effects=(event,))


GUEST: dict[str, str] = {"audience": "guest", "registered": "no"}


def known_caller(answers: Mapping[str, Any]) -> KnownCaller | None:
    """Who is calling, as a session's answers say (`registered`, `first_name`); None when the
    session never learnt it (the core could not answer)."""
    registered = answers.get("registered")
    if registered == "yes":
        return KnownCaller(registered=True, first_name=str(answers.get("first_name", ""))[:GREETING_NAME_LEN])
    if registered == "no":
        return KnownCaller(registered=False)
    return None


def _greeting(known: KnownCaller) -> dict[str, str]:
    """The answers a remembered caller brings: the audience, and a registered one's first name."""
    if not known.registered:
        return dict(GUEST)
    return {"audience": "registered", "registered": "yes", "first_name": known.first_name}


def _profile(citizen: Citizen) -> dict[str, str]:
    """What the session keeps about a registered caller: the audience, the first name for the
    greeting, and what a summary shows before the core fills it in (the ID only masked)."""
    return {
        "audience": "registered",
        "registered": "yes",
        "first_name": citizen.first_name[:GREETING_NAME_LEN],
        "citizen_name": f"{citizen.first_name} {citizen.last_name}",
        "citizen_dob": citizen.date_of_birth.strftime("%d/%m/%Y"),
        "citizen_id": citizen.national_id_masked,
    }


def _prefilled(service: Service, profile: Mapping[str, Any]) -> str:
    """The details the core fills for this service, as the summary shows them: "Wanjiku Kamau,
    ID *****789, 01/05/1990" (what the service needs of the three), at most PROFILE_LEN long."""
    kinds = {f.prefill for f in service.fields if f.prefill}
    rest = []
    if "national_id" in kinds:
        rest.append(f"ID {profile.get('citizen_id', '')}")
    if "date_of_birth" in kinds:
        rest.append(str(profile.get("citizen_dob", "")))
    tail = "".join(f", {part}" for part in rest)
    if "full_name" not in kinds:
        return tail.removeprefix(", ")
    return _cut(str(profile.get("citizen_name", "")), PROFILE_LEN - len(tail)) + tail


def _cut(text: str, width: int) -> str:
    # GSM-7 has no ellipsis: a cut line ends with a dot
    return text if len(text) <= width else text[: max(width - 1, 0)].rstrip(" ,") + "."


def paybill_fallback(context: HopContext, reference: str, amount: str, lang: str) -> ActionResult:
    """The `paybill` answer: the instructions on screen (data) and the same by SMS, once per
    reference and session."""
    sms = SendSms(
        "paybill_instructions",
        context.phone,
        {"amount": amount, "reference": reference},
        lang,
        f"paybill_instructions:{reference}:{context.session_id}",
    )
    return ActionResult(
        ok=False, error="paybill", data={"reference": reference, "amount": amount}, effects=(sms,)
    )


ACTION_NAMES: frozenset[str] = frozenset(
    name for name, member in vars(Actions).items() if getattr(member, "is_action", False)
)


def field_prompt(spec: ServiceField, lang: str, position: int, total: int) -> str:
    """The screen text asking for one field; a choice's options are numbered inside the prompt."""
    lines = [f"{spec.prompt.get(lang)} ({position}/{total})"]
    lines += [f"{i}. {choice.label.get(lang)}" for i, choice in enumerate(spec.choices, 1)]
    return "\n".join(lines)


def check_field(spec: ServiceField, raw: str, lang: str, today: datetime | None = None) -> tuple[str, str]:
    """(value to send, "") or ("", what is expected, one line in `lang`). Mirrors the core
    service's own checks so the citizen hears of a mistake on the field, not after the PIN."""
    value = raw.strip()
    if spec.type == "choice":
        if value.isdigit() and 1 <= int(value) <= len(spec.choices):
            return spec.choices[int(value) - 1].value, ""
        return "", word(FIELD_ERRORS, "choice", lang)
    if spec.type == "date":
        try:
            parsed = datetime.strptime(value, "%d/%m/%Y").date()
        except ValueError:
            parsed = None
        now = (today or datetime.now(EAT)).date()
        earliest = spec.min_year or 1900
        if parsed is None or parsed > now or parsed.year < earliest:
            return "", word(FIELD_ERRORS, "date", lang).format(earliest=earliest)
        return parsed.strftime("%d/%m/%Y"), ""
    if spec.type == "national_id":
        if value.isascii() and value.isdigit() and 7 <= len(value) <= 8:
            return value, ""
        return "", word(FIELD_ERRORS, "national_id", lang)
    if spec.type == "name":
        name = clean_name(value, spec.max_length or 60)
        if name is None:
            return "", word(FIELD_ERRORS, "name", lang)
        value = name
    if spec.type == "digits" and not (value.isascii() and value.isdigit()):
        return "", word(FIELD_ERRORS, "digits", lang)
    low, high = spec.min_length or 1, spec.max_length or 60
    if spec.pattern and not re.fullmatch(spec.pattern, value):
        return "", word(FIELD_ERRORS, "format", lang).format(example=spec.example or "")
    if not low <= len(value) <= high:
        return "", word(FIELD_ERRORS, "length", lang).format(min=low, max=high)
    return value, ""


def _shown(spec: ServiceField, value: str, lang: str) -> str:
    for choice in spec.choices:
        if choice.value == value:
            return choice.label.get(lang)
    return value


def _local_date(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(EAT).strftime("%d/%m/%Y")
