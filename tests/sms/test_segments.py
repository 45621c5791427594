import pytest

from sms.segments import GSM7, UCS2, count_segments, is_gsm7, to_gsm7


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("", (GSM7, 1, 0)),
        ("Hello @ £5 ÄÖÑÜ §¿ àèéìòù", (GSM7, 1, 25)),
        ("a" * 160, (GSM7, 1, 160)),
        ("a" * 161, (GSM7, 2, 161)),
        ("a" * 306, (GSM7, 2, 306)),
        ("a" * 307, (GSM7, 3, 307)),
        ("line\nbreak\r", (GSM7, 1, 11)),
    ],
)
def test_gsm7_basic_alphabet(body, expected):
    assert count_segments(body) == expected


@pytest.mark.parametrize("ch", list("€{}[]~^|\\"))
def test_extension_chars_cost_two_septets(ch):
    assert count_segments(ch) == (GSM7, 1, 2)
    assert count_segments("a" * 158 + ch) == (GSM7, 1, 160)
    assert count_segments("a" * 159 + ch) == (GSM7, 2, 161)


def test_escape_sequence_is_not_split_across_parts():
    # 152 + 2 + 152 = 306 septets, but the euro sign cannot straddle parts 1 and 2.
    assert count_segments("a" * 152 + "€" + "a" * 152) == (GSM7, 3, 306)
    assert count_segments("a" * 151 + "€" + "a" * 153) == (GSM7, 2, 306)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("ë", (UCS2, 1, 1)),
        ("ë" * 70, (UCS2, 1, 70)),
        ("ë" * 71, (UCS2, 2, 71)),
        ("ë" * 134, (UCS2, 2, 134)),
        ("ë" * 135, (UCS2, 3, 135)),
        ("Habari 😀", (UCS2, 1, 9)),  # an emoji is a surrogate pair: two UTF-16 units
        ("a" * 69 + "😀", (UCS2, 2, 71)),
        ("Ramadhan ﷺ", (UCS2, 1, 10)),
        ("ĉ" + "a" * 159, (UCS2, 3, 160)),  # one non-GSM character makes the whole body UCS-2
    ],
)
def test_ucs2(body, expected):
    assert count_segments(body) == expected


def test_surrogate_pair_is_not_split_across_parts():
    assert count_segments("a" * 66 + "😀" + "a" * 66) == (UCS2, 3, 134)


def test_is_gsm7():
    assert is_gsm7("Karibu eCitizen {x} €")
    assert not is_gsm7("Zoë")
    assert not is_gsm7("\x1b")  # the escape code is not a character


def test_to_gsm7_keeps_gsm_and_replaces_the_rest():
    assert to_gsm7("Wanjiru Kamau-Ötieno") == "Wanjiru Kamau-Ötieno"
    assert to_gsm7("Zoë’s “form” — ok…") == 'Zoe\'s "form" - ok...'
    assert to_gsm7("Łukasz 😀") == "?ukasz ?"
    assert is_gsm7(to_gsm7("ĉ ŝ ŭ ñ ç ø"))
