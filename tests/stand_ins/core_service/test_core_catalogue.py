from __future__ import annotations

REQUIRED = {
    "good_conduct",
    "birth_cert_copy",
    "dl_renewal",
    "business_name_search",
    "business_name_registration",
    "passport",
    "marriage_cert_copy",
    "kra_pin",
    "id_replacement",
}


def test_catalogue_has_the_required_services(client):
    services = client.get("/services").json["services"]
    assert {s["code"] for s in services} >= REQUIRED
    by_code = {s["code"]: s for s in services}
    assert by_code["good_conduct"]["fee_kes"] == 1050
    assert by_code["good_conduct"]["department"] == {
        "code": "DCI",
        "name": {"en": "Directorate of Criminal Investigations", "sw": "Idara ya Upelelezi wa Jinai"},
        "short_name": {"en": "Police (DCI)", "sw": "Polisi (DCI)"},
    }
    assert by_code["good_conduct"]["name"]["sw"] == "Cheti cha Maadili Mema"
    assert by_code["good_conduct"]["short_code"] == "101"


def test_short_codes_are_three_digits_unique_and_open_the_service(client):
    services = client.get("/services").json["services"]
    codes = [s["short_code"] for s in services]
    assert len(set(codes)) == len(codes)
    # three digits never read as a list number (1-97) or a reserved key (0, 00, 98)
    assert all(len(code) == 3 and code.isdigit() and code[0] != "0" for code in codes)
    assert client.get("/services/501").json["code"] == "passport"


def test_short_labels_fit_a_list_line(client):
    for service in client.get("/services").json["services"]:
        for language in ("en", "sw"):
            assert 0 < len(service["department"]["short_name"][language]) <= 18, service["department"]
            assert 0 < len(service["short_name"][language]) <= 22, service["code"]


def test_every_field_is_typed_and_fits_a_ussd_screen(client):
    for service in client.get("/services").json["services"]:
        assert service["name"]["en"] and service["name"]["sw"]
        assert isinstance(service["fee_kes"], int) and service["fee_kes"] >= 0
        assert service["fields"], service["code"]
        for field in service["fields"]:
            assert field["type"] in {"text", "name", "digits", "date", "choice", "national_id"}
            assert field["prefill"] in {None, "full_name", "date_of_birth", "national_id"}
            for language in ("en", "sw"):
                assert 0 < len(field["prompt"][language]) <= 60
            if field["type"] == "choice":
                assert len(field["choices"]) >= 2
                assert all(c["label"]["en"] and c["label"]["sw"] for c in field["choices"])
            if field["pattern"]:
                assert field["type"] == "text" and field["example"], field
            if field["type"] in {"text", "name", "digits"}:
                assert 0 < field["min_length"] <= field["max_length"] <= 60


def test_filter_by_department_and_get_one(client):
    brs = client.get("/services", query_string={"department": "BRS"}).json["services"]
    assert {s["code"] for s in brs} == {"business_name_search", "business_name_registration"}
    assert client.get("/services/passport").json["fee_kes"] == 7500
    assert client.get("/services/nope").status_code == 404
    departments = client.get("/departments").json["departments"]
    assert len(departments) == 8 and all(d["name"]["sw"] for d in departments)
