"""National ID numbers at rest: the core keeps a keyed hash (HMAC-SHA256) and the last 3 digits,
never the number itself, and finds a citizen by their ID through the same hash.

A plain hash of an 8-digit number is no protection (10^8 guesses take seconds), hence the key:
without `CORE_ID_HASH_KEY` a copy of the database does not give the ID numbers back.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from stand_ins.core_service.db import private_file

MASTER_KEY_FILE = "core_master_key"


class NationalIdHasher:
    """`digest(id)` for lookups and uniqueness; `last3(id)` for officers and masked display."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("the national ID hash key is empty")
        self._key = key.encode()

    def digest(self, national_id: str) -> str:
        return hmac.new(self._key, national_id.strip().encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def last3(national_id: str) -> str:
        return national_id.strip()[-3:]


def development_master_key(var_dir: Path) -> str:
    """A random master secret kept in `var_dir`/core_master_key (0600), made on first use. Only a
    laptop uses it: production takes each key from its own setting."""
    path = var_dir / MASTER_KEY_FILE
    if not path.exists():
        # written whole under another name, then linked: a process starting at the same moment
        # reads either no file or the complete key, never an empty one
        scratch = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        private_file(scratch)
        scratch.write_text(secrets.token_hex(32))
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass
        finally:
            scratch.unlink()
    return path.read_text().strip()


def derive_key(master: str, purpose: str) -> str:
    """A key for one purpose (HKDF-SHA256), so a leak of one key does not give away another."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"core-service {purpose}".encode())
    return hkdf.derive(master.encode()).hex()
