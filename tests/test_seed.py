"""Seeding the menu versions is its own deploy step (`flask --app app menus seed`), not a side effect
of building the app: create_app touches no SQL, and the step is idempotent."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Engine, event, func, inspect, select

from app import create_app
from menus.live import CURRENT_KEY
from records.menus import MenuDraft, MenuPublication, MenuVersion


def test_building_the_app_runs_no_sql(settings, empty_database_url):
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        app = create_app(replace(settings, database_url=empty_database_url))
    finally:
        event.remove(Engine, "before_cursor_execute", seen)
    assert statements == []
    assert inspect(app.extensions["database"].engine).get_table_names() == []
    # and the USSD service answers from the YAML trees all the same
    reply = app.test_client().post(
        "/ussd/africastalking",
        data={
            "sessionId": "ATUid_noseed",
            "serviceCode": "*384*123#",
            "phoneNumber": "+254712345678",
            "networkCode": "63902",
            "text": "",
        },  # fmt: skip
    )
    assert reply.get_data(as_text=True).startswith("CON Welcome to eCitizen")


def test_menus_seed_makes_version_one_and_announces_it(app, redis_client):
    with app.extensions["database"].session() as session:
        assert session.scalar(select(func.count(MenuVersion.id))) == 0
    result = app.test_cli_runner().invoke(args=["menus", "seed"])
    assert result.exit_code == 0, result.output
    assert "seeded: ecitizen" in result.output
    with app.extensions["database"].session() as session:
        assert session.execute(select(MenuVersion.tree_id, MenuVersion.number)).all() == [("ecitizen", 1)]
        assert session.scalar(select(MenuDraft.revision)) == 1
        version = session.scalar(select(MenuVersion.version))
    assert redis_client.hget(CURRENT_KEY, "ecitizen").decode() == version


def test_menus_seed_again_changes_nothing(app, seeded_menus):
    result = app.test_cli_runner().invoke(args=["menus", "seed"])
    assert result.exit_code == 0, result.output
    assert "none new" in result.output
    with app.extensions["database"].session() as session:
        assert session.scalar(select(func.count(MenuVersion.id))) == 1
        assert session.scalar(select(func.count(MenuPublication.id))) == 1


def test_menus_seed_before_the_schema_says_what_to_do(settings, empty_database_url):
    app = create_app(replace(settings, database_url=empty_database_url))
    result = app.test_cli_runner().invoke(args=["menus", "seed"])
    assert result.exit_code == 1
    assert "run `flask --app app db upgrade` first" in result.output
