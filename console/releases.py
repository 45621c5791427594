"""Staged releases: a new version serves a share of new sessions next to the live one; the console
compares their completion live; a publisher promotes it, or it rolls itself back when it does worse.

- Start: the checked draft becomes a version (not live); Redis `menus:staged` sends `share`% of new
  sessions to it (chosen by a stable hash of the session id, `menus.live.in_share`). Sessions
  already running stay on the version they started on.
- Compare: sessions that started on each version since the release began, judged as analytics
  judges them (completed, dropped, still active), read from the audit trail. Completion rates come
  with 95% Wilson intervals, their difference with Newcombe's interval.
- Decide: promote or roll back by hand at any time; automatically roll back when, with at least
  `min_sessions` finished sessions on each side, the whole 95% interval of (new − live)
  completion lies below −`margin`. Every decision and its figures go to the audit trail.

`ReleaseWatcher` runs the automatic check in every gateway process; a Redis lease makes one
process do each round, and the SQL update that ends a release only succeeds once.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError, ProgrammingError

from analytics import queries
from common.logs import get_logger
from console.operators import SYSTEM, Actor, record
from menus import live as publishing
from menus.registry import TreeRegistry
from records.menus import MenuPublication, MenuRelease, MenuVersion

log = get_logger("console.releases")

Z95 = 1.959964
LEASE_KEY = "console:release-check:{tree}"


class ReleaseConflict(Exception):
    """A release is already running for the tree (or none is, for promote/roll back)."""


def wilson(successes: int, total: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion (0, 1 when there is no data)."""
    if total == 0:
        return 0.0, 1.0
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(
    successes_a: int, total_a: int, successes_b: int, total_b: int, z: float = Z95
) -> tuple[float, float, float]:
    """(difference, low, high) of p_a − p_b with Newcombe's hybrid score interval (method 10)."""
    p_a = successes_a / total_a if total_a else 0.0
    p_b = successes_b / total_b if total_b else 0.0
    low_a, high_a = wilson(successes_a, total_a, z)
    low_b, high_b = wilson(successes_b, total_b, z)
    difference = p_a - p_b
    low = difference - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = difference + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return difference, low, high


@dataclass(frozen=True)
class Side:
    """One version's sessions in a release."""

    version: str
    number: int
    started: int
    completed: int
    dropped: int
    active: int
    reasons: dict[str, int]

    @property
    def finished(self) -> int:
        return self.completed + self.dropped

    def as_json(self) -> dict[str, Any]:
        low, high = wilson(self.completed, self.finished)
        rate = self.completed / self.finished if self.finished else None
        drop = self.dropped / self.finished if self.finished else None
        return {
            "version": self.version,
            "number": self.number,
            "sessions": self.started,
            "finished": self.finished,
            "completed": self.completed,
            "dropped": self.dropped,
            "active": self.active,
            "dropped_by_reason": self.reasons,
            "completion": round(rate, 4) if rate is not None else None,
            "completion_ci95": [round(low, 4), round(high, 4)],
            "dropoff": round(drop, 4) if drop is not None else None,
            "dropoff_ci95": [round(1 - high, 4), round(1 - low, 4)],
        }


def _side(db, trees: TreeRegistry, tree_id: str, version: MenuVersion, since: datetime) -> Side:
    facts = queries.sessions(db, trees, queries.Filters(tree=tree_id, version=version.version, since=since))
    reasons = dict.fromkeys(queries.DROP_REASONS, 0)
    for fact in facts:
        if fact.state == "dropped" and fact.reason in reasons:
            reasons[fact.reason] += 1
    return Side(
        version=version.version,
        number=version.number,
        started=len(facts),
        completed=sum(f.state == "completed" for f in facts),
        dropped=sum(f.state == "dropped" for f in facts),
        active=sum(f.state == "active" for f in facts),
        reasons=reasons,
    )


def compare(db, trees: TreeRegistry, release: MenuRelease) -> dict[str, Any]:
    """The live comparison of a release: both sides, the difference and what the rule says."""
    candidate = db.get(MenuVersion, release.candidate_id)
    baseline = db.get(MenuVersion, release.baseline_id)
    new = _side(db, trees, release.tree_id, candidate, release.started_at)
    old = _side(db, trees, release.tree_id, baseline, release.started_at)
    difference, low, high = newcombe(new.completed, new.finished, old.completed, old.finished)
    enough = new.finished >= release.min_sessions and old.finished >= release.min_sessions
    if not enough:
        verdict = "waiting"
        says = (
            f"not enough finished sessions yet: {new.finished} on #{new.number} and {old.finished} on "
            f"#{old.number}; the rule looks at {release.min_sessions} on each"
        )
    elif high < -release.margin:
        verdict = "worse"
        says = (
            f"#{new.number} completes fewer sessions than #{old.number} by more than "
            f"{release.margin:.0%} (95% interval {low:+.1%} to {high:+.1%})"
        )
    elif low > -release.margin:
        verdict = "no_worse"
        says = (
            f"#{new.number} is no worse than #{old.number} within {release.margin:.0%} "
            f"(95% interval {low:+.1%} to {high:+.1%}); promote it when you are ready"
        )
    else:
        verdict = "unclear"
        says = f"not clear yet (95% interval {low:+.1%} to {high:+.1%}); wait for more sessions"
    return {
        "candidate": new.as_json(),
        "baseline": old.as_json(),
        "difference": {
            "completion": round(difference, 4),
            "ci95": [round(low, 4), round(high, 4)],
        },
        "rule": {"margin": release.margin, "min_sessions": release.min_sessions},
        "verdict": verdict,
        "says": says,
    }


def release_json(db, trees: TreeRegistry, release: MenuRelease, figures: bool = True) -> dict[str, Any]:
    candidate = db.get(MenuVersion, release.candidate_id)
    baseline = db.get(MenuVersion, release.baseline_id)
    body: dict[str, Any] = {
        "id": release.id,
        "tree_id": release.tree_id,
        "state": release.state,
        "share": release.share,
        "candidate": {"version": candidate.version, "number": candidate.number},
        "baseline": {"version": baseline.version, "number": baseline.number},
        "note": release.note,
        "started_by": release.started_by,
        "started_at": _iso(release.started_at),
        "ended_by": release.ended_by,
        "ended_at": _iso(release.ended_at),
        "decision": release.decision,
    }
    if figures and release.state == "running":
        body["comparison"] = compare(db, trees, release)
    return body


class Releases:
    """Start, compare and end staged releases. One per app; safe to call from threads."""

    def __init__(
        self, database, redis_client: redis.Redis, trees: TreeRegistry, margin: float, min_sessions: int
    ):
        self.database = database
        self.redis = redis_client
        self.trees = trees
        self.margin = margin
        self.min_sessions = min_sessions

    @staticmethod
    def running(session, tree_id: str) -> MenuRelease | None:
        return session.scalar(
            select(MenuRelease).where(MenuRelease.tree_id == tree_id, MenuRelease.state == "running")
        )

    def start(
        self,
        session,
        tree_id: str,
        candidate: MenuVersion,
        baseline: MenuVersion,
        actor: Actor,
        share: int,
        note: str,
    ) -> MenuRelease:
        """In the caller's transaction (the one that made `candidate`): a running release. Redis
        is told before the commit, so a failure there leaves nothing half-started."""
        if self.running(session, tree_id) is not None:
            raise ReleaseConflict(
                "a staged release of this tree is running: promote it or roll it back first"
            )
        if candidate.id == baseline.id:
            raise ReleaseConflict("the draft is the live version already: there is nothing to stage")
        release = MenuRelease(
            tree_id=tree_id,
            token=secrets.token_hex(12),
            candidate_id=candidate.id,
            baseline_id=baseline.id,
            share=share,
            margin=self.margin,
            min_sessions=self.min_sessions,
            state="running",
            note=note,
            started_by=actor.email,
            started_at=queries.utcnow(),
        )
        session.add(release)
        session.flush()
        record(
            session,
            actor,
            "release.start",
            tree_id,
            {"release": release.id, "number": candidate.number, "baseline": baseline.number, "share": share},
            trail={
                "release": release.id,
                "number": candidate.number,
                "baseline": baseline.number,
                "share": share,
            },
        )
        publishing.announce_staged(
            self.redis, tree_id, candidate.version, candidate.document, share, release.token
        )
        return release

    def current(self, tree_id: str) -> dict[str, Any] | None:
        """The running release with its live comparison, else the last one that ended."""
        with self.database.session() as session:
            release = self.running(session, tree_id) or session.scalar(
                select(MenuRelease)
                .where(MenuRelease.tree_id == tree_id)
                .order_by(MenuRelease.id.desc())
                .limit(1)
            )
            return release_json(session, self.trees, release) if release else None

    def end(
        self, tree_id: str, actor: Actor, outcome: str, note: str, automatic: bool = False
    ) -> dict[str, Any]:
        """Promote (`outcome` "promoted": the candidate becomes live for everyone) or roll back
        ("rolled_back": new sessions get the live version again). Records the figures."""
        with self.database.session() as session:
            release = self.running(session, tree_id)
            if release is None:
                raise ReleaseConflict("no staged release of this tree is running")
            figures = compare(session, self.trees, release)
            decision = {
                "outcome": outcome,
                "automatic": automatic,
                "note": note,
                "verdict": figures["verdict"],
                "says": figures["says"],
                "candidate": figures["candidate"],
                "baseline": figures["baseline"],
                "difference": figures["difference"],
            }
            ended = session.execute(
                update(MenuRelease)
                .where(MenuRelease.id == release.id, MenuRelease.state == "running")
                .values(state=outcome, ended_by=actor.email, ended_at=queries.utcnow(), decision=decision)
            )
            if ended.rowcount != 1:
                raise ReleaseConflict("that release has just ended")
            candidate = session.get(MenuVersion, release.candidate_id)
            summary = {
                "release": release.id,
                "number": candidate.number,
                "automatic": automatic,
                "candidate_finished": figures["candidate"]["finished"],
                "candidate_completed": figures["candidate"]["completed"],
                "baseline_finished": figures["baseline"]["finished"],
                "baseline_completed": figures["baseline"]["completed"],
                "difference": figures["difference"]["completion"],
                "ci95_low": figures["difference"]["ci95"][0],
                "ci95_high": figures["difference"]["ci95"][1],
            }
            action = "release.promote" if outcome == "promoted" else "release.rollback"
            record(session, actor, action, tree_id, {**summary, "note": note}, trail=summary)
            if outcome == "promoted":
                session.add(
                    MenuPublication(
                        tree_id=tree_id,
                        version_id=candidate.id,
                        kind="promote",
                        author=actor.email,
                        note=note,
                    )
                )
                publishing.announce(self.redis, tree_id, candidate.version, candidate.document)
            publishing.end_staged(self.redis, tree_id, release.token)
            token = release.token
        self.trees_refresh()
        log.info("staged release ended", tree=tree_id, outcome=outcome, automatic=automatic, token=token)
        return decision

    def trees_refresh(self) -> None:
        refresh = getattr(self.trees, "refresh", None)
        if refresh is not None:
            refresh(force=True)

    # -- the automatic rule ------------------------------------------------------------------------
    def check(self, lease_ms: int) -> list[str]:
        """One round of the automatic rule over every running release whose Redis announcement
        this database made. Returns the trees rolled back. Safe on many processes at once."""
        rolled: list[str] = []
        announced = {
            raw_id.decode(): json.loads(raw)
            for raw_id, raw in self.redis.hgetall(publishing.STAGED_KEY).items()
        }
        if not announced:
            return rolled  # nothing staged anywhere: no SQL at all
        try:
            with self.database.session() as session:
                running = list(session.scalars(select(MenuRelease).where(MenuRelease.state == "running")))
                tokens = {r.tree_id: r.token for r in running}
        except (OperationalError, ProgrammingError):
            log.warning("staged releases not checked: run `flask --app app db upgrade`")
            return rolled
        for tree_id, token in tokens.items():
            if announced.get(tree_id, {}).get("token") != token:
                continue  # another database's release (or none): not ours to judge
            if not self.redis.set(LEASE_KEY.format(tree=tree_id), token, nx=True, px=lease_ms):
                continue  # another process is checking this round
            with self.database.session() as session:
                release = self.running(session, tree_id)
                verdict = compare(session, self.trees, release)["verdict"] if release else None
            if verdict == "worse":
                try:
                    self.end(
                        tree_id,
                        SYSTEM,
                        "rolled_back",
                        "automatic: completion worse than live",
                        automatic=True,
                    )
                    rolled.append(tree_id)
                except ReleaseConflict:
                    pass  # ended by hand meanwhile
        return rolled


class ReleaseWatcher:
    """Runs `Releases.check` every `interval_s` on a daemon thread, until `stop()` or until the
    watcher itself is gone (the thread holds it weakly, so a discarded app takes it along)."""

    def __init__(self, releases: Releases, interval_s: float) -> None:
        self.releases = releases
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ReleaseWatcher:
        self._thread = threading.Thread(
            target=_watch,
            args=(weakref.ref(self), self._stop, self.interval_s),
            name="release-watcher",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def tick(self) -> None:
        try:
            self.releases.check(lease_ms=max(int(self.interval_s * 900), 100))
        except Exception:  # a database or Redis hiccup: the next round tries again
            log.exception("staged release check failed")


def _watch(watcher_ref: weakref.ref, stop: threading.Event, interval_s: float) -> None:
    while not stop.wait(interval_s):
        watcher = watcher_ref()
        if watcher is None:
            return
        watcher.tick()
        del watcher


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") + "Z" if moment else None
