"""`make drill`: faults under load against `make cluster`'s topology, and a table of what citizens saw.

A steady stream of multi-hop USSD sessions goes through the load balancer (browsing Help, and
applying for a certificate of good conduct with a PIN) while the drill, in turn:
  (a) kills -9 one gateway node (the supervisor starts it again, as systemd would);
  (b) shuts down the queue Redis primary (the Sentinels promote the replica; the old primary comes
      back later and rejoins as a replica);
  (c) restarts PostgreSQL;
  (d) kills -9 an SMS worker in the middle of a batch (a burst of SMS is on its way, the sandbox
      answers each send after 3 s so that batches are in flight).
It then lets the queues settle and prints, per fault: hops answered with a screen, the longest gap
in service, applications confirmed vs stored, SMS queued vs sent (duplicates counted), and whether
the targets are met. Exit status 0 when they all are.

Everything runs on 127.0.0.1; the loops are bounded by the drill's length. `DRILL_SECONDS` (or
`--seconds`) sets the length of the load (default 130; `--short` is 66 for CI).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tools.cluster import Topology
from tools.servers import wait_for

SERVICE = "*384*123#"
PIN = "4826"
BUSY_TEXTS = ("Service busy", "something went wrong", "Huduma ina shughuli", "kuna hitilafu")
REFERENCE = re.compile(r"Reference number: (ECZ-[0-9A-Z]{6})")
FAULTS = ("a", "b", "c", "d")
FAULT_NAMES = {
    "warm-up": "warm-up (no fault)",
    "a": "(a) kill -9 a gateway node",
    "b": "(b) queue Redis primary shut down",
    "c": "(c) PostgreSQL restarted",
    "d": "(d) SMS worker killed mid-batch",
}
# Drill settings for the topology: a sweeper quick enough to see within the drill, no rate limit
# in the way of a few phones hopping fast.
DRILL_ENV = {
    "RATE_LIMIT_PER_MINUTE": "100000",
    "SMS_STUCK_AFTER_S": "8",
    "SMS_REQUEUE_AFTER_S": "5",
    "SMS_SWEEP_INTERVAL_S": "2",
    "CORE_WEBHOOK_RETRY_BASE_S": "0.5",
    "CORE_WEBHOOK_RETRY_MAX_S": "3",
    "AT_SANDBOX_DLR_DELAY_MS": "200",
}


@dataclass
class Hop:
    started: float
    ended: float
    outcome: str  # served | refused (a polite busy/error END) | failed (no screen at all)
    detail: str = ""  # for a failed hop: the HTTP status or the error


@dataclass
class Application:
    phone: str
    submitted_at: float
    reference: str | None  # shown on the citizen's screen; None: not confirmed
    queued: bool = False  # "we will send your reference by SMS"


@dataclass
class Journal:
    hops: list[Hop] = field(default_factory=list)
    applications: list[Application] = field(default_factory=list)
    faults: list[tuple[str, float]] = field(default_factory=list)
    sms_in_flight_at_kill: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hop(self, hop: Hop) -> None:
        with self.lock:
            self.hops.append(hop)


class SessionFailed(Exception):
    pass


class Citizen:
    """One phone playing sessions through the load balancer, as Africa's Talking would."""

    def __init__(self, url: str, phone: str, journal: Journal, http: requests.Session) -> None:
        self.url = f"{url}/ussd/africastalking"
        self.phone = phone
        self.journal = journal
        self.http = http
        self.sessions = 0

    def _post(self, session_id: str, text: str) -> str:
        form = {
            "sessionId": session_id,
            "serviceCode": SERVICE,
            "phoneNumber": self.phone,
            "networkCode": "63902",
            "text": text,
        }
        started = time.monotonic()
        detail = ""
        try:
            response = self.http.post(self.url, data=form, timeout=15)
            body = response.text if response.status_code == 200 else ""
            detail = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            body, detail = "", type(exc).__name__
        ended = time.monotonic()
        if not body.startswith(("CON ", "END ")):
            outcome = "failed"
        elif body.startswith("END ") and any(text in body for text in BUSY_TEXTS):
            outcome = "refused"
        else:
            outcome = "served"
        self.journal.hop(Hop(started, ended, outcome, detail if outcome == "failed" else ""))
        if outcome != "served":
            raise SessionFailed(body[:80])
        return body

    def session(self, keys: list[str]) -> str:
        self.sessions += 1
        session_id = f"ATUid_drill_{self.phone[-6:]}_{self.sessions}_{random.randrange(10**6)}"
        typed: list[str] = []
        screen = self._post(session_id, "")
        for key in keys:
            typed.append(key)
            screen = self._post(session_id, "*".join(typed))
        return screen

    def register(self, person: dict[str, str]) -> bool:
        day, month, year = (
            person["date_of_birth"][8:10],
            person["date_of_birth"][5:7],
            person["date_of_birth"][:4],
        )
        keys = [
            "1",
            person["national_id"],
            person["first_name"],
            person["last_name"],
            f"{day}/{month}/{year}",
        ]
        try:
            screen = self.session([*keys, PIN, PIN])
        except SessionFailed:
            return False
        return "registered" in screen.lower()

    def browse(self) -> None:
        self.session(["7", "1", "0", "3", "0", "00"])

    def apply(self) -> None:
        """Apply for a certificate of good conduct; record what the citizen was told."""
        keys = ["2", "1", "1", "1", "Nairobi", "1"]
        self.sessions += 1
        session_id = f"ATUid_drill_{self.phone[-6:]}_{self.sessions}_{random.randrange(10**6)}"
        typed: list[str] = []
        self._post(session_id, "")
        for key in keys:
            typed.append(key)
            self._post(session_id, "*".join(typed))
        typed.append(PIN)
        submitted_at = time.monotonic()
        try:
            screen = self._post(session_id, "*".join(typed))
        except SessionFailed:
            screen = ""
        found = REFERENCE.search(screen)
        queued = "SMS" in screen and found is None
        with self.journal.lock:
            self.journal.applications.append(
                Application(self.phone, submitted_at, found.group(1) if found else None, queued)
            )


def people(core_url: str, count: int) -> list[dict[str, str]]:
    """People to register: from the core's development register when it has one, else made up."""
    try:
        answer = requests.get(f"{core_url}/dev/people", params={"unregistered": 1, "n": count}, timeout=5)
        if answer.ok and isinstance(answer.json(), list) and len(answer.json()) >= count:
            return answer.json()[:count]
    except (requests.RequestException, ValueError):
        pass
    rng = random.Random(2026)
    return [
        {
            "national_id": str(rng.randrange(20_000_000, 39_999_999)),
            "first_name": rng.choice(["Wanjiru", "Achieng", "Kamau", "Otieno", "Njeri", "Mutua"]),
            "last_name": rng.choice(["Mwangi", "Odhiambo", "Kiprop", "Wafula", "Chebet", "Karanja"]),
            "date_of_birth": f"19{rng.randrange(60, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}",
        }
        for _ in range(count)
    ]


class Drill:
    def __init__(
        self,
        seconds: float,
        citizens: int = 4,
        quiet: bool = False,
        base_port: int | None = None,
        folder: Path | None = None,
    ) -> None:
        self.seconds = seconds
        self.quiet = quiet
        self.topology = Topology(base_port, folder, quiet=quiet, extra_env=DRILL_ENV)
        self.journal = Journal()
        self.citizens_count = citizens
        self.stop_load = threading.Event()
        self.phones = [f"+2547{random.randrange(10**7, 10**8)}" for _ in range(citizens)]

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    # -- load ------------------------------------------------------------------------------------
    def _play(self, citizen: Citizen) -> None:
        turn = 0
        while not self.stop_load.is_set():
            turn += 1
            try:
                if turn % 3 == 0:
                    citizen.apply()
                else:
                    citizen.browse()
            except SessionFailed:
                self.stop_load.wait(0.05)

    # -- faults ----------------------------------------------------------------------------------
    def fault(self, name: str) -> None:
        self.journal.faults.append((name, time.monotonic()))
        self.say(f"  {time.strftime('%H:%M:%S')}  {FAULT_NAMES[name]}")
        topology = self.topology
        if name == "a":
            topology.gateways[0].kill()
        elif name == "b":
            port = topology.queue_redis.primary_port()
            self._old_primary = topology.queue_redis.server_on(port)
            self._old_primary.stop()
        elif name == "c":
            topology.postgres.restart()
        elif name == "d":
            self._sms_burst_and_kill()

    def _rejoin_old_primary(self) -> None:
        primary = getattr(self, "_old_primary", None)
        if primary is not None and not primary.alive:
            self.say(f"  {time.strftime('%H:%M:%S')}  old queue primary back (rejoins as a replica)")
            primary.start()

    def _sms_burst_and_kill(self) -> None:
        """A burst of inbound HELP messages (each answered by SMS), sent slowly by the sandbox so a
        batch is in flight; then SIGKILL the SMS worker holding that batch."""
        from rq import Worker
        from sqlalchemy import func, select

        from records.sms import SENDING, SmsMessage

        sandbox = f"http://127.0.0.1:{self.topology.port('sandbox')}"
        requests.post(f"{sandbox}/sandbox/faults", json={"latency_ms": 3000}, timeout=5)
        phones = [f"+2547{random.randrange(10**7, 10**8)}" for _ in range(120)]

        def inbound(phone: str) -> None:
            requests.post(f"{sandbox}/sandbox/inbound", json={"from": phone, "text": "HELP"}, timeout=20)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(inbound, phones))
        database = self._database()

        def in_flight() -> int:
            with database.session() as session:
                return session.scalar(select(func.count()).where(SmsMessage.status == SENDING)) or 0

        # Kill when a good part of the burst is on its way to the provider (or after 15 s).
        wait_for(lambda: in_flight() >= 20, 15, 0.05)
        queue_redis = self._queue_redis()
        victim = None
        for worker in Worker.all(connection=queue_redis):
            if "sms" in worker.queue_names() and worker.get_current_job_id():
                victim = next((w for w in self.topology.sms_workers if w.pid == worker.pid), None)
                if victim:
                    break
        victim = victim or self.topology.sms_workers[0]
        self.journal.sms_in_flight_at_kill = in_flight()
        victim.kill()
        self.say(f"      killed {victim.name} with {self.journal.sms_in_flight_at_kill} SMS in flight")
        time.sleep(2)
        requests.post(f"{sandbox}/sandbox/faults", json={}, timeout=5)

    def _database(self):
        from common.db import Database

        if not hasattr(self, "_db"):
            self._db = Database(self.topology.database_url)
        return self._db

    def _queue_redis(self):
        from common.redis_conn import connect

        return connect(
            self.topology.queue_redis.url(),
            "worker",
            self.topology.secrets.redis,
            self.topology.secrets.sentinel,
        )

    # -- the run ---------------------------------------------------------------------------------
    def run(self) -> dict:
        topology = self.topology
        self.say("  starting the topology …")
        topology.start()
        supervisor = threading.Thread(target=topology.supervise, daemon=True)
        supervisor.start()
        try:
            return self._run_load()
        finally:
            self.stop_load.set()
            self.say("  stopping the topology …")
            topology.stop()

    def _run_load(self) -> dict:
        http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=32)
        http.mount("http://", adapter)
        citizens = [Citizen(self.topology.url, phone, self.journal, http) for phone in self.phones]
        core_url = self.topology.env["CORE_URL"]
        registered = [c.register(p) for c, p in zip(citizens, people(core_url, len(citizens)), strict=True)]
        if not all(registered):
            raise RuntimeError(f"registering the drill's citizens failed: {registered}")
        self.journal.hops.clear()
        warm = max(self.seconds * 0.1, 5)
        window = (self.seconds - warm) / len(FAULTS)
        self.say(f"  load: {len(citizens)} citizens for {self.seconds:.0f} s; a fault every {window:.0f} s")
        threads = [threading.Thread(target=self._play, args=(c,), daemon=True) for c in citizens]
        started = time.monotonic()
        self.journal.faults.append(("warm-up", started))
        for thread in threads:
            thread.start()
        for n, name in enumerate(FAULTS):
            self._sleep_until(started + warm + n * window)
            self.fault(name)
            if name == "b":
                # The old primary returns half way through its window, as a replica.
                self._sleep_until(started + warm + (n + 0.5) * window)
                self._rejoin_old_primary()
        self._sleep_until(started + self.seconds)
        self.stop_load.set()
        for thread in threads:
            thread.join(30)
        ended = time.monotonic()
        self.say("  load stopped; waiting for queues and SMS to settle …")
        settled = self._settle()
        return self.report(ended, settled)

    def _sleep_until(self, moment: float) -> None:
        while (left := moment - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))

    def _settle(self, timeout: float = 90.0) -> bool:
        from sqlalchemy import func, select

        from records.sms import QUEUED, SENDING, SmsMessage

        database = self._database()

        def quiet() -> bool:
            with database.session() as session:
                open_rows = session.scalar(
                    select(func.count()).where(SmsMessage.status.in_([QUEUED, SENDING]))
                )
            queued_apps = self._queue_redis().llen("rq:queue:default")
            return open_rows == 0 and queued_apps == 0

        # Quiet for three checks in a row: a sweep or an RQ retry can still pick a row up just
        # after one quiet look, and a row caught "sending" then is in flight, not lost.
        streak = [0]

        def settled() -> bool:
            streak[0] = streak[0] + 1 if quiet() else 0
            return streak[0] >= 3

        return wait_for(settled, timeout, 1.0)

    # -- the figures -----------------------------------------------------------------------------
    def report(self, ended: float, settled: bool) -> dict:
        from sqlalchemy import select

        from records.sms import SmsMessage

        faults = self.journal.faults
        stored = self._stored_references()
        with self._database().session() as session:
            sms_rows = session.execute(select(SmsMessage.id, SmsMessage.status, SmsMessage.created_at)).all()
            recorded_ids = set(
                session.scalars(
                    select(SmsMessage.provider_message_id).where(SmsMessage.provider_message_id.is_not(None))
                )
            )
        received = requests.get(
            f"http://127.0.0.1:{self.topology.port('sandbox')}/sandbox/messages", timeout=10
        ).json()
        accepted = [m for m in received if m["id"] != "None"]
        # A second send of one outbox row: the provider accepted it, but the row records another id.
        duplicates = sum(m["id"] not in recorded_ids for m in accepted)
        rows = []
        for index, (name, begin) in enumerate(faults):
            end = faults[index + 1][1] if index + 1 < len(faults) else ended
            hops = [h for h in self.journal.hops if begin <= h.started < end]
            served = sorted(h.ended for h in hops if h.outcome == "served")
            moments = [begin, *served, end]
            gap = max((b - a for a, b in zip(moments, moments[1:], strict=False)), default=0.0)
            apps = [a for a in self.journal.applications if begin <= a.submitted_at < end]
            confirmed = [a.reference for a in apps if a.reference]
            failed = [h for h in hops if h.outcome == "failed"]
            rows.append(
                {
                    "fault": name,
                    "hops": len(hops),
                    "screens": sum(h.outcome != "failed" for h in hops),
                    "refused": sum(h.outcome == "refused" for h in hops),
                    "no_screen": len(failed),
                    "no_screen_span_s": round(
                        max(h.ended for h in failed) - min(h.started for h in failed), 2
                    )
                    if failed
                    else 0.0,
                    "no_screen_kinds": dict(Counter(h.detail for h in failed)),
                    "longest_gap_s": round(gap, 2),
                    "confirmed": len(confirmed),
                    "promised_by_sms": sum(a.queued for a in apps),
                    "stored": sum(ref in stored for ref in confirmed),
                }
            )
        shown = [a.reference for a in self.journal.applications if a.reference]
        promised = sum(a.queued for a in self.journal.applications)
        attempts = len(self.journal.applications)
        shown_stored = sum(ref in stored for ref in shown)
        # Stored applications whose reference no screen showed came from promised (queued) ones or
        # from PINs whose answer never reached the citizen; fewer than promised means one was lost.
        lost_promised = max(0, promised - (len(stored) - shown_stored))
        sms_status = Counter(status for _, status, _ in sms_rows)
        summary = {
            "rows": rows,
            "seconds": round(ended - faults[0][1], 1),
            "applications": {
                "pin_submitted": attempts,
                "confirmed_on_screen": len(shown),
                "promised_by_sms": promised,
                "confirmed_on_screen_and_stored": shown_stored,
                "lost": (len(shown) - shown_stored) + lost_promised,
                "stored_for_drill_phones": len(stored),
                "doubled": max(0, len(stored) - attempts) + (len(shown) - len(set(shown))),
            },
            "sms": {
                "queued": len(sms_rows),
                "by_status": dict(sms_status),
                "received_by_provider": len(accepted),
                "duplicates": duplicates,
                "in_flight_at_kill": self.journal.sms_in_flight_at_kill,
                "lost": len(sms_rows)
                - sms_status.get("sent", 0)
                - sms_status.get("delivered", 0)
                - sms_status.get("opted_out", 0),
                "settled": settled,
            },
        }
        summary["targets"] = self.targets(summary)
        return summary

    def _stored_references(self) -> set[str]:
        path = Path(self.topology.env["CORE_DATABASE_URL"].removeprefix("sqlite:///"))
        marks = ",".join("?" for _ in self.phones)
        with sqlite3.connect(path) as db:
            found = db.execute(
                "SELECT a.reference FROM applications a JOIN citizens c ON c.id = a.citizen_id "
                f"WHERE c.phone IN ({marks})",
                self.phones,
            ).fetchall()
        return {reference for (reference,) in found}

    @staticmethod
    def targets(summary: dict) -> dict[str, bool]:
        rows = {row["fault"]: row for row in summary["rows"]}
        return {
            "every hop got a screen (except during the Redis failover)": all(
                row["no_screen"] == 0 for name, row in rows.items() if name != "b"
            ),
            "service back within 10 s of each fault": all(
                row["longest_gap_s"] <= 10 for row in rows.values()
            ),
            "no confirmed application lost or doubled": summary["applications"]["lost"] == 0
            and summary["applications"]["doubled"] == 0,
            "no SMS lost": summary["sms"]["lost"] == 0 and summary["sms"]["settled"],
            "duplicates only for SMS in flight at the kill": summary["sms"]["duplicates"]
            <= summary["sms"]["in_flight_at_kill"],
        }


def render(summary: dict) -> str:
    header = (
        f"  {'fault':<36} {'hops':>6} {'screens':>8} {'busy END':>8} {'no screen':>9} "
        f"{'longest gap':>11} {'apps on screen':>14} {'stored':>6} {'by SMS':>6}"
    )
    lines = ["", header, "  " + "-" * (len(header) - 2)]
    for row in summary["rows"]:
        lines.append(
            f"  {FAULT_NAMES[row['fault']]:<36} {row['hops']:>6} {row['screens']:>8} {row['refused']:>8} "
            f"{row['no_screen']:>9} {row['longest_gap_s']:>10.2f}s {row['confirmed']:>14} {row['stored']:>6} "
            f"{row['promised_by_sms']:>6}"
        )
    apps, sms = summary["applications"], summary["sms"]
    for row in summary["rows"]:
        if row["no_screen"]:
            lines.append(
                f"  {FAULT_NAMES[row['fault']]}: {row['no_screen']} hops without a screen within "
                f"{row['no_screen_span_s']} s ({row['no_screen_kinds']})"
            )
    lines += [
        "",
        f"  load: {summary['seconds']} s",
        f"  applications: {apps['pin_submitted']} PINs submitted; "
        f"{apps['confirmed_on_screen']} confirmed with the reference on screen "
        f"({apps['confirmed_on_screen_and_stored']} of them stored), "
        f"{apps['promised_by_sms']} confirmed as queued (reference by SMS); {apps['lost']} lost, "
        f"{apps['doubled']} doubled; {apps['stored_for_drill_phones']} stored in all",
        f"  SMS: {sms['queued']} queued, {sms['by_status']}, {sms['received_by_provider']} received by the "
        f"provider, {sms['duplicates']} duplicates ({sms['in_flight_at_kill']} in flight at the kill), "
        f"{sms['lost']} not sent{'' if sms['settled'] else ' (queues did not settle)'}",
        "",
    ]
    lines += [f"  {'✓' if ok else '✗'} {name}" for name, ok in summary["targets"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("DRILL_SECONDS") or 130))
    parser.add_argument("--short", action="store_true", help="a 66 s run (CI)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    seconds = 66.0 if args.short else args.seconds
    summary = Drill(seconds).run()
    print(render(summary), flush=True)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0 if all(summary["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
