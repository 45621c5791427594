"""The simulator's API: scenarios never merged and always labelled, the live scenario only for
editors, recorded answers replayed instead of repeating calls, and the one function that finds the
app's actions."""

from __future__ import annotations

from menus.engine import ActionResult

SIMULATE = "/api/v1/menus/ecitizen/draft/simulate"


def test_each_scenario_answers_alone_and_says_so(as_role):
    viewer = as_role("viewer")
    scenarios = viewer.call("GET", "/api/v1/menus/ecitizen/draft").get_json()["scenarios"]
    ids = [s["id"] for s in scenarios]
    assert ids[:4] == [
        "scenario:registered citizen with one application",
        "scenario:new citizen",
        "scenario:slow core",
        "builtin:core_down",
    ]
    assert all(s["label"].startswith("Stub: ") for s in scenarios if s["kind"] == "stub")
    assert "live" not in ids, "viewers cannot make live calls"

    track = {"keys": ["3", "ECZ-7K3Q9P"], "lang": "en"}
    registered = viewer.call("POST", SIMULATE, {**track, "scenario": ids[0]}).get_json()
    assert "Status: Under review since 02/03/2025" in registered["reply"]
    assert registered["scenario"]["label"].startswith("Stub: registered citizen")
    down = viewer.call("POST", SIMULATE, {**track, "scenario": "builtin:core_down"}).get_json()
    assert down["reply"].startswith("END Sorry, the service is busy")
    # one journey test's own stubs, not everyone's merged: "core service down" would have won
    own = viewer.call("POST", SIMULATE, {**track, "scenario": "journey:track by reference"}).get_json()
    assert "Status: Under review" in own["reply"]
    assert [s["node"] for s in own["steps"]] == ["main", "track_ref", "track_status"]
    assert [r["action"] for r in own["recorded"]] == ["identify_caller", "get_application"]
    unknown = viewer.call("POST", SIMULATE, {**track, "scenario": "live"})
    assert unknown.status_code == 400 and unknown.get_json()["error"] == "unknown_scenario"


def test_live_scenario_checks_the_phone(as_role):
    editor = as_role("editor")
    scenarios = editor.call("GET", "/api/v1/menus/ecitizen/draft").get_json()["scenarios"]
    assert scenarios[-1]["id"] == "live" and scenarios[-1]["label"].startswith("Live: ")
    bad = editor.call("POST", SIMULATE, {"keys": [], "scenario": "live", "phone": "12"})
    assert bad.status_code == 400 and bad.get_json()["error"] == "bad_phone"


def test_recorded_answers_are_replayed_and_only_new_keys_call_the_core(as_role, console_app, monkeypatch):
    calls: list[str] = []

    class Actions:
        """Stands in for the app's actions object (`app.extensions["actions"]`)."""

        def runner(self, context):
            def run(name, params, lang):
                calls.append(f"{name}@{context.session_id}")
                if name == "get_application":
                    return ActionResult(
                        ok=True,
                        data={
                            "reference": "ECZ-7K3Q9P",
                            "service_name": "Passport",
                            "status_text": "Received",
                            "status_date": "01/01/2026",
                            "fee": "0",
                            "payment_text": "No fee",
                        },
                    )
                return ActionResult(ok=False, error="unavailable")

            return run

    monkeypatch.setitem(console_app.extensions, "actions", Actions())
    editor = as_role("editor")
    body = {"scenario": "live", "phone": "0722000111", "session_id": "console-sim-1", "lang": "en"}
    first = editor.call("POST", SIMULATE, {**body, "keys": ["3", "ECZ-7K3Q9P"]}).get_json()
    assert "Status: Received" in first["reply"] and calls == [
        "identify_caller@console-sim-1",
        "get_application@console-sim-1",
    ]
    again = editor.call(
        "POST", SIMULATE, {**body, "keys": ["3", "ECZ-7K3Q9P", "0"], "recorded": first["recorded"]}
    ).get_json()
    assert calls == [
        "identify_caller@console-sim-1",
        "get_application@console-sim-1",
    ], "the recorded answer stood in for the call"
    assert again["recorded"] == first["recorded"]
    other_road = editor.call(
        "POST", SIMULATE, {**body, "keys": ["4"], "recorded": first["recorded"]}
    ).get_json()
    assert calls[-1] == "check_registered@console-sim-1", "a different road calls the core again"
    assert other_road["reply"].startswith("END Sorry")
