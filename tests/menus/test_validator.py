from __future__ import annotations

from menus.loader import TreeError, build_tree, load_tree_file, parse_yaml, tree_files
from menus.validator import validate_document, validate_tree
from tests.menus.sample_tree import sample

KNOWN = {"register", "list_services"}


def messages(document, limit=160, known=KNOWN):
    _, problems = validate_document(document, limit, known)
    return [(p.node, p.message) for p in problems]


def test_the_sample_tree_is_clean():
    assert messages(sample()) == []


def test_every_shipped_tree_is_clean_in_both_languages():
    from citizen.actions import ACTION_NAMES
    from config import Settings

    for path in tree_files(Settings().trees_dir):
        tree = load_tree_file(path)
        assert validate_tree(tree, 160, set(ACTION_NAMES)) == [], path


def test_overflow_is_reported_at_the_node_with_its_language():
    document = sample()
    document["nodes"]["home"]["options"][0]["label"]["sw"] = "Jisajili " + "sana " * 40
    found = messages(document)
    assert any(node == "home" and "'sw' option 1 is" in msg for node, msg in found)


def test_a_prompt_that_no_longer_fits_one_screen():
    document = sample()
    document["nodes"]["pin"]["text"]["en"] = "Enter PIN " + "please " * 20
    found = messages(document)
    assert any(node == "pin" and "'en' prompt needs" in msg for node, msg in found)


def test_a_smaller_limit_finds_more_overflows():
    assert messages(sample(), limit=160) == []
    assert any("over the 60 limit" in msg or "60-character" in msg for _, msg in messages(sample(), limit=60))


def test_dangling_reference():
    document = sample()
    document["nodes"]["home"]["options"][1]["next"] = "nowhere"
    assert ("home", "leads to 'nowhere', which does not exist") in messages(document)


def test_unreachable_node():
    document = sample()
    document["nodes"]["orphan"] = {"kind": "end", "text": {"en": "Alone", "sw": "Peke yake"}}
    assert ("orphan", "cannot be reached from the start") in messages(document)


def test_missing_translation():
    document = sample()
    del document["nodes"]["pin"]["text"]["sw"]
    assert ("pin", "text has no 'sw' text") in messages(document)


def test_unknown_action():
    assert ("save", "unknown action 'register'") in messages(sample(), known={"list_services"})


def test_schema_errors_point_at_the_node():
    document = sample()
    document["nodes"]["pin"]["kind"] = "telepathy"
    found = messages(document)
    assert found and found[0][0] == "pin"


def test_action_loop_is_refused():
    document = sample()
    document["nodes"]["save"]["failure"] = "save"
    assert ("save", "actions lead back to this action without a screen") in messages(document)


def test_bad_yaml_is_a_tree_error():
    try:
        parse_yaml("id: [unclosed")
    except TreeError as exc:
        assert "not valid YAML" in str(exc)
    else:
        raise AssertionError("expected TreeError")


def test_version_is_a_content_hash():
    assert build_tree(sample()).version == build_tree(sample()).version
    changed = sample()
    changed["title"] = "Other"
    assert build_tree(changed).version != build_tree(sample()).version
