"""The stand-in national population register: synthetic people the core checks registrations
against, in a store of its own (`CORE_REGISTER_URL`, default `var/register.db`), apart from the
core's application records.

The people are generated from a seeded RNG, so every laptop and CI run has the same register;
nothing is downloaded. A real deployment replaces this module with a call to the state's register
(IPRS in Kenya): the core only needs `PopulationRegister.match()` and, in development, `sample()`.
"""

from __future__ import annotations

import os
import random
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Column, Date, Engine, MetaData, String, Table, delete, func, insert, select

from stand_ins.core_service.db import make_engine, sqlite_path

# Bump when the generator changes, so an old register file is rebuilt rather than half-matched.
FORMAT = "1"
DEFAULT_SEED = 254
DEFAULT_SIZE = 10_000
# Everyone in the register is an adult for as long as this code lives (born 1945-2005).
BORN_FROM, BORN_TO = date(1945, 1, 1), date(2005, 12, 31)

FIRST_NAMES = (
    "Wanjiku", "Wambui", "Njeri", "Nyambura", "Wairimu", "Wangari", "Muthoni", "Nyokabi", "Akinyi",
    "Atieno", "Achieng", "Adhiambo", "Awino", "Anyango", "Nafula", "Nekesa", "Naliaka", "Nasimiyu",
    "Chebet", "Jepkosgei", "Jeptoo", "Cherono", "Chepkoech", "Mwende", "Mutheu", "Ndinda", "Kanini",
    "Moraa", "Kemunto", "Nyaboke", "Kawira", "Makena", "Kendi", "Zawadi", "Rehema", "Amina", "Halima",
    "Fatuma", "Naisimoi", "Grace", "Faith", "Mercy", "Joy", "Esther", "Mary", "Lucy", "Ann", "Beatrice",
    "Kamau", "Mwangi", "Njoroge", "Kariuki", "Githinji", "Maina", "Gitau", "Otieno", "Ochieng", "Odhiambo",
    "Onyango", "Omondi", "Owino", "Wafula", "Wanyama", "Barasa", "Simiyu", "Kiprop", "Kiptoo", "Kipchumba",
    "Cheruiyot", "Rotich", "Mutua", "Musyoka", "Kioko", "Nyamweya", "Ombati", "Mugambi", "Murithi",
    "Baraka", "Juma", "Hassan", "Abdi", "Salim", "Lemayian", "Peter", "John", "James", "Joseph", "David",
    "Daniel", "Samuel", "Brian", "Kevin", "Dennis",
)  # fmt: skip
LAST_NAMES = (
    "Kamau", "Mwangi", "Njoroge", "Kariuki", "Wanjiru", "Githinji", "Kimani", "Ndungu", "Macharia",
    "Waweru", "Gachanja", "Muriuki", "Otieno", "Ochieng", "Odhiambo", "Onyango", "Omondi", "Owino",
    "Okoth", "Oduor", "Awuor", "Ouma", "Wafula", "Wanyama", "Barasa", "Simiyu", "Wekesa", "Makokha",
    "Namayi", "Khaemba", "Kiprop", "Kiptoo", "Koech", "Kirui", "Langat", "Rotich", "Cheruiyot", "Ruto",
    "Kosgei", "Tanui", "Mutua", "Musyoka", "Kioko", "Mutiso", "Nzioka", "Wambua", "Ndambuki", "Nyamweya",
    "Ombati", "Onsongo", "Nyakundi", "Mogaka", "Mugambi", "Murithi", "Kirimi", "Mutuma", "Gitonga",
    "Baya", "Kahindi", "Charo", "Mwamburi", "Katana", "Abdi", "Hussein", "Mohamed", "Ali", "Lekishon",
    "Ole Sankale", "Lemayian", "Ekiru", "Lokwang", "Ekai", "Juma", "Salim", "Hamisi",
)  # fmt: skip

metadata = MetaData()
people = Table(
    "people",
    metadata,
    Column("national_id", String(8), primary_key=True),
    Column("first_name", String(40), nullable=False),
    Column("last_name", String(40), nullable=False),
    Column("date_of_birth", Date, nullable=False),
)
register_info = Table(
    "register_info",
    metadata,
    Column("key", String(20), primary_key=True),
    Column("value", String(40), nullable=False),
)


@dataclass(frozen=True)
class Person:
    """One person as the register knows them."""

    national_id: str
    first_name: str
    last_name: str
    date_of_birth: date

    def to_json(self) -> dict[str, str]:
        return {
            "national_id": self.national_id,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "date_of_birth": self.date_of_birth.isoformat(),
        }


def name_key(name: str) -> str:
    """What two spellings of a name must share to match: letters only, compared without case or
    accents, so 'ole sankale', 'Ole  Sankale' and 'OLE-SANKALE' are one name."""
    folded = unicodedata.normalize("NFKD", name).casefold()
    return "".join(ch for ch in folded if ch.isalpha())


def generate(seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE) -> Iterator[Person]:
    """`size` people with distinct 8-digit national IDs; the same seed and size give the same people."""
    rng = random.Random(seed)
    span = (BORN_TO - BORN_FROM).days
    for number in rng.sample(range(10_000_000, 100_000_000), size):
        yield Person(
            national_id=str(number),
            first_name=rng.choice(FIRST_NAMES),
            last_name=rng.choice(LAST_NAMES),
            date_of_birth=BORN_FROM + timedelta(days=rng.randrange(span + 1)),
        )


def _wanted(seed: int, size: int) -> dict[str, str]:
    return {"format": FORMAT, "seed": str(seed), "size": str(size)}


def _fill(engine: Engine, seed: int, size: int) -> None:
    """Create the tables and write the people, in one transaction (a crash leaves no half register:
    the info rows that say it is complete are written with them)."""
    metadata.create_all(engine)
    rows = [
        {"national_id": p.national_id, "first_name": p.first_name, "last_name": p.last_name,
         "date_of_birth": p.date_of_birth}
        for p in generate(seed, size)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(delete(register_info))
        conn.execute(delete(people))
        conn.execute(insert(people), rows)
        conn.execute(insert(register_info), [{"key": k, "value": v} for k, v in _wanted(seed, size).items()])


def _is_complete(engine: Engine, seed: int, size: int) -> bool:
    metadata.create_all(engine)
    with engine.connect() as conn:
        info = dict(conn.execute(select(register_info.c.key, register_info.c.value)).all())
    return info == _wanted(seed, size)


class PopulationRegister:
    """Read access to the register. Thread-safe (one engine, a connection per call)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, seed: int = DEFAULT_SEED, size: int = DEFAULT_SIZE) -> PopulationRegister:
        """The register at `url`, generated first if it is missing or was made by other settings.

        A SQLite register is built in a temporary file and renamed into place, so a second process
        starting at the same moment sees either no register or a whole one.
        """
        path = sqlite_path(url)
        # read-mostly: no WAL, so no -wal/-shm files beside it
        engine = make_engine(url, wal=False)
        if _is_complete(engine, seed, size):
            return cls(engine)
        if path is None:
            _fill(engine, seed, size)
            return cls(engine)
        engine.dispose()
        scratch = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        scratch.unlink(missing_ok=True)
        scratch_engine = make_engine(f"sqlite:///{scratch}", wal=False)
        try:
            _fill(scratch_engine, seed, size)
        finally:
            scratch_engine.dispose()
        _replace(scratch, path)
        return cls(make_engine(url, wal=False))

    def close(self) -> None:
        self.engine.dispose()

    def find(self, national_id: str) -> Person | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(people).where(people.c.national_id == national_id)).first()
        return None if row is None else Person(**row._mapping)

    def match(self, national_id: str, first_name: str, last_name: str, date_of_birth: date) -> Person | None:
        """The person with this ID if the names (see `name_key`) and date of birth agree, else None."""
        person = self.find(national_id)
        if (
            person is None
            or person.date_of_birth != date_of_birth
            or name_key(person.first_name) != name_key(first_name)
            or name_key(person.last_name) != name_key(last_name)
        ):
            return None
        return person

    def sample(self, n: int, skip: Callable[[Iterable[str]], set[str]] | None = None) -> list[Person]:
        """Up to `n` people picked at random; `skip(ids)` names IDs to leave out (e.g. registered
        ones). Random rather than first-n, so two tools asking at once rarely get the same people."""
        found: dict[str, Person] = {}
        for _ in range(5):
            with self.engine.connect() as conn:
                rows = conn.execute(select(people).order_by(func.random()).limit(2 * n + 10)).all()
            candidates = [Person(**row._mapping) for row in rows]
            excluded = skip([p.national_id for p in candidates]) if skip else set()
            for person in candidates:
                if person.national_id not in excluded:
                    found.setdefault(person.national_id, person)
            if len(found) >= n:
                break
        return list(found.values())[:n]

    def size(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(people)) or 0)


def _replace(scratch: Path, path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(scratch, path)
