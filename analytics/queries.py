"""Analytics as SQL over the audit trail and the aggregator's session-end reports.

SQL does the heavy lifting (one row per session, visits per node); Python classifies sessions and
takes medians. Every function returns flat rows (dicts) so the API can send JSON or CSV alike.

How a session is judged, from its last hop (replays ignored):
- completed: the last screen was an END screen a journey is meant to reach (`graph.success_ends`);
- dropped, error: the gateway failed it (error, busy, redis_down);
- dropped, exit: it ended on another END screen (a failure or "unavailable" screen), or the
  aggregator reported it ended normally (Success; Hubtel: Release) while a menu was still open:
  the citizen left;
- dropped, invalid: the last key was invalid input;
- dropped, timeout: the aggregator reported Incomplete (Africa's Talking) or Timeout (Hubtel), or no
  end report came and the last hop is older than the session limit (180 s);
- active: none of the above yet.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from analytics.graph import funnel_steps, success_ends
from common.outcomes import GATEWAY_FAULTS, NOT_A_STEP, HopOutcome
from menus.model import MenuTree
from menus.registry import TreeRegistry
from menus.render import shorten
from records.audit import AuditRecord
from records.ussd import UssdSessionEnd

SESSION_LIMIT_S = 180
JOURNEYS = ("register", "apply", "pay", "track")
DROP_REASONS = ("timeout", "invalid", "exit", "error")
# Session-end statuses (as each aggregator words them) that mean the session timed out.
TIMED_OUT = ("Incomplete", "Timeout")
# As stored in the trail, for SQL: outcomes of hops that are no step of a journey.
_NOT_A_STEP_VALUES = sorted(outcome.value for outcome in NOT_A_STEP)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Filters:
    """Which slice to look at: a tree, one of its versions, a language, a time window."""

    tree: str | None = None
    version: str | None = None
    lang: str | None = None
    since: datetime = field(default_factory=lambda: utcnow() - timedelta(days=30))
    until: datetime | None = None
    now: datetime = field(default_factory=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tree": self.tree,
            "version": self.version,
            "lang": self.lang,
            "since": self.since.isoformat(timespec="seconds"),
            "until": self.until.isoformat(timespec="seconds") if self.until else None,
        }


@dataclass
class SessionFacts:
    session_id: str
    tree_id: str | None
    version: str | None
    lang: str | None
    hops: int
    started: datetime
    last_at: datetime
    last_node: str | None
    last_outcome: str | None
    last_final: bool
    end_status: str | None
    state: str = "active"  # completed | dropped | active
    reason: str | None = None  # for dropped: timeout | invalid | exit | error
    network: str | None = None  # the mobile network code of the first hop (e.g. 63902)

    @property
    def seconds(self) -> float:
        return (self.last_at - self.started).total_seconds()


def _window(query, column, filters: Filters):
    query = query.where(column >= filters.since)
    return query.where(column < filters.until) if filters.until else query


def _tree(trees: TreeRegistry, tree_id: str | None, version: str | None) -> MenuTree | None:
    if not tree_id:
        return None
    return (trees.version(tree_id, version) if version else None) or trees.current(tree_id)


def sessions(db: Session, trees: TreeRegistry, filters: Filters) -> list[SessionFacts]:
    """One judged row per USSD session that started in the window."""
    hop = AuditRecord
    agg = _window(
        select(
            hop.session_id,
            func.min(hop.seq).label("first_seq"),
            func.max(hop.seq).label("last_seq"),
            func.count(hop.seq).label("hops"),
            func.min(hop.at).label("started"),
            func.max(hop.at).label("last_at"),
        ).where(hop.kind == "hop", hop.outcome.not_in(_NOT_A_STEP_VALUES)),
        hop.at,
        filters,
    ).group_by(hop.session_id)
    agg = agg.subquery()
    first, last = aliased(AuditRecord), aliased(AuditRecord)
    query = (
        select(
            agg.c.session_id,
            agg.c.hops,
            agg.c.started,
            agg.c.last_at,
            first.tree_id,
            first.tree_version,
            first.details,
            last.language,
            last.node,
            last.outcome,
            last.final,
            UssdSessionEnd.status,
        )
        .join(first, first.seq == agg.c.first_seq)
        .join(last, last.seq == agg.c.last_seq)
        .outerjoin(UssdSessionEnd, UssdSessionEnd.session_id == agg.c.session_id)
    )
    if filters.tree:
        query = query.where(first.tree_id == filters.tree)
    if filters.version:
        query = query.where(first.tree_version == filters.version)
    if filters.lang:
        query = query.where(last.language == filters.lang)
    ends_cache: dict[tuple[str | None, str | None], set[str]] = {}
    found = []
    for row in db.execute(query.order_by(agg.c.started)):
        facts = SessionFacts(
            row.session_id,
            row.tree_id,
            row.tree_version,
            row.language,
            row.hops,
            row.started,
            row.last_at,
            row.node,
            row.outcome,
            bool(row.final),
            row.status,
        )
        facts.network = _network(row.details)
        key = (row.tree_id, row.tree_version)
        if key not in ends_cache:
            tree = _tree(trees, *key)
            ends_cache[key] = success_ends(tree) if tree else set()
        judge(facts, ends_cache[key], filters.now)
        found.append(facts)
    return found


def _network(details: str | None) -> str | None:
    try:
        return str(json.loads(details).get("network") or "") or None if details else None
    except (ValueError, AttributeError):
        return None


def judge(facts: SessionFacts, success: set[str], now: datetime) -> None:
    """Set `state` and `reason` (see the module docstring for the rules)."""
    if facts.last_final and facts.last_node in success and facts.last_outcome not in GATEWAY_FAULTS:
        facts.state = "completed"
        return
    facts.state = "dropped"
    if facts.last_outcome in GATEWAY_FAULTS or facts.end_status == "Failed":
        facts.reason = "error"
    elif facts.last_final:
        facts.reason = "exit"
    elif facts.last_outcome == HopOutcome.INVALID:
        facts.reason = "invalid"
    elif facts.end_status in TIMED_OUT:
        facts.reason = "timeout"
    elif facts.end_status is not None:
        facts.reason = "exit"
    elif (now - facts.last_at).total_seconds() > SESSION_LIMIT_S:
        facts.reason = "timeout"
    else:
        facts.state, facts.reason = "active", None


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def summary(db: Session, trees: TreeRegistry, filters: Filters) -> list[dict[str, Any]]:
    """Per tree version and language: started, completed, drop-offs by reason, medians to complete."""
    groups: dict[tuple, list[SessionFacts]] = defaultdict(list)
    for facts in sessions(db, trees, filters):
        groups[(facts.tree_id, facts.version, facts.lang)].append(facts)
    numbers = version_numbers(db)
    rows = []
    for (tree_id, version, lang), members in sorted(groups.items(), key=lambda g: tuple(map(str, g[0]))):
        completed = [f for f in members if f.state == "completed"]
        row: dict[str, Any] = {
            "tree": tree_id,
            "version": version,
            "lang": lang,
            "started": len(members),
            "completed": len(completed),
            "completion_rate": round(len(completed) / len(members), 4),
        }
        for reason in DROP_REASONS:
            row[f"dropped_{reason}"] = sum(1 for f in members if f.reason == reason)
        row["active"] = sum(1 for f in members if f.state == "active")
        row["median_hops_to_complete"] = _median([f.hops for f in completed])
        row["median_seconds_to_complete"] = _median([f.seconds for f in completed])
        row["version_number"] = numbers.get((tree_id or "", version or ""))
        rows.append(row)
    return rows


def sessions_per_day(db: Session, trees: TreeRegistry, filters: Filters) -> list[dict[str, Any]]:
    """Sessions started and completed per day, tree version and language."""
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for facts in sessions(db, trees, filters):
        key = (facts.started.date().isoformat(), facts.tree_id, facts.version, facts.lang)
        counts[key][0] += 1
        counts[key][1] += facts.state == "completed"
    return [
        {"day": day, "tree": tree, "version": version, "lang": lang, "started": s, "completed": c}
        for (day, tree, version, lang), (s, c) in sorted(counts.items(), key=lambda i: tuple(map(str, i[0])))
    ]


def _visits(db: Session, filters: Filters) -> dict[tuple, int]:
    """Sessions that saw each (tree, version, node), from the hop events themselves."""
    hop = AuditRecord
    query = _window(
        select(hop.tree_id, hop.tree_version, hop.node, func.count(func.distinct(hop.session_id)))
        .where(hop.kind == "hop", hop.node.is_not(None), hop.outcome.not_in(_NOT_A_STEP_VALUES))
        .group_by(hop.tree_id, hop.tree_version, hop.node),
        hop.at,
        filters,
    )
    for column, value in ((hop.tree_id, filters.tree), (hop.tree_version, filters.version)):
        if value:
            query = query.where(column == value)
    if filters.lang:
        query = query.where(hop.language == filters.lang)
    return {(t, v, n): count for t, v, n, count in db.execute(query)}


def dropoff(db: Session, trees: TreeRegistry, filters: Filters) -> list[dict[str, Any]]:
    """Per node: sessions that reached it, and those that ended there without completing, by reason."""
    drops: dict[tuple, dict[str, int]] = defaultdict(lambda: dict.fromkeys(DROP_REASONS, 0))
    for facts in sessions(db, trees, filters):
        if facts.state == "dropped" and facts.reason:
            drops[(facts.tree_id, facts.version, facts.last_node)][facts.reason] += 1
    rows = []
    numbers = version_numbers(db)
    visits = _visits(db, filters)
    for key in sorted(set(visits) | set(drops), key=lambda k: tuple(map(str, k))):
        reached = visits.get(key, 0)
        reasons = drops.get(key, dict.fromkeys(DROP_REASONS, 0))
        dropped = sum(reasons.values())
        tree_id, version, node = key
        rows.append(
            {
                "tree": tree_id,
                "version": version,
                "node": node,
                "reached": reached,
                "dropped": dropped,
                **{reason: reasons[reason] for reason in DROP_REASONS},
                "dropoff_rate": round(dropped / reached, 4) if reached else 0.0,
                "version_number": numbers.get((tree_id or "", version or "")),
            }
        )
    return rows


def funnels(db: Session, trees: TreeRegistry, filters: Filters) -> list[dict[str, Any]]:
    """For each journey: sessions that entered it, reached each of its screens, and completed it."""
    judged = {f.session_id: f for f in sessions(db, trees, filters)}
    hop = AuditRecord
    query = _window(
        select(hop.session_id, hop.journey, hop.node)
        .where(hop.kind == "hop", hop.journey.is_not(None), hop.outcome.not_in(_NOT_A_STEP_VALUES))
        .order_by(hop.seq),
        hop.at,
        filters,
    )
    visited: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    last_journey: dict[str, str] = {}
    for session_id, journey, node in db.execute(query):
        if session_id in judged:
            visited[journey][session_id].add(node)
            last_journey[session_id] = journey
    tree = _tree(trees, filters.tree or _main_tree(trees), filters.version)
    rows = []
    for journey in JOURNEYS:
        members = visited.get(journey, {})
        steps = funnel_steps(tree, journey) if tree else []
        entered = len(members)
        rows.append(_funnel_row(journey, 0, "entered", None, entered, entered, tree))
        # How far each session got along the steps; a later step implies the earlier ones (a deep
        # dial or a resumed session passes screens the trail never saw).
        furthest = [
            max((i for i, n in enumerate(steps, 1) if n in nodes), default=0) for nodes in members.values()
        ]
        for position, node in enumerate(steps, 1):
            reached = sum(1 for got in furthest if got >= position)
            rows.append(_funnel_row(journey, position, "screen", node, reached, entered, tree))
        completed = sum(
            1 for s in members if judged[s].state == "completed" and last_journey.get(s) == journey
        )
        rows.append(_funnel_row(journey, len(steps) + 1, "completed", None, completed, entered, tree))
        others = sorted({n for nodes in members.values() for n in nodes} - set(steps))
        for node in others:  # retries and side branches: counted, but not steps of the funnel
            reached = sum(1 for nodes in members.values() if node in nodes)
            rows.append(_funnel_row(journey, None, "branch", node, reached, entered, tree))
    return rows


def _main_tree(trees: TreeRegistry) -> str | None:
    current = trees.trees()
    return current[0].id if current else None


def _funnel_row(
    journey: str,
    step: int | None,
    kind: str,
    node: str | None,
    sessions: int,
    entered: int,
    tree: MenuTree | None,
) -> dict:
    return {
        "journey": journey,
        "step": step,
        "kind": kind,
        "node": node,
        "label": screen_label(tree, node) if node else kind,
        "sessions": sessions,
        "share_of_entered": round(sessions / entered, 4) if entered else 0.0,
    }


def screen_label(tree: MenuTree | None, node_id: str | None, width: int = 40) -> str:
    """A screen as an operator knows it: the first line of its English text (the id if unknown)."""
    node = tree.nodes.get(node_id) if tree and node_id else None
    if node is None:
        return node_id or ""
    if node.kind == "action":
        return f"{node.action} (action)"
    first = node.text.get("en", "").strip().split("\n")[0]
    return shorten(first, width) if first else node_id or ""


def _events(db: Session, kind: str, filters: Filters) -> Iterable[tuple[datetime, dict[str, Any], Any]]:
    query = _window(
        select(AuditRecord.at, AuditRecord.details, AuditRecord.service_code, AuditRecord.latency_ms)
        .where(AuditRecord.kind == kind)
        .order_by(AuditRecord.seq),
        AuditRecord.at,
        filters,
    )
    for at, details, service_code, latency in db.execute(query):
        fields = json.loads(details) if details else {}
        if service_code:
            fields.setdefault("service_code", service_code)
        yield at, fields, latency


_AMOUNT = re.compile(r"-?\d+(?:\.\d+)?")


def _cost(value: Any) -> float:
    """`KES 0.8000`, `0.8` or 0.8 -> 0.8; anything else 0."""
    match = _AMOUNT.search(str(value or ""))
    return float(match.group(0)) if match else 0.0


def sms(db: Session, filters: Filters) -> list[dict[str, Any]]:
    """Per day (of a message's first event): messages, delivered, failed, delivery rate, cost."""
    first_day: dict[str, str] = {}
    statuses: dict[str, set[str]] = defaultdict(set)
    cost: dict[str, float] = defaultdict(float)
    for at, fields, _latency in _events(db, "sms", filters):
        message = str(fields.get("message_id") or "")
        if not message:
            continue
        first_day.setdefault(message, at.date().isoformat())
        statuses[message].add(str(fields.get("status", "")))
        cost[message] += _cost(fields.get("cost"))
    days: dict[str, dict[str, Any]] = {}
    for message, day in first_day.items():
        row = days.setdefault(day, {"day": day, "messages": 0, "delivered": 0, "failed": 0, "cost": 0.0})
        row["messages"] += 1
        delivered = "delivered" in statuses[message]
        row["delivered"] += delivered
        row["failed"] += bool(statuses[message] & {"failed", "rejected"}) and not delivered
        row["cost"] = round(row["cost"] + cost[message], 4)
    for row in days.values():
        settled = row["delivered"] + row["failed"]
        row["pending"] = row["messages"] - settled
        row["delivery_rate"] = round(row["delivered"] / settled, 4) if settled else None
    return [days[day] for day in sorted(days)]


def backend(db: Session, filters: Filters) -> list[dict[str, Any]]:
    """Per core-service operation: calls recorded, errors, error rate, median latency."""
    calls: dict[str, list[tuple[bool, float | None]]] = defaultdict(list)
    for _at, fields, latency in _events(db, "backend", filters):
        ok = str(fields.get("ok", "1")) in ("1", "true", "True")
        calls[str(fields.get("operation", "unknown"))].append((ok, latency))
    rows = []
    for operation in sorted(calls):
        results = calls[operation]
        errors = sum(1 for ok, _ in results if not ok)
        latencies = [lat for _, lat in results if lat is not None]
        rows.append(
            {
                "operation": operation,
                "calls": len(results),
                "errors": errors,
                "error_rate": round(errors / len(results), 4),
                "median_latency_ms": _median(latencies),
            }
        )
    return rows


def feedback(db: Session, filters: Filters) -> list[dict[str, Any]]:
    """Per service: ratings given, average, and how many of each 1–5."""
    ratings: dict[str, list[int]] = defaultdict(list)
    for _at, fields, _latency in _events(db, "feedback", filters):
        try:
            rating = int(fields.get("rating", ""))
        except ValueError:
            continue
        service = str(fields.get("service") or fields.get("service_code") or "unknown")
        ratings[service].append(rating)
    rows = []
    for service in sorted(ratings):
        values = ratings[service]
        row = {"service": service, "ratings": len(values), "average": round(sum(values) / len(values), 3)}
        row.update({f"stars_{n}": values.count(n) for n in range(1, 6)})
        rows.append(row)
    return rows


def versions(db: Session) -> list[tuple[str, str]]:
    """(tree, version) pairs seen in the trail, for the console's filter."""
    query = (
        select(AuditRecord.tree_id, AuditRecord.tree_version)
        .where(and_(AuditRecord.kind == "hop", AuditRecord.tree_id.is_not(None)))
        .distinct()
    )
    return sorted((t, v) for t, v in db.execute(query))


def version_numbers(db: Session) -> dict[tuple[str, str], int]:
    """(tree, content hash) -> the version's number as the console shows it (#1, #2…)."""
    from records.menus import MenuVersion

    return {
        (t, v): n
        for t, v, n in db.execute(select(MenuVersion.tree_id, MenuVersion.version, MenuVersion.number))
    }


SPLITS = ("version", "network", "lang")


def dropoff_split(db: Session, trees: TreeRegistry, filters: Filters, by: str) -> list[dict[str, Any]]:
    """Drop-off per screen of one tree, split by the session's `by` (version, network or lang):
    sessions that reached the screen and those that ended there without completing."""
    if by not in SPLITS:
        raise ValueError(f"split by one of {', '.join(SPLITS)}")
    judged = {f.session_id: f for f in sessions(db, trees, filters)}
    numbers = version_numbers(db) if by == "version" else {}

    def group(facts: SessionFacts) -> str:
        if by == "version":
            number = numbers.get((facts.tree_id or "", facts.version or ""))
            return f"#{number}" if number else (facts.version or "?")
        return str(getattr(facts, by) or "?")

    hop = AuditRecord
    query = _window(
        select(hop.session_id, hop.node)
        .where(hop.kind == "hop", hop.node.is_not(None), hop.outcome.not_in(_NOT_A_STEP_VALUES))
        .distinct(),
        hop.at,
        filters,
    )
    if filters.tree:
        query = query.where(hop.tree_id == filters.tree)
    reached: dict[tuple[str, str], int] = defaultdict(int)
    for session_id, node in db.execute(query):
        if session_id in judged:
            reached[(node, group(judged[session_id]))] += 1
    dropped: dict[tuple[str, str], int] = defaultdict(int)
    for facts in judged.values():
        if facts.state == "dropped" and facts.last_node:
            dropped[(facts.last_node, group(facts))] += 1
    tree = _tree(trees, filters.tree or _main_tree(trees), filters.version)
    rows = []
    for (node, value), count in sorted(reached.items(), key=lambda item: (item[0][0], item[0][1])):
        left = dropped.get((node, value), 0)
        rows.append(
            {
                "node": node,
                "label": screen_label(tree, node),
                by: value,
                "reached": count,
                "dropped": left,
                "dropoff_rate": round(left / count, 4) if count else 0.0,
            }
        )
    return rows
