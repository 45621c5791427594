"""Analytics figures on a small scripted set of sessions are exactly right, as JSON and as CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import create_app
from audit.drain import Drainer, drain_client
from records.audit import AuditRecord
from tests.hops import at_hop

TREES = Path(__file__).parent / "trees"

# session id -> the transcripts the phone sends, one per hop (what the citizen typed so far).
SCRIPT = {
    "C1": ["", "1", "1*Jane"],  # completes register
    "C2": ["", "2", "2*500"],  # completes pay
    "C3": ["", "1", "1*Amina", "1*Amina"],  # completes register; the repeated hop is a replay
    "S1": ["", "4", "4*1", "4*1*Juma"],  # switches to Kiswahili, completes register
    "I1": ["", "2", "2*abc"],  # leaves after invalid input at pay_amount
    "I2": ["", "9"],  # leaves after invalid input at main
    "T1": ["", "1"],  # the aggregator reports Incomplete at reg_name
    "T2": ["", "2"],  # no end report; last hop 10 minutes ago
    "E1": ["", "3"],  # status lookup fails: the failure END screen
    "A1": ["", "1"],  # still dialling
}


@pytest.fixture
def shop(settings, redis_client):
    app = create_app(replace(settings, trees_dir=TREES, analytics_token=TOKEN))
    app.config["TESTING"] = True
    hops = app.extensions["hops"]
    for n, (session_id, transcripts) in enumerate(SCRIPT.items()):
        for transcript in transcripts:
            hops.handle(at_hop(session_id, f"+25471200{n:04d}", "*555#", "63902", transcript))
    client = app.test_client()
    form = {"sessionId": "T1", "serviceCode": "*555#", "phoneNumber": "+254712000021", "networkCode": "63902"}
    assert (
        client.post("/ussd/africastalking/events", data={**form, "status": "Incomplete"}).status_code == 200
    )
    trail = app.extensions["audit"]
    trail.record("sms", message_id="m1", status="sent", cost="KES 0.8000", at=1_767_268_800_000)  # 2026-01-01
    trail.record("sms", message_id="m1", status="delivered", at=1_767_268_900_000)
    trail.record("sms", message_id="m2", status="sent", cost="KES 0.8000", at=1_767_268_800_000)
    trail.record("sms", message_id="m2", status="failed", reason="DeliveryFailure", at=1_767_268_900_000)
    trail.record("sms", message_id="m3", status="queued", at=1_767_355_200_000)  # 2026-01-02
    for ok in (True, True, False):
        trail.record("backend", operation="submit_application", ok=ok, error=None if ok else "timeout")
    for service, rating in (("good_conduct", 5), ("good_conduct", 4), ("passport", 2)):
        trail.record("feedback", service=service, service_code="*555#", rating=rating)
    Drainer(drain_client(settings.redis_url), app.extensions["database"]).drain_all()
    with app.extensions["database"].session() as session:
        for record in session.scalars(select(AuditRecord).where(AuditRecord.session_id == "T2")):
            record.at -= timedelta(minutes=10)
    return app


TOKEN = "analytics-test-token"


def get(app, path: str, **query):
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    response = client.get(path, query_string={"days": 3660, **query})
    assert response.status_code == 200, response.data
    return response


def rows(app, name: str, **query) -> list[dict]:
    return get(app, f"/api/v1/analytics/{name}", **query).get_json()["rows"]


def test_summary_per_language(shop):
    summary = {row["lang"]: row for row in rows(shop, "summary")}
    en, sw = summary["en"], summary["sw"]
    assert en["tree"] == "shop" and en["version"] == shop.extensions["trees"].current("shop").version
    assert (en["started"], en["completed"], en["active"]) == (9, 3, 1)
    assert (en["dropped_timeout"], en["dropped_invalid"], en["dropped_exit"], en["dropped_error"]) == (
        2,
        2,
        1,
        0,
    )
    assert en["median_hops_to_complete"] == 3  # C3's replay is not a step
    assert en["median_seconds_to_complete"] >= 0
    assert (sw["started"], sw["completed"], sw["median_hops_to_complete"]) == (1, 1, 4)
    assert rows(shop, "summary", lang="sw") == [sw]


def test_dropoff_per_node_split_by_reason(shop):
    by_node = {row["node"]: row for row in rows(shop, "dropoff")}
    assert (
        by_node["reg_name"]["reached"],
        by_node["reg_name"]["timeout"],
        by_node["reg_name"]["dropped"],
    ) == (5, 1, 1)
    pay = by_node["pay_amount"]
    assert (pay["reached"], pay["timeout"], pay["invalid"], pay["dropped"], pay["dropoff_rate"]) == (
        3,
        1,
        1,
        2,
        0.6667,
    )
    assert (by_node["main"]["reached"], by_node["main"]["invalid"], by_node["main"]["dropped"]) == (10, 1, 1)
    assert (by_node["status_failed"]["exit"], by_node["status_failed"]["dropoff_rate"]) == (1, 1.0)
    assert by_node["reg_done"]["dropped"] == 0 and by_node["reg_done"]["reached"] == 3


def test_funnels_per_journey(shop):
    funnel = {(r["journey"], r["kind"], r["node"]): r["sessions"] for r in rows(shop, "funnels")}
    assert funnel[("register", "entered", None)] == 5
    assert funnel[("register", "screen", "reg_name")] == 5
    assert funnel[("register", "screen", "reg_done")] == 3
    assert funnel[("register", "completed", None)] == 3
    assert (funnel[("pay", "entered", None)], funnel[("pay", "completed", None)]) == (3, 1)
    assert (funnel[("track", "entered", None)], funnel[("track", "completed", None)]) == (1, 0)
    assert funnel[("apply", "entered", None)] == 0


def first_hop_day(app, session_id: str) -> str:
    with app.extensions["database"].session() as session:
        first = session.scalar(select(func.min(AuditRecord.at)).where(AuditRecord.session_id == session_id))
    return first.date().isoformat()


def test_sessions_per_day(shop):
    days = {row["day"]: (row["started"], row["completed"]) for row in rows(shop, "sessions", lang="en")}
    # T2 began 10 minutes before the rest: in the first 10 minutes after midnight (UTC) that is
    # the day before, a day of its own.
    today, t2_day = first_hop_day(shop, "C1"), first_hop_day(shop, "T2")
    assert days == ({today: (9, 3)} if t2_day == today else {t2_day: (1, 0), today: (8, 3)})


def test_sms_backend_feedback(shop):
    first, second = rows(shop, "sms")
    assert first == {
        "day": "2026-01-01",
        "messages": 2,
        "delivered": 1,
        "failed": 1,
        "cost": 1.6,
        "pending": 0,
        "delivery_rate": 0.5,
    }
    assert (second["day"], second["pending"], second["delivery_rate"]) == ("2026-01-02", 1, None)
    (backend,) = rows(shop, "backend")
    assert (backend["calls"], backend["errors"], backend["error_rate"]) == (3, 1, 0.3333)
    feedback = {r["service"]: r for r in rows(shop, "feedback")}
    assert (feedback["good_conduct"]["average"], feedback["good_conduct"]["stars_5"]) == (4.5, 1)
    assert (feedback["passport"]["ratings"], feedback["passport"]["average"]) == (1, 2.0)


def test_csv_export(shop):
    response = get(shop, "/api/v1/analytics/summary", format="csv")
    assert response.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["lang"], r["started"], r["completed"]) for r in table] == [("en", "9", "3"), ("sw", "1", "1")]
    dropoff = get(shop, "/api/v1/analytics/dropoff", format="csv").get_data(as_text=True)
    assert dropoff.splitlines()[0].startswith("tree,version,node,reached,dropped,timeout,invalid,exit,error")


def test_console_pages_draw_charts_and_the_heat_map(shop):
    page = get(shop, "/console/analytics").get_data(as_text=True)
    assert "<svg" in page and "register funnel" in page and "good_conduct" in page
    assert ">Your first name</text>" in page, "funnel steps are labelled with the screen's text"
    heat = get(shop, "/console/analytics/dropoff", tree="shop").get_data(as_text=True)
    data = json.loads(
        re.search(r'<script type="application/json" id="heat-data">(.*?)</script>', heat, re.S)[1]
    )
    assert {n["id"] for n in data["graph"]["nodes"]} == set(shop.extensions["trees"].current("shop").nodes)
    rows = {r["node"]: r for r in data["rows"]}
    assert (rows["reg_name"]["reached"], rows["reg_name"]["dropped"]) == (5, 1)
    assert rows["status_failed"]["colour"] == "hsl(0, 70%, 75%)"  # everyone who got there left
    assert "js/heatmap.js" in heat and "vendor/dagre.min.js" in heat
    assert "http://" not in heat.replace("http://www.w3.org/2000/svg", "")  # nothing from a CDN


def test_funnels_never_go_up_and_say_what_each_step_is(shop):
    for journey in ("register", "pay", "track"):
        steps = [r for r in rows(shop, "funnels") if r["journey"] == journey and r["kind"] == "screen"]
        counts = [r["sessions"] for r in steps]
        assert counts == sorted(counts, reverse=True), (journey, counts)
    labels = {r["node"]: r["label"] for r in rows(shop, "funnels") if r["node"]}
    assert labels["reg_name"] == "Your first name" and labels["pay_done"] == "Paid"
    branches = [r["node"] for r in rows(shop, "funnels") if r["kind"] == "branch"]
    assert branches == ["status_failed"], "a failure screen is not a step of the track funnel"


def test_dropoff_split_by_network_language_and_version(shop):
    by_lang = {(r["node"], r["lang"]): r for r in rows(shop, "dropoff_split", tree="shop", by="lang")}
    assert by_lang[("reg_done", "sw")]["reached"] == 1 and by_lang[("reg_name", "en")]["reached"] == 4
    by_network = rows(shop, "dropoff_split", tree="shop", by="network")
    assert {r["network"] for r in by_network} == {"63902"}
    assert sum(r["reached"] for r in by_network if r["node"] == "main") == 10
    current = shop.extensions["trees"].current("shop")
    assert {r["version"] for r in rows(shop, "dropoff_split", tree="shop", by="version")} == {current.version}
    from records.menus import MenuVersion

    with shop.extensions["database"].session() as db:  # as if the console had published it as #7
        db.add(MenuVersion(tree_id="shop", version=current.version, number=7, document={}, author="t"))
    by_version = rows(shop, "dropoff_split", tree="shop", by="version")
    assert {r["version"] for r in by_version} == {"#7"}, "versions by number, not hashes"
    assert rows(shop, "summary", version="7") == rows(shop, "summary")
    assert rows(shop, "summary")[0]["version_number"] == 7
    client = shop.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {TOKEN}"
    refused = client.get("/api/v1/analytics/dropoff_split", query_string={"by": "phone"})
    assert refused.status_code == 400


def test_access_needs_the_token_when_one_is_set(settings, redis_client):
    app = create_app(replace(settings, analytics_token="s3cret"))
    client = app.test_client()
    assert client.get("/api/v1/analytics/summary").status_code == 401
    ok = client.get("/api/v1/analytics/summary", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    wrong = client.get("/api/v1/analytics/summary", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    # the console's analytics pages send a stranger to the login page, whatever the address
    page = client.get("/console/analytics", environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert page.status_code == 302 and "/console/login" in page.headers["Location"]
    nope = client.get("/api/v1/analytics/nope", headers={"Authorization": "Bearer s3cret"})
    assert nope.status_code == 404


def test_a_logged_in_operator_sees_analytics(settings, redis_client):
    from console.operators import create_operator

    app = create_app(settings)
    with app.extensions["database"].session() as db:
        create_operator(
            db,
            "viewer@example.org",
            "a long enough password 1",
            "viewer",
            passwords=app.extensions["passwords"],
        )
    client = app.test_client()
    login_page = client.get("/console/login")
    assert login_page.status_code == 200
    with client.session_transaction() as session:
        csrf = session.get("csrf", "")
    response = client.post(
        "/console/login",
        data={"email": "viewer@example.org", "password": "a long enough password 1", "csrf_token": csrf},
    )
    assert response.status_code in (302, 303)
    assert client.get("/console/analytics").status_code == 200
    assert client.get("/api/v1/analytics/summary").status_code == 200
