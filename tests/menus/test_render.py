from __future__ import annotations

import random

import pytest

from menus.render import PREFIX_LEN, paginate


@pytest.mark.parametrize("limit", [60, 120, 160, 182])
@pytest.mark.parametrize("seed", range(20))
def test_every_page_fits_and_no_text_is_lost(limit, seed):
    rng = random.Random(seed)
    words = [
        "Cheti",
        "cha",
        "Maadili",
        "Mema",
        "eCitizen",
        "application",
        "Kuhuisha",
        "Leseni",
        "ya",
        "Udereva",
    ]
    blocks = [
        " ".join(rng.choice(words) for _ in range(rng.randint(1, 30))) for _ in range(rng.randint(1, 15))
    ]
    pages = paginate(blocks, "0 Back 00 Home", "98 More", limit)
    assert all(len(page) + PREFIX_LEN <= limit for page in pages)
    assert all(page.endswith("0 Back 00 Home") for page in pages)
    assert all(page.endswith("98 More\n0 Back 00 Home") for page in pages[:-1])
    text = " ".join(
        line for page in pages for line in page.split("\n") if line not in ("98 More", "0 Back 00 Home")
    ).split()
    assert text == " ".join(blocks).split()


def test_short_screen_is_one_page():
    assert paginate(["Hello", "1. One"], "", "98 More", 160) == ["Hello\n1. One"]


def test_a_word_longer_than_a_page_is_cut_not_overflowed():
    pages = paginate(["x" * 400], "", "98 More", 100)
    assert all(len(p) + PREFIX_LEN <= 100 for p in pages)
    assert "".join(p.replace("\n98 More", "") for p in pages) == "x" * 400
