"""The core's tables: created when missing, a database from before national IDs were hashed
rewritten in place (SQLite), so no ID number stays in the file, and one from before paybill
payments given the payment method column."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, MetaData, inspect, text
from sqlalchemy.schema import CreateTable

from stand_ins.core_service.db import Base
from stand_ins.core_service.identity import NationalIdHasher
from stand_ins.core_service.models import Citizen

log = logging.getLogger(__name__)

_COPIED = ("id", "first_name", "last_name", "date_of_birth", "phone", "pin_hash", "failed_pin_attempts",
           "locked_until", "created_at")  # fmt: skip


def prepare_schema(engine: Engine, hasher: NationalIdHasher) -> None:
    """Create missing tables; hash the national IDs of a database of the first layout."""
    if _has_clear_ids(engine):
        if engine.dialect.name != "sqlite":
            raise RuntimeError(
                "the core's citizens table holds national IDs in clear (column national_id); "
                "replace it with national_id_hash and national_id_last3 before starting"
            )
        _hash_clear_ids(engine, hasher)
    Base.metadata.create_all(engine)
    _add_payment_method(engine)


def _add_payment_method(engine: Engine) -> None:
    """A database from before paybill payments: every payment then was an M-Pesa prompt."""
    columns = {column["name"] for column in inspect(engine).get_columns("payments")}
    if "method" not in columns:
        with engine.begin() as connection:
            connection.execute(
                text("ALTER TABLE payments ADD COLUMN method VARCHAR(10) NOT NULL DEFAULT 'mpesa_stk'")
            )


def _has_clear_ids(engine: Engine) -> bool:
    inspector = inspect(engine)
    if not inspector.has_table("citizens"):
        return False
    return "national_id" in {column["name"] for column in inspector.get_columns("citizens")}


def _hash_clear_ids(engine: Engine, hasher: NationalIdHasher) -> None:
    """SQLite's documented way to change a table: build the new one, copy, drop, rename; then
    VACUUM so the freed pages holding the old IDs leave the file too."""
    hashed = Citizen.__table__.to_metadata(MetaData(), name="citizens_hashed")
    create = str(CreateTable(hashed).compile(dialect=engine.dialect))
    columns = ", ".join(_COPIED)
    raw = engine.raw_connection()
    connection = raw.driver_connection
    isolation = connection.isolation_level
    connection.isolation_level = None  # transactions below are explicit
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute("BEGIN IMMEDIATE")
        if "national_id" not in [row[1] for row in cursor.execute("PRAGMA table_info(citizens)")]:
            cursor.execute("ROLLBACK")  # another process did it while this one waited for the lock
            return
        rows = cursor.execute(f"SELECT national_id, {columns} FROM citizens").fetchall()  # noqa: S608
        cursor.execute(create)
        cursor.executemany(
            f"INSERT INTO citizens_hashed (national_id_hash, national_id_last3, {columns}) "  # noqa: S608
            f"VALUES (?, ?, {', '.join('?' for _ in _COPIED)})",
            [(hasher.digest(row[0]), hasher.last3(row[0]), *row[1:]) for row in rows],
        )
        cursor.execute("DROP TABLE citizens")
        cursor.execute("ALTER TABLE citizens_hashed RENAME TO citizens")
        if cursor.execute("PRAGMA foreign_key_check").fetchall():
            cursor.execute("ROLLBACK")
            raise RuntimeError("hashing national IDs would break references to citizens")
        cursor.execute("COMMIT")
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        log.warning("national IDs of %d citizens replaced by their keyed hash", len(rows))
    finally:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        connection.isolation_level = isolation
        raw.close()
