"""The command-line tools: validate and test trees, and the terminal simulator against a live gateway."""

from __future__ import annotations

import yaml

from app import create_app
from config import Settings
from tests.menus.sample_tree import sample
from tests.support import GatewayServer


def test_menus_validate_and_test_pass_on_the_shipped_trees(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["menus", "validate"])
    assert result.exit_code == 0, result.output
    assert "✓" in result.output and "ecitizen.yaml" in result.output
    result = runner.invoke(args=["menus", "test"])
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output


def test_menus_validate_fails_on_a_broken_tree(app, tmp_path):
    document = sample()
    document["nodes"]["home"]["options"][0]["next"] = "missing"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(document))
    result = app.test_cli_runner().invoke(args=["menus", "validate", str(path)])
    assert result.exit_code == 1
    assert "node 'home': leads to 'missing', which does not exist" in result.output


def test_menus_test_fails_on_a_broken_journey(app, tmp_path):
    (tmp_path / "ecitizen.yaml").write_text(
        (app.extensions["settings"].trees_dir / "ecitizen.yaml").read_text()
    )
    (tmp_path / "ecitizen.journeys.yaml").write_text(
        yaml.safe_dump(
            {
                "tree": "ecitizen",
                "journeys": [{"name": "wrong", "steps": [{"dial": "*384*123#", "expect": "Nope"}]}],
            }
        )
    )
    result = app.test_cli_runner().invoke(args=["menus", "test", str(tmp_path / "ecitizen.yaml")])
    assert result.exit_code == 1
    assert "✗ wrong (step 1): expected 'Nope' on the screen" in result.output


def test_terminal_simulator_dials_over_http(redis_server, redis_client, database_url):
    env = {"REDIS_URL": redis_server.url, "DATABASE_URL": database_url}
    server = GatewayServer(env).start()
    try:
        app = create_app(Settings.from_env(redis_url=redis_server.url, database_url=env["DATABASE_URL"]))
        runner = app.test_cli_runner()
        result = runner.invoke(
            args=["ussd", "dial", "*384*123*7#", "--phone", "0712000111", "--url", server.url],
            input="1\n0\n00\n8\n2\n",
        )
    finally:
        server.stop()
    output = result.output
    assert result.exit_code == 0, output
    assert "│ Help" in output and "│ Support line 0800 221 000" in output
    assert "│ Karibu eCitizen" in output
