"""One key per purpose, derived from the master `SECRET_KEY` with HKDF-SHA256 (RFC 5869).

A key that leaks, or that a library misuses, then gives nothing for the other purposes, and the
purposes never meet in one digest: a pseudonym cannot be turned into a replay key or a cookie
signature. `create_app` derives them once (`GatewayKeys.derive`) and hands each to its one user.
Every gateway process must get the same `SECRET_KEY`, or sealed answers, pseudonyms and console
cookies stop matching between them; production refuses to start without it (common/production.py).

- `sealing` (session-sealing): `sessions.store.SecretBox`, PINs and ID numbers in a live session
  and queued applications;
- `cookies`: Flask's `SECRET_KEY`, which signs the console's session cookie;
- `pseudonyms`: `audit.pseudonym.Pseudonymiser` (unless `AUDIT_PSEUDONYM_KEY` is set);
- `transcript` (transcript-mac): the keyed replay key of Africa's Talking transcripts;
- `counters`: names of rate-limit counters in Redis (references, operators' emails).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from common.files import private_file

# Fixed and public: HKDF's salt only separates this application's keys from any other use of the
# same master secret; the secrecy is the master's.
_SALT = b"ecitizen-feature-phone-gateway/v1"
KEY_BYTES = 32


def derive_key(master: str, purpose: str, length: int = KEY_BYTES) -> bytes:
    """The key for `purpose` (a short fixed label) from `master`."""
    if not master:
        raise ValueError("no master key to derive from")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=purpose.encode("ascii"))
    return hkdf.derive(master.encode("utf-8"))


@dataclass(frozen=True, repr=False)
class GatewayKeys:
    """The gateway's keys, one per purpose (see the module's table). `repr` shows no key."""

    sealing: bytes
    cookies: bytes
    pseudonyms: bytes
    transcript: bytes
    counters: bytes
    # Opens values sealed before keys were derived per purpose (SHA-256 of the master): answers
    # of sessions in flight and applications queued across the upgrade. Never seals anything.
    legacy_sealing: bytes

    @classmethod
    def derive(cls, master: str, pseudonym_key: str = "") -> GatewayKeys:
        """Every key from the master `SECRET_KEY`; `pseudonym_key` (AUDIT_PSEUDONYM_KEY) replaces
        the derived pseudonym key when given."""
        return cls(
            sealing=derive_key(master, "session-sealing"),
            cookies=derive_key(master, "cookies"),
            pseudonyms=pseudonym_key.encode("utf-8") if pseudonym_key else derive_key(master, "pseudonyms"),
            transcript=derive_key(master, "transcript-mac"),
            counters=derive_key(master, "counters"),
            legacy_sealing=hashlib.sha256(master.encode("utf-8")).digest(),
        )

    def __repr__(self) -> str:
        return "GatewayKeys(…)"


def fernet_key(key: bytes) -> bytes:
    """`key` (32 bytes) in the form `cryptography.fernet.Fernet` takes."""
    return base64.urlsafe_b64encode(key)


def counter_name(key: bytes, value: str) -> str:
    """A short keyed name for `value` (a reference, an email) inside a Redis key: the key space then
    lists no reference or address, and nobody can tell which one a counter counts."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:24]


def laptop_master_key(var_dir: Path) -> str:
    """Development only: a master key generated once into `var_dir/secret_key` (0600), so the
    processes of one `make run` share it. Production never calls this: it refuses to start
    without SECRET_KEY rather than let each node make its own."""
    path = var_dir / "secret_key"
    if not path.exists():
        # Written aside and linked into place: of processes starting at once, one key wins for all.
        scratch = var_dir / f".secret_key.{secrets.token_hex(4)}"
        private_file(scratch)
        scratch.write_text(secrets.token_urlsafe(32))
        try:
            os.link(scratch, path)
        except FileExistsError:
            pass
        finally:
            scratch.unlink()
    path.chmod(0o600)
    return path.read_text().strip()
