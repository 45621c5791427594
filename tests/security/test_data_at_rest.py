"""PINs and ID numbers at rest, attacked as a local user who can read files would: run journeys
that type a PIN and a national ID (register, apply, an application queued while the core is down,
a call dropped at the PIN prompt), then search every Redis key and value, the Redis AOF and RDB
files and the SQLite database for the PIN, the ID, and every unkeyed hash of them or of the
key-press transcripts that carry them. Nothing may be found, and every file must be private.

The Redis here persists exactly as `make run`'s does (tools/run_all.redis_command, persist=True,
started with its umask in a folder made by `private_tree`), with two test-only settings that make
the search harder to pass: every write reaches the AOF at once, and the RDB is not compressed (LZF
would hide a clear value from a byte search).
"""

from __future__ import annotations

import hashlib
import re
import stat
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import Job

from citizen.queued import QUEUE_NAME
from common.files import private_tree
from common.jobs import SimpleContextWorker
from stand_ins.core_service.testing import CoreServer, unregistered_people
from tests.conftest import Dialler
from tests.stand_ins.core_service.conftest import core_config
from tests.support import wait_until
from tools.run_all import REDIS_UMASK, free_port, redis_command, wait_for_port

PHONE = "+254711700001"
PIN = "5938"


def _typed_date(iso: str) -> str:
    year, month, day = iso.split("-")
    return f"{day}/{month}/{year}"


# ---- what is searched for ----------------------------------------------------------------------


def _digests(value: str) -> set[bytes]:
    """Unkeyed digests of `value`, as hex (both cases) and raw bytes, the way a careless store keeps them."""
    data = value.encode()
    raw = [
        hashlib.sha256(data).digest(),
        hashlib.sha1(data).digest(),  # noqa: S324 - searched for, not used
        hashlib.md5(data).digest(),  # noqa: S324 - searched for, not used
        hashlib.sha512(data).digest(),
        hashlib.sha3_256(data).digest(),
        *(hashlib.blake2b(data, digest_size=n).digest() for n in (8, 16, 20, 32, 64)),
        *(hashlib.blake2s(data, digest_size=n).digest() for n in (8, 16, 32)),
    ]
    found: set[bytes] = set()
    for digest in raw:
        found |= {digest, digest.hex().encode(), digest.hex().upper().encode()}
    return found


def needles(pin: str, national_id: str, transcripts: list[str]) -> dict[str, re.Pattern[bytes] | bytes]:
    """What must not be at rest: the values themselves (as whole tokens: a 4-digit PIN inside a longer
    number is chance, not a leak) and every unkeyed digest of them and of the transcripts."""
    found: dict[str, re.Pattern[bytes] | bytes] = {
        "PIN": re.compile(rb"(?<![0-9A-Za-z_.\-])" + pin.encode() + rb"(?![0-9A-Za-z_.\-])"),
        "national ID": re.compile(rb"(?<![0-9])" + national_id.encode() + rb"(?![0-9])"),
    }
    for label, value in [("PIN", pin), ("national ID", national_id)] + [
        ("transcript", t) for t in transcripts
    ]:
        for digest in _digests(value):
            found[f"unkeyed digest of the {label} {value!r}: {digest[:16]!r}"] = digest
    return found


def search(blob: bytes, what: dict[str, re.Pattern[bytes] | bytes]) -> list[str]:
    hits = []
    for label, needle in what.items():
        match = needle.search(blob) if isinstance(needle, re.Pattern) else (needle in blob and needle)
        if match:
            at = match.start() if isinstance(needle, re.Pattern) else blob.index(needle)
            hits.append(f"{label} at …{blob[max(at - 40, 0) : at + 40]!r}…")
    return hits


def inflated(blob: bytes) -> bytes:
    """Every zlib stream inside `blob` (RQ keeps a job's arguments as compressed pickle), inflated."""
    out = []
    for match in re.finditer(rb"x[\x01\x5e\x9c\xda]", blob):
        try:
            out.append(zlib.decompressobj().decompress(blob[match.start() :]))
        except zlib.error:
            continue
    return b"\n".join(out)


def test_the_search_finds_what_it_looks_for():
    """The search itself can fail: a clear PIN, a clear ID, or an old unkeyed replay digest is found."""
    what = needles("5938", "86123163", ["1*86123163", "1*86123163*AMINA*OKOTH*01/02/1990*5938"])
    old_replay_key = hashlib.blake2b(b"1*86123163*AMINA*OKOTH*01/02/1990*5938", digest_size=8).hexdigest()
    assert search(b'{"a":{"pin":"5938"}}', what)
    assert search(b"$8\r\n86123163\r\n", what)
    assert search(f'"rk":"{old_replay_key}"'.encode(), what)
    assert search(inflated(zlib.compress(b"pin=5938;")), what)
    assert not search(b'{"t":1795892901.5938,"id":"ECZ-5938AB","n":159380}', what)


# ---- the system under attack -------------------------------------------------------------------


class PersistentRedis:
    """redis-server as `make run` starts it (AOF and RDB in a private folder)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        private_tree(folder)
        command = redis_command(self.port, folder, persist=True)
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, umask=REDIS_UMASK
        )
        assert wait_for_port("127.0.0.1", self.port, 10, self.process), "redis-server did not start"
        self.client = redis.Redis(port=self.port)
        self.client.config_set("appendfsync", "always")
        self.client.config_set("rdbcompression", "no")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def save(self) -> None:
        self.client.bgsave()
        assert wait_until(lambda: self.client.info("persistence")["rdb_bgsave_in_progress"] == 0, 30)
        assert self.client.info("persistence")["rdb_last_bgsave_status"] == "ok"

    def everything(self) -> bytes:
        """Every key and every value, as a reader with a Redis client sees them."""
        parts: list[bytes] = []
        for key in self.client.scan_iter(count=1000):
            kind = self.client.type(key).decode()
            parts.append(key)
            if kind == "string":
                parts.append(self.client.get(key) or b"")
            elif kind == "hash":
                for field, value in self.client.hgetall(key).items():
                    parts += [field, value]
            elif kind == "list":
                parts += self.client.lrange(key, 0, -1)
            elif kind == "set":
                parts += list(self.client.smembers(key))
            elif kind == "zset":
                parts += [member for member, _ in self.client.zrange(key, 0, -1, withscores=True)]
            elif kind == "stream":
                for _id, fields in self.client.xrange(key):
                    for field, value in fields.items():
                        parts += [field, value]
        blob = b"\n".join(parts)
        return blob + inflated(blob)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def persistent_redis(tmp_path) -> Iterator[PersistentRedis]:
    server = PersistentRedis(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def core(tmp_path) -> Iterator[CoreServer]:
    server = CoreServer(core_config(tmp_path / "core")).start()
    yield server
    server.stop()


def test_journeys_with_a_pin_and_an_id_leave_neither_at_rest(settings, persistent_redis, core, tmp_path):
    from app import create_app

    database = tmp_path / "gateway" / "gateway.db"
    gateway = create_app(
        replace(
            settings, redis_url=persistent_redis.url, database_url=f"sqlite:///{database}", core_url=core.url
        )
    )
    gateway.extensions["database"].upgrade()
    gateway.config["TESTING"] = True
    transcripts: list[str] = []

    def dialler(session: str) -> Dialler:
        return Dialler(gateway.test_client(), phone=PHONE, session_id=session)

    def typed(phone: Dialler) -> None:
        transcripts.extend("*".join(phone.keys[:n]) for n in range(1, len(phone.keys) + 1))

    # register over USSD: the ID, names, date of birth, PIN and its confirmation
    person = unregistered_people(core.url)[0]
    national_id = person["national_id"]
    register = dialler("rest-register")
    register.dial("1")
    for key in (
        national_id,
        person["first_name"],
        person["last_name"],
        _typed_date(person["date_of_birth"]),
        PIN,
    ):
        register.press(key)
    assert "You are registered" in register.press(PIN)
    typed(register)

    def to_summary(phone: Dialler) -> None:
        phone.dial("2")
        for key in ("1", "1", "1", "Nairobi", "1"):  # DCI, good conduct, employment, county, confirm
            phone.press(key)

    # apply, confirmed with the PIN, while the core is up
    apply = dialler("rest-apply")
    to_summary(apply)
    assert "Reference number" in apply.press(PIN)
    typed(apply)

    # a call that drops at the PIN prompt (its resume draft stays in Redis)
    dropped = dialler("rest-dropped")
    to_summary(dropped)
    typed(dropped)

    # an application confirmed while the core is down: queued, sealed, then submitted and gone
    queued = dialler("rest-queued")
    to_summary(queued)
    core.stop()
    assert "We will send your reference number by SMS" in queued.press(PIN)
    typed(queued)
    queue = Queue(QUEUE_NAME, connection=persistent_redis.client)
    [job] = queue.get_jobs()
    assert set(job.kwargs) == {"sealed", "idempotency_key"}

    what = needles(PIN, national_id, transcripts)
    persistent_redis.save()
    assert search(persistent_redis.everything(), what) == []  # while the job waits

    core.start()
    gateway.extensions["core_client"].breaker.record_success()
    work = gateway.extensions["queued_work"]
    queue.scheduled_job_registry.schedule(job, datetime.now(UTC) - timedelta(seconds=1))
    SimpleContextWorker([queue], connection=persistent_redis.client, context=work).work(burst=True)
    assert not Job.exists(job.id, connection=persistent_redis.client)  # done: deleted, sealed fields too

    persistent_redis.save()
    hits = {"redis keys and values": search(persistent_redis.everything(), what)}
    for file in sorted(p for p in persistent_redis.folder.rglob("*") if p.is_file()):
        data = file.read_bytes()
        hits[f"redis file {file.name}"] = search(data + inflated(data), what)
    for file in sorted(database.parent.glob("gateway.db*")):
        hits[f"sqlite file {file.name}"] = search(file.read_bytes(), what)
    assert {where: found for where, found in hits.items() if found} == {}
    assert any(
        f.suffix == ".aof" or f.name.startswith("appendonly") for f in persistent_redis.folder.rglob("*")
    )


def test_files_that_hold_personal_data_are_private(settings, persistent_redis, tmp_path):
    from app import create_app

    database = tmp_path / "fresh" / "gateway.db"
    gateway = create_app(
        replace(settings, redis_url=persistent_redis.url, database_url=f"sqlite:///{database}")
    )
    gateway.extensions["database"].upgrade()
    Dialler(gateway.test_client(), phone=PHONE, session_id="rest-modes").dial("7")
    persistent_redis.save()

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    assert mode(persistent_redis.folder) == 0o700
    files = [p for p in persistent_redis.folder.rglob("*") if p.is_file()]
    assert files and {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    assert mode(database.parent) == 0o700
    sqlite = list(database.parent.glob("gateway.db*"))
    assert sqlite and {p.name: mode(p) for p in sqlite} == {p.name: 0o600 for p in sqlite}


def test_an_older_redis_folder_is_made_private_before_redis_starts(tmp_path):
    folder = tmp_path / "redis"
    folder.mkdir(mode=0o755)
    (folder / "appendonly.aof").write_bytes(b"*1\r\n$5\r\nHELLO\r\n")
    (folder / "appendonly.aof").chmod(0o644)
    private_tree(folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "appendonly.aof").stat().st_mode) == 0o600
