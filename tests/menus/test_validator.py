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


def audiences(**changes):
    document = sample(audiences=["guest", "member"], **changes)
    document["nodes"]["home"]["options"][0]["audiences"] = ["guest"]
    return document


def test_audiences_a_node_names_must_be_the_trees():
    document = audiences()
    document["nodes"]["home"]["options"][1]["audiences"] = ["vip"]
    assert ("home", "audience 'vip' is not one of the tree's audiences") in messages(document)


def test_every_audience_must_see_an_option_of_a_menu():
    document = audiences()
    for option in document["nodes"]["home"]["options"]:
        option["audiences"] = ["guest"]
    assert ("home", "audience 'member' sees no option") in messages(document)


def test_each_audiences_screen_is_measured():
    document = audiences()
    document["nodes"]["pin"]["audience_text"] = {"member": {"en": "Enter PIN " * 14, "sw": "Weka PIN"}}
    found = messages(document)
    assert any(node == "pin" and "'en' for 'member' prompt needs" in msg for node, msg in found), found
    assert not any("for 'guest'" in msg or "'sw'" in msg for _, msg in found)


def test_the_start_action_and_shortcut_are_checked():
    document = sample(on_start="who")
    assert (None, "on_start names unknown action 'who'") in messages(document)
    document["nodes"]["services"]["shortcut"] = {"pattern": "[0-9", "store": "code", "next": "nowhere"}
    found = messages(document)
    assert ("services", "leads to 'nowhere', which does not exist") in found
    assert any(node == "services" and "shortcut pattern does not compile" in msg for node, msg in found)


def test_a_list_that_shows_fewer_than_four_items_a_page_is_warned_about():
    from menus.validator import tree_warnings

    tree = build_tree(sample())
    assert tree_warnings(tree) == []  # 24-character labels: four fit
    document = sample()
    document["nodes"]["services"]["text"]["en"] = "Choose one of the services we offer"
    warned = tree_warnings(build_tree(document))
    assert [(w.node, w.message) for w in warned] == [
        ("services", "'en' first page shows 3 of 12 choices, with labels of 24 characters; aim for 4 or more")
    ]
    document["nodes"]["services"]["label_max"] = 18  # shorter labels: four fit again
    assert tree_warnings(build_tree(document)) == []
    # a warning is not a problem: the tree may still be published
    assert messages(document) == []


def test_the_shipped_tree_has_no_warnings():
    from citizen.actions import ACTION_NAMES
    from config import Settings
    from menus.validator import tree_warnings

    for path in tree_files(Settings().trees_dir):
        tree = load_tree_file(path)
        assert tree_warnings(tree) == [], path
        assert validate_tree(tree, 160, set(ACTION_NAMES)) == []


def test_the_schema_check_remembers_a_document_as_it_was_not_as_it_becomes():
    from menus.loader import schema_problems

    document = sample()
    assert schema_problems(document) == []
    document["nodes"]["home"]["kind"] = "teleport"  # changed after it was checked once
    assert any(p.node == "home" for p in schema_problems(document))
    assert schema_problems(sample()) == []


def test_the_schema_check_tells_a_number_from_a_text():
    from menus.loader import schema_problems

    as_text = {**sample(), "title": "1"}
    as_number = {**sample(), "title": 1}
    assert schema_problems(as_text) == []
    assert [p.path for p in schema_problems(as_number)] == ["title"]


def test_a_yaml_file_read_twice_is_two_copies_and_a_changed_file_is_read_again(tmp_path):
    import os

    from menus.loader import read_yaml_file

    path = tmp_path / "tree.yaml"
    path.write_text("title: First\nnodes: {a: 1}\n", encoding="utf-8")
    first = read_yaml_file(path)
    first["nodes"]["a"] = 99  # a caller's change stays with that caller
    assert read_yaml_file(path) == {"title": "First", "nodes": {"a": 1}}
    path.write_text("title: Second\nnodes: {a: 2}\n", encoding="utf-8")
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 1_000_000))  # even within the clock's tick
    assert read_yaml_file(path) == {"title": "Second", "nodes": {"a": 2}}


def test_checks_are_remembered_per_content_never_across_a_change():
    document = sample()
    assert messages(document) == [] and messages(document) == []
    document["nodes"]["home"]["options"][0]["label"]["sw"] = "Jisajili " + "sana " * 40
    assert any(node == "home" for node, _ in messages(document))  # the edit is checked, not recalled
    assert messages(document, limit=500) == []  # another screen limit is another check
    assert any("unknown action" in msg for _, msg in messages(sample(), known=set()))  # other actions too
    problems = validate_document(document, 160, KNOWN)[1]
    problems.clear()  # a caller's list is its own
    assert messages(document)
