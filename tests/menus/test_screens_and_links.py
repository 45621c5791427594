"""The shared pieces the console relies on: one link rule and one reachability rule for the validator
and the graph, the warnings a screen can earn, and a validator where no problem hides another."""

from __future__ import annotations

import copy
from collections import Counter

import pytest

from citizen.actions import ACTION_NAMES
from config import Settings
from menus.engine import Engine
from menus.loader import load_tree_file
from menus.validator import links, reachable, screen_warnings, validate_document


@pytest.fixture(scope="module")
def shipped():
    return load_tree_file(Settings().trees_dir / "ecitizen.yaml")


def test_links_are_the_compiled_nodes_targets(shipped):
    for node_id, raw in shipped.source["nodes"].items():
        assert Counter(link.target for link in links(raw)) == Counter(shipped.nodes[node_id].targets())


def test_links_name_their_kind_and_label(shipped):
    kinds = {(link.kind, link.label, link.target) for link in links(shipped.source["nodes"]["reg_check"])}
    assert ("error", "not_registered", "reg_id") in kinds
    assert ("failure", "failure", "sorry") in kinds
    assert ("option", "3", "track_ref") in {
        (k.kind, k.label, k.target) for k in links(shipped.source["nodes"]["main"])
    }


def test_reachability_follows_error_routes_and_is_the_validators(shipped):
    assert reachable(shipped.source) == set(shipped.nodes), "every shipped node is reached"
    document = copy.deepcopy(shipped.source)
    document["nodes"]["reg_check"]["errors"].pop("not_registered")
    document["nodes"]["need_register"]["options"][0]["next"] = "main"
    cut = set(document["nodes"]) - reachable(document)
    assert {"reg_id", "reg_first", "reg_pin2", "reg_submit"} <= cut
    _, problems = validate_document(document, 160, set(ACTION_NAMES))
    assert {p.node for p in problems if p.message == "cannot be reached from the start"} == cut


def test_a_half_edited_node_still_has_links():
    node = {"kind": "menu", "options": [{"next": "a"}, "junk", {"label": {}}], "errors": {"x": "b", "y": 3}}
    assert [(link.target, link.kind) for link in links(node)] == [("a", "option"), ("b", "error")]


def test_the_main_menu_after_a_wrong_key_is_warned_about_as_the_engine_renders_it(shipped):
    warnings = [w for w in screen_warnings(shipped, 160) if w.node == "main"]
    assert len(warnings) == 1 and warnings[0].severity == "warning"
    assert (
        "'en' after a wrong key" in warnings[0].message and "option 8 behind '98 More'" in warnings[0].message
    )
    engine = Engine(shipped, screen_limit=160)
    state = engine.new_state("en")
    engine.start(state)
    screen = engine.step(state, "9").screen.body
    assert screen.startswith("Invalid entry, try again.") and screen.endswith("98 More")
    assert "8. Language" not in screen and "7. Help" in screen


def test_a_mid_sentence_page_break_is_a_warning_and_a_clean_break_is_not(shipped):
    document = copy.deepcopy(shipped.source)
    long = "Bring your ID card and the reference number to any Huduma Centre near you. " * 3
    document["nodes"]["help_pay"]["text"]["en"] = long.strip()
    tree, problems = validate_document(document, 160, set(ACTION_NAMES))
    assert not problems, "a warning is not a problem that blocks publishing"
    found = [w.message for w in screen_warnings(tree, 160) if w.node == "help_pay"]
    assert any("'en' text breaks mid-sentence between pages 1 and 2" in m for m in found), found
    document["nodes"]["help_pay"]["text"]["en"] = "Bring your ID card.\n" * 8
    tree, _ = validate_document(document, 160, set(ACTION_NAMES))
    assert not [w for w in screen_warnings(tree, 160) if w.node == "help_pay" and "mid-sentence" in w.message]


def test_no_problem_masks_another(shipped):
    document = copy.deepcopy(shipped.source)
    document["nodes"]["help"]["text"]["en"] = "word " * 200  # schema: over 600 characters
    document["nodes"]["main"]["options"][6]["next"] = "nowhere"  # dangling
    document["nodes"]["help_pay"]["text"]["sw"] = "  "  # missing translation
    document["nodes"]["track_ref"]["text"]["en"] = "Enter the reference " * 10  # prompt over one screen
    tree, problems = validate_document(document, 160, set(ACTION_NAMES))
    assert tree is None
    by_node = {(p.node, p.message.split(":")[0]) for p in problems}
    assert ("help", "is too long") in by_node
    assert ("main", "leads to 'nowhere', which does not exist") in by_node
    assert ("help_pay", "text has no 'sw' text") in by_node
    assert any(p.node == "track_ref" and "must fit one screen" in p.message for p in problems)
    long = next(p for p in problems if p.node == "help")
    assert "1,000 characters, the limit is 600" in long.message and len(long.message) < 120
    assert not [p for p in problems if p.node == "help" and p is not long], "a stand-in says nothing"
