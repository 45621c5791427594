"""National IDs at rest, written as the attack of a local user (or a stolen backup) reading the
core's files: no ID number in clear, no unkeyed hash of it, files readable by their owner only."""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from stand_ins.core_service import create_app
from stand_ins.core_service.identity import MASTER_KEY_FILE
from stand_ins.core_service.models import Application, Citizen
from tests.stand_ins.core_service.conftest import (
    ID_HASH_KEY,
    PHONE,
    apply,
    core_config,
    people,
    register,
    registration,
)


def _files_bytes(folder: Path, stem: str) -> bytes:
    """Everything SQLite keeps on disk for database `stem`: the file, its WAL and shared memory."""
    return b"".join(p.read_bytes() for p in folder.glob(f"{stem}*") if p.is_file())


def _digests(national_id: str) -> list[bytes]:
    """The unkeyed digests an attacker would try first, hex and raw."""
    raw = national_id.encode()
    found = []
    for algorithm in ("md5", "sha1", "sha256", "sha512", "blake2b"):
        digest = hashlib.new(algorithm, raw)
        found += [digest.hexdigest().encode(), digest.digest()]
    return found


def test_the_core_keeps_a_keyed_hash_and_the_last_3_digits_never_the_id(tmp_path, client, app, person):
    national_id = person["national_id"]
    assert register(client, registration(person)).status_code == 201
    apply(client)
    with app.extensions["core"].session_factory() as db:
        row = db.scalar(select(Citizen))
    expected = hmac.new(ID_HASH_KEY.encode(), national_id.encode(), hashlib.sha256).hexdigest()
    assert (row.national_id_hash, row.national_id_last3) == (expected, national_id[-3:])
    assert "national_id" not in {
        c["name"] for c in inspect(app.extensions["core"].engine).get_columns("citizens")
    }

    stored = _files_bytes(tmp_path, "core.db")
    assert national_id.encode() not in stored
    assert national_id.encode("utf-16-le") not in stored
    for digest in _digests(national_id):
        assert digest not in stored


def test_lookups_by_id_go_through_the_keyed_hash(client, person):
    assert register(client, registration(person)).status_code == 201
    taken = register(client, registration(person, phone="+254711000222"))
    assert (taken.status_code, taken.json["field"]) == (409, "national_id")


def test_another_key_gives_other_hashes(tmp_path):
    digests = []
    for key in ("first-key-" + "a1" * 16, "second-key-" + "b2" * 16):
        folder = tmp_path / key[:5]
        folder.mkdir()
        app = create_app(core_config(folder, ID_HASH_KEY=key))
        digests.append(app.extensions["core"].national_ids.digest("12345678"))
        app.extensions["core"].close()
    assert digests[0] != digests[1]


def test_files_are_private_to_the_owner(tmp_path):
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)  # as another process (or an old umask) may have left it
    config = core_config(
        var,
        ID_HASH_KEY="",  # derived from the master key a laptop keeps in var/
        DATABASE_URL=f"sqlite:///{var}/core.db",
        REGISTER_URL=f"sqlite:///{var}/register.db",
    )
    app = create_app(config)
    client = app.test_client()
    try:
        assert register(client, registration(people(client)[0])).status_code == 201
        assert var.stat().st_mode & 0o777 == 0o700
        created = sorted(p.name for p in var.iterdir())
        assert {"core.db", "core.db-wal", "register.db", MASTER_KEY_FILE} <= set(created)
        for path in var.iterdir():
            assert path.stat().st_mode & 0o777 == 0o600, path.name
    finally:
        app.extensions["core"].close()


def test_a_new_sqlite_folder_is_private_but_a_shared_one_is_left_alone(tmp_path):
    nested = tmp_path / "deep" / "data"
    config = core_config(tmp_path, DATABASE_URL=f"sqlite:///{nested}/core.db")
    create_app(config).extensions["core"].close()
    assert nested.stat().st_mode & 0o777 == 0o700
    assert (nested / "core.db").stat().st_mode & 0o777 == 0o600

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: never tightened
    create_app(core_config(shared)).extensions["core"].close()
    assert shared.stat().st_mode & 0o7777 == 0o1777


def test_the_development_key_is_derived_once_and_survives_a_restart(tmp_path):
    config = core_config(tmp_path, ID_HASH_KEY="")
    first = create_app(config)
    client = first.test_client()
    person = people(client)[0]
    assert register(client, registration(person)).status_code == 201
    master = (tmp_path / MASTER_KEY_FILE).read_text()
    first.extensions["core"].close()

    again = create_app(config)
    try:
        assert (tmp_path / MASTER_KEY_FILE).read_text() == master
        # the same ID is found through the hash made before the restart
        taken = register(again.test_client(), registration(person, phone="+254711000333"))
        assert (taken.status_code, taken.json["field"]) == (409, "national_id")
        assert again.config["ID_HASH_KEY"] not in master  # derived, not the master itself
    finally:
        again.extensions["core"].close()


OLD_CITIZENS = """
CREATE TABLE citizens (
    id INTEGER NOT NULL PRIMARY KEY, national_id VARCHAR(8) NOT NULL UNIQUE,
    first_name VARCHAR(40) NOT NULL, last_name VARCHAR(40) NOT NULL, date_of_birth DATE NOT NULL,
    phone VARCHAR(16) NOT NULL UNIQUE, pin_hash VARCHAR(200) NOT NULL,
    failed_pin_attempts INTEGER NOT NULL, locked_until DATETIME, created_at DATETIME NOT NULL
)"""


def test_a_database_with_ids_in_clear_is_rewritten_with_hashes(tmp_path):
    """A core.db from before the IDs were hashed: the citizens keep their applications, and not a
    byte of the old ID numbers stays in the file."""
    app = create_app(core_config(tmp_path))
    app.extensions["core"].close()
    path = tmp_path / "core.db"
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.execute("DROP TABLE citizens")
        connection.execute(OLD_CITIZENS)
        connection.execute(
            "INSERT INTO citizens VALUES (7, '29384756', 'Akinyi', 'Otieno', '1988-02-03', ?, 'x', 1, NULL, "
            "'2025-01-01 00:00:00')",
            (PHONE,),
        )
        connection.execute(
            "INSERT INTO applications (id, reference, citizen_id, service_code, answers_json, fee_kes, "
            "status, payment_status, created_at, updated_at) VALUES (1, 'ECZ-ABCDEF', 7, 'kra_pin', '{}', "
            "0, 'submitted', 'not_required', '2025-01-01 00:00:00', '2025-01-01 00:00:00')"
        )
    assert b"29384756" in _files_bytes(tmp_path, "core.db")

    app = create_app(core_config(tmp_path))
    try:
        with app.extensions["core"].session_factory() as db:
            citizen = db.scalar(select(Citizen))
            application = db.scalar(select(Application))
        assert (citizen.id, citizen.national_id_last3, citizen.failed_pin_attempts) == (7, "756", 1)
        assert citizen.national_id_hash == app.extensions["core"].national_ids.digest("29384756")
        assert application.citizen_id == 7
        assert b"29384756" not in _files_bytes(tmp_path, "core.db")
        assert os.stat(path).st_mode & 0o777 == 0o600
    finally:
        app.extensions["core"].close()


@pytest.mark.parametrize("key", ["", None])
def test_an_empty_key_is_never_used(tmp_path, key):
    from stand_ins.core_service.identity import NationalIdHasher

    with pytest.raises(ValueError):
        NationalIdHasher(key or "")
