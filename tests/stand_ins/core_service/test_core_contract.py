"""The reference service implements backend_client/openapi.yaml: same routes, and real answers
(success and error) validate against the documented schemas."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select

from stand_ins.core_service import create_app
from stand_ins.core_service.models import WebhookEvent
from tests.stand_ins.core_service.conftest import ADMIN, PHONE, apply, core_config, register
from tests.support import wait_until

SPEC_PATH = Path(__file__).resolve().parents[3] / "backend_client" / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_PATH.read_text())
REGISTRY = Registry().with_resource(
    "urn:spec", Resource.from_contents(SPEC, default_specification=DRAFT202012)
)


def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"urn:spec#{pointer}"}, registry=REGISTRY)


def check(response: Any, method: str, template: str) -> None:
    """Fail unless `response`'s status is documented for the operation and its body fits."""
    operation = SPEC["paths"][template][method.lower()]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method} {template} answered undocumented {response.status_code}"
    pointer = f"/paths/{template.replace('/', '~1')}/{method.lower()}/responses/{response.status_code}"
    if "$ref" in documented:
        pointer = documented["$ref"].removeprefix("#")
        documented = SPEC
        for part in pointer.strip("/").split("/"):
            documented = documented[part]
    schema_pointer = pointer + "/content/application~1json/schema"
    errors = sorted(_validator(schema_pointer).iter_errors(response.json), key=str)
    assert not errors, f"{method} {template} {response.status_code}: {errors[0].message}"


def _flask_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        template = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method.lower(), template))
    return routes


def test_spec_and_routes_match(app):
    documented = {(m, path) for path, ops in SPEC["paths"].items() for m in ops if m in {"get", "post"}}
    assert _flask_routes(app) == documented


def test_production_serves_the_spec_without_the_development_paths(tmp_path):
    keys = {"ADMIN_TOKEN": "a" + "b1c2d3e4f5" * 4, "WEBHOOK_SECRET": "w" + "9z8y7x6v5u" * 4}
    production = {"ENV": "production", "ID_HASH_KEY": "k" + "q1r2s3t4u5" * 4, "PIN_HASH_PROFILE": "default"}
    app = create_app(core_config(tmp_path, **production) | keys)
    try:
        documented = {(m, path) for path, ops in SPEC["paths"].items() for m in ops if m in {"get", "post"}}
        # no development paths, and no paybill URLs until their token is set
        served = {(m, path) for m, path in documented if not path.startswith(("/dev/", "/mpesa/"))}
        assert _flask_routes(app) == served
    finally:
        app.extensions["core"].close()


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_every_ref_resolves():
    resolver = REGISTRY.resolver()
    for ref in _refs(SPEC):
        resolver.lookup(f"urn:spec{ref}")
    for name in SPEC["components"]["schemas"]:
        Draft202012Validator.check_schema(SPEC["components"]["schemas"][name])


def test_answers_fit_the_contract(client, app, body):
    check(client.get("/health"), "GET", "/health")
    check(client.get("/dev/people", query_string={"unregistered": 1, "n": 3}), "GET", "/dev/people")
    check(client.get("/dev/people", query_string={"n": 0}), "GET", "/dev/people")  # 400
    check(register(client, body, last_name="Nobody"), "POST", "/citizens")  # 422
    check(register(client, body), "POST", "/citizens")
    check(register(client, body), "POST", "/citizens")  # 409
    check(register(client, body, phone="12"), "POST", "/citizens")  # 400
    check(client.get("/citizens", query_string={"phone": PHONE}), "GET", "/citizens")
    check(client.get("/citizens", query_string={"phone": "+254700000123"}), "GET", "/citizens")
    verify = "/citizens/verify-pin"
    check(client.post(verify, json={"phone": PHONE, "pin": "4826"}), "POST", verify)
    check(client.post(verify, json={"phone": PHONE, "pin": "0000"}), "POST", verify)
    check(client.get("/departments"), "GET", "/departments")
    check(client.get("/services"), "GET", "/services")
    check(client.get("/services/passport"), "GET", "/services/{code}")
    check(client.get("/services/nope"), "GET", "/services/{code}")

    created = apply(client)
    check(created, "POST", "/applications")
    check(apply(client), "POST", "/applications")  # replay
    check(apply(client, answers={}), "POST", "/applications")  # 409: same key, other body
    check(apply(client, key="another-key-1", answers={}), "POST", "/applications")  # 422
    reference = created.json["reference"]
    check(client.get("/applications", query_string={"phone": PHONE}), "GET", "/applications")
    own = {"phone": PHONE}
    check(client.get(f"/applications/{reference}", query_string=own), "GET", "/applications/{reference}")
    check(client.get(f"/applications/{reference}"), "GET", "/applications/{reference}")  # 400
    stranger = {"phone": "+254700000123"}
    check(client.get(f"/applications/{reference}", query_string=stranger), "GET", "/applications/{reference}")

    payments = "/applications/{reference}/payments"
    started = client.post(f"/applications/{reference}/payments", json=own)
    check(started, "POST", payments)
    check(client.post(f"/applications/{reference}/payments", json=own), "POST", payments)
    check(client.post(f"/applications/{reference}/payments", json=stranger), "POST", payments)  # 404
    assert wait_until(lambda: client.get(f"/payments/{started.json['id']}").json["status"] == "paid")
    check(client.get(f"/payments/{started.json['id']}"), "GET", "/payments/{payment_id}")
    check(client.get(f"/applications/{reference}", query_string=own), "GET", "/applications/{reference}")
    check(client.post(f"/applications/{reference}/payments", json=own), "POST", payments)  # already paid

    check(
        client.post("/feedback", json={"phone": PHONE, "rating": 5, "service_code": "passport"}),
        "POST",
        "/feedback",
    )
    check(
        client.post("/feedback", json={"phone": PHONE, "rating": 7, "service_code": "passport"}),
        "POST",
        "/feedback",
    )

    status = "/admin/applications/{reference}/status"
    url = f"/admin/applications/{reference}/status"
    check(client.post(url, json={"status": "under_review", "note": "ok"}, headers=ADMIN), "POST", status)
    check(client.post(url, json={"status": "collected"}, headers=ADMIN), "POST", status)
    check(client.post(url, json={"status": "collected"}), "POST", status)
    check(client.post(url, json={"status": "x"}, headers={"Authorization": "Bearer no"}), "POST", status)

    for _ in range(2):
        client.post(verify, json={"phone": PHONE, "pin": "0000"})
    check(client.post(verify, json={"phone": PHONE, "pin": "0000"}), "POST", verify)  # 423

    # the webhook bodies waiting in the outbox fit WebhookEvent
    with app.extensions["core"].session_factory() as db:
        bodies = [json.loads(body) for body in db.scalars(select(WebhookEvent.body))]
    assert {b["type"] for b in bodies} == {
        "application.submitted",
        "payment.settled",
        "application.status_changed",
    }
    for body in bodies:
        _validator("/components/schemas/WebhookEvent").validate(body)


@pytest.mark.parametrize("name", ["Service", "Application", "Payment"])
def test_client_models_cover_the_schema_fields(name):
    import backend_client.models as models

    model = getattr(models, name)
    schema = SPEC["components"]["schemas"][name]
    required = set(schema.get("required", []))
    for part in schema.get("allOf", []):
        target = SPEC["components"]["schemas"][part["$ref"].rsplit("/", 1)[-1]] if "$ref" in part else part
        required |= set(target.get("required", []))
    assert required <= set(model.model_fields), required - set(model.model_fields)
