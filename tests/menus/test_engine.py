from __future__ import annotations

from datetime import date

import pytest

from menus.effects import SetLanguage
from menus.engine import ActionResult, Engine
from menus.loader import build_tree
from tests.menus.sample_tree import sample

TODAY = date(2026, 11, 28)
SERVICES = [
    {"id": f"S{i}", "label": {"en": f"Service number {i}", "sw": f"Huduma nambari {i}"}} for i in range(1, 31)
]


class Actions:
    def __init__(self, **results: ActionResult) -> None:
        self.results = results
        self.calls: list[tuple[str, dict]] = []

    def __call__(self, name, params, lang):
        self.calls.append((name, dict(params)))
        return self.results.get(name, ActionResult(ok=False, error="down"))


def make(actions: Actions | None = None, limit: int = 160) -> tuple[Engine, Actions]:
    actions = actions or Actions()
    return Engine(build_tree(sample()), actions, screen_limit=limit, today=lambda: TODAY), actions


def test_start_shows_the_root_menu_without_navigation_line():
    engine, _ = make()
    state = engine.new_state("en")
    result = engine.start(state)
    assert result.screen.body == "Sample home\n1. Register\n2. Services\n3. Kiswahili\n4. Long info"
    assert not result.screen.final


def test_input_chain_runs_the_action_and_fills_placeholders_but_masks_secrets():
    actions = Actions(register=ActionResult(ok=True, data={"reference": "ECZ-7K3Q9P"}))
    engine, actions = make(actions)
    state = engine.new_state("en")
    engine.start(state)
    for key in ["1", "12345678", "01/02/1990", "4821"]:
        engine.step(state, key)
    result = engine.step(state, "4821")
    assert result.screen.final
    assert result.screen.body == "Registered ID ****, born 01/02/1990. Ref ECZ-7K3Q9P"
    assert actions.calls[0][0] == "register"
    assert actions.calls[0][1]["pin"] == "4821"
    assert set(state.secrets) == {"national_id", "pin", "pin2"}


@pytest.mark.parametrize(
    ("path", "bad", "reason"),
    [
        (["1"], "123", "ID number has 7 or 8 digits."),
        (["1"], "12345abc", "ID number has 7 or 8 digits."),
        (["1", "1234567"], "31/02/1990", "Use DD/MM/YYYY."),
        (["1", "1234567"], "01/01/2020", "Check the year of birth."),
        (["1", "1234567"], "01/01/1890", "Check the year of birth."),
        (["1", "1234567", "01/01/1990"], "12a4", "PIN has 4 digits."),
        (["1", "1234567", "01/01/1990"], "1234", "PIN too easy to guess."),
        (["1", "1234567", "01/01/1990", "4821"], "4822", "PINs do not match."),
        (["2", "1"], "5", "Enter a valid amount."),
        (["2", "1"], "99999999", "Enter a valid amount."),
    ],
)
def test_invalid_input_repeats_the_prompt_with_a_reason(path, bad, reason):
    engine, _ = make(Actions(list_services=ActionResult(ok=True, data={"items": SERVICES})))
    state = engine.new_state("en")
    engine.start(state)
    for key in path:
        engine.step(state, key)
    node = state.node
    result = engine.step(state, bad)
    assert result.outcome == "invalid"
    assert result.screen.body.startswith(reason)
    assert state.node == node


def test_three_invalid_entries_go_home_with_a_notice():
    engine, _ = make()
    state = engine.new_state("sw")
    engine.start(state)
    engine.step(state, "1")
    engine.step(state, "x")
    engine.step(state, "y")
    result = engine.step(state, "z")
    assert result.screen.body.startswith("Majaribio mengi yasiyo sahihi.\nMwanzo wa mfano")
    assert state.node == "home" and state.stack == []


def test_back_home_and_language_effect():
    engine, _ = make()
    state = engine.new_state("en")
    engine.start(state)
    engine.step(state, "1")
    assert engine.step(state, "1234567").screen.body.startswith("Date of birth")
    assert engine.step(state, "0").screen.body.startswith("Enter your national ID number")
    assert engine.step(state, "00").screen.body.startswith("Sample home")
    result = engine.step(state, "3")
    assert result.effects == (SetLanguage("sw"),)
    assert result.screen.body.startswith("Mwanzo wa mfano\n1. Jisajili")
    assert state.lang == "sw"


def test_long_lists_page_with_98_and_every_page_fits():
    engine, _ = make(Actions(list_services=ActionResult(ok=True, data={"items": SERVICES})), limit=160)
    state = engine.new_state("en")
    engine.start(state)
    first = engine.step(state, "2").screen.body
    assert first.startswith("Choose a service\n1. Service number 1")
    assert first.endswith("98 More\n0 Back 00 Home")
    seen = [first]
    while "98 More" in seen[-1]:
        seen.append(engine.step(state, "98").screen.body)
    assert all(len(page) + 4 <= 160 for page in seen)
    numbered = [line for page in seen for line in page.split("\n") if line[:1].isdigit() and ". " in line]
    assert [line.split(". ")[0] for line in numbered] == [str(i) for i in range(1, 31)]
    # 0 on a later page goes to the previous page, not the previous node
    assert engine.step(state, "0").screen.body == seen[-2]
    # option numbers keep counting across pages
    result = engine.step(state, "30")
    assert result.screen.body == "Service number 30: amount\n0 Back 00 Home"
    assert state.answers["service"] == "S30"


def test_list_failure_and_empty_branches():
    engine, _ = make(Actions())
    state = engine.new_state("en")
    engine.start(state)
    assert engine.step(state, "2").screen.body == "Could not register: down"
    engine, _ = make(Actions(list_services=ActionResult(ok=True, data={"items": []})))
    state = engine.new_state("en")
    engine.start(state)
    assert engine.step(state, "2").screen.body == "No services"


def test_long_end_text_pages_and_only_the_last_page_ends():
    engine, _ = make()
    state = engine.new_state("en")
    engine.start(state)
    first = engine.step(state, "4").screen
    assert not first.final and first.body.endswith("98 More")
    assert engine.step(state, "5").outcome == "invalid"
    last = engine.step(state, "98").screen
    while not last.final:
        last = engine.step(state, "98").screen
    assert last.final and "Word" in last.body


def test_a_runner_that_raises_takes_the_failure_branch():
    def broken(name, params, lang):
        raise RuntimeError("bug")

    engine = Engine(build_tree(sample()), broken, today=lambda: TODAY)
    state = engine.new_state("en")
    engine.start(state)
    assert engine.step(state, "2").screen.body.startswith("Could not register: action list_services raised")


def test_menu_options_can_store_a_value_and_errors_route_by_code():
    document = sample()
    document["nodes"]["home"]["store"] = "choice"
    document["nodes"]["home"]["options"][1]["value"] = "services"
    document["nodes"]["save"]["errors"] = {"wrong_pin": "pin"}
    tree = build_tree(document)
    actions = Actions(register=ActionResult(ok=False, error="wrong_pin", data={"attempts_left": 2}))
    engine = Engine(tree, actions, today=lambda: TODAY)
    state = engine.new_state("en")
    engine.start(state)
    engine.step(state, "1")
    assert state.answers["choice"] == "1"
    for key in ["1234567", "01/01/1990", "4821"]:
        engine.step(state, key)
    result = engine.step(state, "4821")
    assert state.node == "pin" and result.screen.body.startswith("Enter PIN")
    assert state.answers["attempts_left"] == "2" and state.answers["error"] == "wrong_pin"
    engine.step(state, "00")
    engine.step(state, "2")
    assert state.answers["choice"] == "services"


# ---- audiences, the start action, shortcuts, list widths --------------------------------------


def audience_tree(**changes):
    """The sample tree with a start action and two audiences: members do not see Register."""
    document = sample(on_start="who", audiences=["guest", "member"], **changes)
    home = document["nodes"]["home"]
    home["audience_text"] = {"member": {"en": "Hello {first_name}", "sw": "Habari {first_name}"}}
    home["options"][0]["audiences"] = ["guest"]
    return build_tree(document)


def test_the_start_action_runs_once_and_picks_the_audience():
    actions = Actions(who=ActionResult(ok=True, data={"audience": "member", "first_name": "Amina"}))
    engine = Engine(audience_tree(), actions, today=lambda: TODAY)
    state = engine.new_state("en")
    first = engine.start(state).screen.body
    # numbers stay what they are for everyone: Services is 2 even with Register hidden
    assert first == "Hello Amina\n2. Services\n3. Kiswahili\n4. Long info"
    refused = engine.step(state, "1").screen.body
    assert refused.startswith("Invalid entry, try again.\nHello Amina\n2. Services")
    engine.step(state, "4")
    assert engine.step(state, "0").screen.body.startswith("Hello Amina")  # home again: no second lookup
    assert [name for name, _ in actions.calls] == ["who"]


def test_a_failing_start_action_shows_the_first_audiences_screen():
    engine = Engine(audience_tree(), Actions(), today=lambda: TODAY)  # every action fails
    state = engine.new_state("sw")
    first = engine.start(state).screen.body
    assert first == "Mwanzo wa mfano\n1. Jisajili\n2. Huduma\n3. Kiswahili\n4. Habari ndefu"


def test_static_screens_are_kept_apart_per_audience():
    pages: dict = {}
    tree = audience_tree()
    tree.nodes["home"].audience_text["member"] = {"en": "Members", "sw": "Wanachama"}
    guest = Engine(tree, Actions(who=ActionResult(ok=True, data={"audience": "guest"})), static_pages=pages)
    member = Engine(tree, Actions(who=ActionResult(ok=True, data={"audience": "member"})), static_pages=pages)
    assert guest.start(guest.new_state("en")).screen.body.startswith("Sample home\n1. Register")
    assert member.start(member.new_state("en")).screen.body.startswith("Members\n2. Services")
    assert guest.start(guest.new_state("en")).screen.body.startswith("Sample home\n1. Register")


def test_a_shortcut_takes_a_typed_code_besides_the_numbers():
    document = sample()
    shortcut = {"pattern": "[1-9][0-9]{2}", "store": "code", "next": "amount"}
    document["nodes"]["services"]["shortcut"] = shortcut
    document["nodes"]["services"]["label_max"] = 10
    actions = Actions(list_services=ActionResult(ok=True, data={"items": SERVICES}))
    engine = Engine(build_tree(document), actions, today=lambda: TODAY)
    state = engine.new_state("en")
    engine.start(state)
    listed = engine.step(state, "2").screen.body
    assert "1. Service n." in listed and "Service number 1" not in listed  # labels cut to 10
    # a number is still a choice, and the answer keeps the whole label
    assert engine.step(state, "12").screen.body.startswith("Service number 12: amount")
    engine.step(state, "0")
    result = engine.step(state, "501")
    assert result.outcome == "option" and state.node == "amount" and state.answers["code"] == "501"
    engine.step(state, "0")
    assert engine.step(state, "5012").outcome == "invalid"  # neither a number shown nor a code


def test_a_chosen_items_data_joins_the_answers():
    items = [{"id": "A1", "label": "First", "data": {"amount_due": "1,050"}}]
    engine, _ = make(Actions(list_services=ActionResult(ok=True, data={"items": items})))
    state = engine.new_state("en")
    engine.start(state)
    engine.step(state, "2")
    engine.step(state, "1")
    assert state.answers["service"] == "A1" and state.answers["amount_due"] == "1,050"


@pytest.mark.parametrize(
    ("typed", "kept"),
    [("Ng'ang'a", "Ng'ang'a"), ("  Mary-Anne  ", "Mary-Anne"), ("Ole  Sankale", "Ole Sankale"),
     ("Nyambura\u2019s", "Nyambura's"), ("Müller", "Müller"), ("2580", None), ("W4njiku", None),
     ("Wa_njiku", None), ("-Anne", None), ("A", None), ("Mary--Anne", None)],
)  # fmt: skip
def test_a_name_is_letters_with_single_spaces_hyphens_or_apostrophes(typed, kept):
    from menus.inputs import check_input
    from menus.model import InputSpec

    checked = check_input(InputSpec(type="name", max=40), typed, {}, TODAY)
    assert (checked.value, checked.error) == ((kept, None) if kept else (None, "bad_name"))
