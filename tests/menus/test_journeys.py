"""Every tree's journey file runs here, so `make test` fails when a dialogue breaks."""

from __future__ import annotations

import pytest

from config import Settings
from menus.journeys import journeys_path, load_journeys, run_journey, split_dial
from menus.loader import load_tree_file, tree_files

CASES = []
for tree_path in tree_files(Settings().trees_dir):
    path = journeys_path(tree_path)
    if path.exists():
        for journey in load_journeys(path)["journeys"]:
            CASES.append(pytest.param(tree_path, journey, id=f"{tree_path.stem}: {journey['name']}"))


@pytest.mark.parametrize(("tree_path", "journey"), CASES)
def test_journey(tree_path, journey):
    failure = run_journey(load_tree_file(tree_path), journey)
    assert failure is None, str(failure)


def test_every_tree_has_journeys():
    for tree_path in tree_files(Settings().trees_dir):
        assert journeys_path(tree_path).exists(), f"{tree_path.name} needs a journey file"


def test_a_wrong_expectation_fails():
    tree = load_tree_file(tree_files(Settings().trees_dir)[0])
    failure = run_journey(tree, {"name": "x", "steps": [{"dial": "*384*123#", "expect": "Nonsense"}]})
    assert failure is not None and "expected 'Nonsense'" in failure.message


def test_split_dial():
    assert split_dial("*384*123#", ("*384*123#",)) == ("*384*123#", [])
    assert split_dial("*384*123*3*1#", ("*384*123#",)) == ("*384*123#", ["3", "1"])
    with pytest.raises(ValueError):
        split_dial("*999#", ("*384*123#",))
