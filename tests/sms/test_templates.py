import datetime as dt

import pytest

from sms.segments import GSM7, count_segments, is_gsm7
from sms.templates import (
    LANGUAGES,
    MAX_SEGMENTS,
    TemplateError,
    get_template,
    is_essential,
    render,
    status_words,
    templates,
    worst_case_params,
)

ALL = [(tid, lang) for tid in templates() for lang in LANGUAGES]

EXPECTED_IDS = {
    "registration_welcome",
    "application_submitted",
    "application_status_changed",
    "application_queued",
    "application_reference_assigned",
    "application_not_submitted",
    "payment_started",
    "payment_paid",
    "payment_failed",
    "status_reply",
    "status_not_found",
    "status_too_many",
    "help",
    "stop_confirmed",
    "start_confirmed",
    "language_changed",
    "unknown_command",
    "paybill_instructions",
    "draft_saved_apply",
    "draft_saved_register",
}


def test_catalogue_has_every_template():
    assert set(templates()) == EXPECTED_IDS


@pytest.mark.parametrize(("template_id", "language"), ALL)
def test_worst_case_fits_two_segments(template_id, language):
    rendered = render(template_id, language, worst_case_params(template_id, language))
    assert rendered.encoding == GSM7
    assert rendered.segments <= MAX_SEGMENTS, f"{template_id}/{language}: {len(rendered.body)} chars"
    assert "{" not in rendered.body


@pytest.mark.parametrize(("template_id", "language"), ALL)
def test_template_text_is_gsm7(template_id, language):
    assert is_gsm7(get_template(template_id).bodies[language])


def test_essential_marking():
    essential = {tid for tid in templates() if is_essential(tid)}
    assert {"application_submitted", "application_status_changed"} <= essential
    assert {"payment_paid", "payment_failed"} <= essential
    assert {"status_reply", "help", "stop_confirmed", "start_confirmed", "language_changed"} <= essential
    assert {"unknown_command", "status_not_found"} <= essential
    assert not is_essential("registration_welcome")
    assert not is_essential("payment_started")
    # a reminder of a saved draft is not sent after STOP; how to pay a fee is
    assert not is_essential("draft_saved_apply") and not is_essential("draft_saved_register")
    assert is_essential("paybill_instructions")


def test_render_matches_the_recorded_send_request():
    rendered = render(
        "application_submitted", "en", {"reference": "ECZ-7K3Q9P", "service": "Certificate of Good Conduct"}
    )
    assert rendered.body == (
        "eCitizen: Application ECZ-7K3Q9P (Certificate of Good Conduct) received. "
        "Track: dial *384*123# or SMS STATUS ECZ-7K3Q9P to 22384."
    )
    assert (rendered.encoding, rendered.segments) == (GSM7, 1)


def test_status_words_come_from_the_glossary():
    assert status_words("sw") == {
        "submitted": "Imepokelewa",
        "under_review": "Inashughulikiwa",
        "approved": "Imeidhinishwa",
        "rejected": "Imekataliwa",
        "ready_for_collection": "Iko tayari kuchukuliwa",
        "collected": "Imechukuliwa",
    }
    body = render(
        "status_reply",
        "sw",
        {
            "reference": "ECZ-7K3Q9P",
            "service": "Cheti cha Kuzaliwa",
            "status": "approved",
            "date": dt.date(2026, 11, 28),
        },
    ).body
    assert body == "eCitizen: Hali ya ombi ECZ-7K3Q9P (Cheti cha Kuzaliwa): Imeidhinishwa tangu 28/11/2026."


def test_amounts_are_formatted():
    ref = "ECZ-7K3Q9P"
    assert "KES 1,050 " in render("payment_paid", "en", {"reference": ref, "amount": 1050}).body
    assert "KES 1,050.50 " in render("payment_paid", "en", {"reference": ref, "amount": "1,050.50"}).body


def test_long_names_are_cut_and_made_gsm7():
    rendered = render("registration_welcome", "en", {"name": "Zoë " + "W" * 60})
    assert rendered.body.startswith("Welcome to eCitizen, Zoe " + "W" * 26 + ".")
    assert rendered.encoding == GSM7


def test_language_changed_is_in_the_new_language():
    assert "Kiswahili" in render("language_changed", "sw", {}).body
    assert "English" in render("language_changed", "en", {}).body


@pytest.mark.parametrize(
    ("template_id", "language", "params", "match"),
    [
        ("no_such_template", "en", {}, "no SMS template 'no_such_template'"),
        ("help", "fr", {}, "no text in language 'fr'"),
        ("application_submitted", "en", {"reference": "ECZ-7K3Q9P"}, "missing parameter.*service"),
        ("application_submitted", "en", {"reference": None, "service": "x"}, "missing parameter.*reference"),
        (
            "application_status_changed",
            "en",
            {"reference": "E", "service": "x", "status": "lost"},
            "unknown status",
        ),
        ("payment_paid", "en", {"reference": "ECZ-7K3Q9P-X", "amount": 1}, "'reference' is longer than 10"),
    ],
)
def test_render_fails_clearly(template_id, language, params, match):
    with pytest.raises(TemplateError, match=match):
        render(template_id, language, params)


def test_unused_params_are_ignored():
    rendered = render("help", "en", {"name": "x"})
    assert rendered == render("help", "en", {})
    assert rendered.segments == count_segments(rendered.body).segments
