"""The console's measurement is the engine's rendering: for every screen of the shipped tree, in both
languages, with and without the wrong-key notice, the pages measured equal the pages the engine sends."""

from __future__ import annotations

import copy

from config import Settings
from console.measure import measure_node
from menus.engine import Engine, SessionState
from menus.loader import load_tree_file
from menus.validator import SAMPLE_LABEL_LEN, SAMPLE_VALUE_LEN, _placeholders, sample_items


def test_measure_equals_the_engine_for_every_screen():
    tree = load_tree_file(Settings().trees_dir / "ecitizen.yaml")
    engine = Engine(tree, screen_limit=160)
    sample = {key: "X" * SAMPLE_VALUE_LEN for key in _placeholders(tree)}
    measured = 0
    for node in tree.nodes.values():
        if node.kind == "action":
            continue
        result = measure_node(tree.source, node.id, tree.source["nodes"][node.id], 160)
        for lang in ("en", "sw"):
            state = SessionState(tree.id, tree.version, node.id, lang, answers=dict(sample))
            if node.kind == "list":
                state.items = sample_items(node.label_max or SAMPLE_LABEL_LEN)
            figures = result["languages"][lang]
            assert figures["pages"] == engine._pages(state), (node.id, lang)
            notice = tree.string("invalid", lang)
            assert figures["notice_pages"] == engine._pages(state, notice=notice), (node.id, lang)
            measured += 1
    assert measured > 80


def test_the_wrong_key_notice_counts_and_warns():
    tree = load_tree_file(Settings().trees_dir / "ecitizen.yaml")
    main = measure_node(tree.source, "main", tree.source["nodes"]["main"], 160)["languages"]["en"]
    assert len(main["pages"]) == 1 and len(main["notice_pages"]) == 2
    assert main["notice_pages"][0].endswith("98 More") and "8. Language" in main["notice_pages"][1]
    assert main["worst_chars"] <= 160 and not main["over"]
    assert main["warnings"] and "option 8" in main["warnings"][0]


def test_an_unsaved_node_that_does_not_compile_is_measured():
    tree = load_tree_file(Settings().trees_dir / "ecitizen.yaml")
    node = copy.deepcopy(tree.source["nodes"]["help"])
    node["options"].append({"label": {"en": "A new topic"}})  # no 'sw', no 'next' yet
    english = measure_node(tree.source, "help", node, 160)["languages"]["en"]
    assert f"{len(node['options'])}. A new topic" in "".join(english["pages"])
