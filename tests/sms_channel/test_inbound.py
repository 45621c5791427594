"""`POST /sms/africastalking/inbound`: each command, deduplicated on `id`, replies through the outbox."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from records.sms import SmsInbound
from sms.commands import Command, parse_command
from tests.sms_channel.conftest import drain, rows

_ids = itertools.count(1)


def inbound(client, text: str, phone: str = "+254712345678", provider_id: str | None = None):
    form = {
        "id": provider_id or f"ATMsg_{next(_ids)}",
        "from": phone,
        "to": "22384",
        "text": text,
        "date": "2026-11-28 10:00:00",
        "linkId": "",
        "networkCode": "63902",
    }
    return client.post("/sms/africastalking/inbound", data=form)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("STATUS ECZ-7K3Q9P", Command("status", "ECZ-7K3Q9P")),
        ("status ecz 7k3q9p", Command("status", "ECZ7K3Q9P")),
        ("Hali ECZ-7K3Q9P.", Command("status", "ECZ-7K3Q9P")),
        ("STATUS", Command("help")),
        ("help", Command("help")),
        ("Msaada", Command("help")),
        (" stop ", Command("stop")),
        ("START", Command("start")),
        ("LANG SW", Command("lang", "sw")),
        ("lang en", Command("lang", "en")),
        ("LUGHA SW", Command("lang", "sw")),
        ("Lugha Kiingereza", Command("lang", "en")),
        ("LANG FR", Command("help")),
        ("hello there", Command("unknown")),
        ("", Command("unknown")),
    ],
)
def test_commands_are_read_from_the_text(text, command):
    assert parse_command(text) == command


def reply(channel, worker) -> tuple[str, str, str]:
    """The one reply queued so far, once sent: (template, language, body)."""
    drain(worker)
    [message] = rows(channel.database)
    assert message.status == "sent"
    return message.template, message.language, message.body


def test_status_replies_with_the_applications_status(client, channel, worker, lookup):
    answer = inbound(client, "STATUS ecz7k3q9p")
    assert answer.status_code == 200 and answer.json["command"] == "status"
    template, language, body = reply(channel, worker)
    assert template == "status_reply" and language == "en"
    assert (
        "ECZ-7K3Q9P" in body and "Approved" in body and "Birth certificate" in body and "27/11/2026" in body
    )


def test_status_of_an_unknown_reference(client, channel, worker, lookup):
    inbound(client, "STATUS ECZ-AAAAAA")
    assert reply(channel, worker)[0] == "status_not_found"


def test_status_of_someone_elses_reference_is_answered_as_unknown(client, channel, worker, lookup):
    inbound(client, "STATUS ECZ-7K3Q9P", phone="+254733000111")
    template, _language, body = reply(channel, worker)
    assert template == "status_not_found"
    assert "Approved" not in body and "Birth certificate" not in body


def test_status_while_the_core_service_is_down_is_deferred_to_the_providers_retry(client, channel, lookup):
    lookup.down = True
    answer = inbound(client, "STATUS ECZ-7K3Q9P", provider_id="ATMsg_down")
    assert answer.status_code == 503 and answer.json["error"] == "unavailable"
    assert rows(channel.database) == []
    lookup.down = False
    assert inbound(client, "STATUS ECZ-7K3Q9P", provider_id="ATMsg_down").json["duplicate"] is False
    assert len(rows(channel.database)) == 1


def test_help_and_anything_else(client, channel, worker):
    inbound(client, "HELP")
    inbound(client, "what is this")
    drain(worker)
    assert [r.template for r in rows(channel.database)] == ["help", "unknown_command"]


def test_stop_opts_out_of_non_essential_messages_and_start_back_in(client, channel, worker):
    inbound(client, "STOP")
    assert channel.opted_out("+254712345678")
    welcome = channel.outbox.enqueue("registration_welcome", "0712345678", {"name": "Wanjiku"})
    status = channel.outbox.enqueue(
        "application_status_changed",
        "0712345678",
        {"reference": "ECZ-7K3Q9P", "service": "Birth certificate", "status": "approved"},
    )
    drain(worker)
    by_id = {r.id: r for r in rows(channel.database)}
    assert by_id[welcome.id].status == "opted_out"
    assert by_id[status.id].status == "sent"
    assert [r.template for r in by_id.values() if r.status == "sent"] == [
        "stop_confirmed",
        "application_status_changed",
    ]
    inbound(client, "START")
    assert not channel.opted_out("+254712345678")
    again = channel.outbox.enqueue("registration_welcome", "0712345678", {"name": "Wanjiku"}, dedupe_key="w2")
    drain(worker)
    assert {r.id: r.status for r in rows(channel.database)}[again.id] == "sent"


@pytest.mark.parametrize(("text", "language"), [("LANG SW", "sw"), ("LUGHA SW", "sw"), ("LUGHA EN", "en")])
def test_lang_sets_the_language_ussd_uses_and_replies_in_it(app, client, channel, worker, text, language):
    store = app.extensions["hops"].store
    store.set_language("+254712345678", "sw" if language == "en" else "en")
    inbound(client, text)
    assert store.language("+254712345678") == language
    template, used, body = reply(channel, worker)
    assert (template, used) == ("language_changed", language)
    # Later messages follow the new language.
    channel.outbox.enqueue("help", "0712345678", {})
    drain(worker)
    assert rows(channel.database)[-1].language == language


def test_the_same_inbound_id_acts_once(client, channel, worker):
    first = inbound(client, "STOP", provider_id="ATMsg_same")
    again = inbound(client, "STOP", provider_id="ATMsg_same")
    assert first.json["duplicate"] is False and again.json == {
        "duplicate": True,
        "command": "duplicate",
        "reply": None,
    }
    assert len(rows(channel.database)) == 1
    with channel.database.session() as session:
        assert session.scalar(select(func.count()).select_from(SmsInbound)) == 1


@pytest.mark.parametrize(
    ("phone", "reason"),
    [("+255712345678", "not served"), ("12", "not a valid number"), ("abc", "not a phone number")],
)
def test_invalid_numbers_are_refused_with_a_reason_before_any_send(client, channel, phone, reason):
    answer = inbound(client, "HELP", phone=phone)
    assert answer.status_code == 422 and answer.json["error"] == "bad_phone"
    assert reason in answer.json["reason"]
    assert rows(channel.database) == []


@pytest.mark.parametrize("phone", ["0712345678", "712345678", "254712345678", "+254 712 345 678"])
def test_local_forms_of_the_sender_are_normalised(client, channel, phone):
    assert inbound(client, "HELP", phone=phone).status_code == 200
    assert rows(channel.database)[0].phone == "+254712345678"


def test_a_form_without_id_or_text_is_refused(client, channel):
    answer = client.post("/sms/africastalking/inbound", data={"from": "+254712345678", "text": "HELP"})
    assert answer.status_code == 400 and answer.json["reason"] == "missing id"
    assert rows(channel.database) == []
