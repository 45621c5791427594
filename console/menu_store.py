"""Drafts, versions and publishing of menu trees: SQL is the record, Redis carries the live version.

Every change here is one SQL transaction that also writes the operator's audit line. Publishing
checks the draft (schema, validator, journey tests) first and refuses with every problem found.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import redis
import yaml
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from common.db import Database, utcnow
from common.logs import get_logger
from console.operators import SYSTEM, Actor, record
from console.releases import ReleaseConflict, Releases
from menus import live as publishing
from menus.journeys import JourneyReport, journeys_path, run_journeys
from menus.loader import TreeError, TreeProblem, parse_yaml, tree_files
from menus.model import MenuTree
from menus.validator import screen_warnings, validate_document
from records.menus import MenuDraft, MenuPublication, MenuRelease, MenuVersion

log = get_logger("console.menus")


class UnknownTree(LookupError):
    """No draft for that tree id."""


class UnknownVersion(LookupError):
    """No such published version of that tree."""


class StaleDraft(Exception):
    """The draft changed since the caller read it; nothing was saved."""

    def __init__(
        self, current_revision: int, updated_by: str, updated_at: datetime, by_you: bool = False
    ) -> None:
        who = f"by you ({updated_by}) in another tab or window" if by_you else f"by {updated_by}"
        super().__init__(
            f"the draft was saved {who} (revision {current_revision}) after you opened it; "
            "your changes here were not saved yet: look at what changed, then save yours over it or reload"
        )
        self.current_revision = current_revision
        self.updated_by = updated_by
        self.updated_at = updated_at


class BadDraft(ValueError):
    """A draft document that cannot even be stored (not a mapping, wrong tree id)."""


class PublishConflict(Exception):
    """Another publish of the same tree (on this node or another) committed first; nothing was saved."""

    def __init__(self, tree_id: str) -> None:
        super().__init__(
            f"tree '{tree_id}' was published by someone else at the same moment; nothing was published: "
            "reload to see what is live, then publish again if it is still needed"
        )
        self.tree_id = tree_id


class NotPublishable(Exception):
    """The draft fails validation or its journey tests; nothing was published."""

    def __init__(self, report: CheckReport) -> None:
        count = len(report.problems) + len(report.failures)
        super().__init__(f"the draft has {count} problem(s); fix them before publishing")
        self.report = report


@dataclass
class CheckReport:
    """What the validator and the journey tests say about one document."""

    tree: MenuTree | None
    problems: list[TreeProblem] = field(default_factory=list)
    journeys: JourneyReport | None = None
    # Shown at the node, never blocking: options pushed behind "98 More", mid-sentence page breaks.
    warnings: list[TreeProblem] = field(default_factory=list)

    @property
    def failures(self) -> list[Any]:
        return self.journeys.failures if self.journeys else []

    @property
    def ok(self) -> bool:
        return self.tree is not None and not self.problems and not self.failures


def empty_journeys(tree_id: str) -> dict[str, Any]:
    return {"tree": tree_id, "journeys": []}


class MenuStore:
    """The console's view of menu trees. One per process; methods are safe to call from threads."""

    def __init__(
        self,
        database: Database,
        redis_client: redis.Redis,
        registry: publishing.LiveTreeRegistry,
        screen_limit: int,
        known_actions: frozenset[str],
        trees_dir: Path,
    ) -> None:
        self.database = database
        self.redis = redis_client
        self.registry = registry
        self.screen_limit = screen_limit
        self.known_actions = known_actions
        self.trees_dir = trees_dir
        self.started = False
        # Staged releases (console.releases.Releases), wired by init_console.
        self.releases: Releases | None = None

    # -- start-up -----------------------------------------------------------------------------
    def seed(self) -> list[str]:
        """Make each YAML tree under `trees_dir` version 1 and the draft, once. Returns seeded ids."""
        seeded = []
        for path in tree_files(self.trees_dir):
            try:
                document = parse_yaml(path.read_text(encoding="utf-8"))
                tree, problems = validate_document(document, self.screen_limit, set(self.known_actions))
            except TreeError as exc:
                tree, problems = None, exc.problems
            if tree is None or problems:
                log.error("seed tree invalid, not seeded", path=str(path), problems=len(problems))
                continue
            journeys = empty_journeys(tree.id)
            if journeys_path(path).exists():
                journeys = yaml.safe_load(journeys_path(path).read_text(encoding="utf-8")) or journeys
            try:
                with self.database.session() as session:
                    draft = session.get(MenuDraft, tree.id)
                    if draft is not None:
                        if self._follow_seed(session, draft, tree, document, journeys, path.name):
                            seeded.append(tree.id)
                        continue
                    version = MenuVersion(
                        tree_id=tree.id,
                        version=tree.version,
                        number=1,
                        document=document,
                        author=SYSTEM.email,
                        note=f"seeded from {path.name}",
                    )
                    session.add(version)
                    session.flush()
                    session.add(
                        MenuPublication(
                            tree_id=tree.id,
                            version_id=version.id,
                            kind="seed",
                            author=SYSTEM.email,
                            note=version.note,
                        )
                    )
                    session.add(
                        MenuDraft(
                            tree_id=tree.id,
                            document=document,
                            journeys=journeys,
                            revision=1,
                            updated_by=SYSTEM.email,
                        )
                    )
                    record(session, SYSTEM, "menu.seed", tree.id, {"version": tree.version})
                seeded.append(tree.id)
            except IntegrityError:
                log.info("seed raced another process; already seeded", tree=tree.id)
        return seeded

    def _follow_seed(
        self,
        session,
        draft: MenuDraft,
        tree: MenuTree,
        document: dict[str, Any],
        journeys: dict[str, Any],
        filename: str,
    ) -> bool:
        """Until an operator touches a tree, the YAML file stays its source: a changed file is
        published (as the system) on the next start. After the first operator save or publish the
        database is the record and the file is ignored."""
        touched = draft.updated_by != SYSTEM.email or session.scalar(
            select(MenuPublication.id)
            .where(MenuPublication.tree_id == tree.id, MenuPublication.author != SYSTEM.email)
            .limit(1)
        )
        live = self._live(session, tree.id)
        if touched or (live is not None and live.version == tree.version):
            return False
        note = f"re-seeded from {filename}"
        draft.document, draft.journeys, draft.revision = document, journeys, draft.revision + 1
        version = self._version_for(session, tree, document, SYSTEM, note)
        session.add(
            MenuPublication(
                tree_id=tree.id, version_id=version.id, kind="seed", author=SYSTEM.email, note=note
            )
        )
        record(session, SYSTEM, "menu.reseed", tree.id, {"version": tree.version, "number": version.number})
        return True

    def sync_redis(self) -> None:
        """Write SQL's live version of every tree (and every version's document) to Redis."""
        with self.database.session() as session:
            for version in session.scalars(select(MenuVersion)):
                publishing.store_document(self.redis, version.tree_id, version.version, version.document)
            for tree_id in session.scalars(select(MenuDraft.tree_id)):
                live = self._live(session, tree_id)
                if live is not None:
                    publishing.announce(self.redis, tree_id, live.version, live.document)
            for release in session.scalars(select(MenuRelease).where(MenuRelease.state == "running")):
                candidate = session.get(MenuVersion, release.candidate_id)
                publishing.announce_staged(
                    self.redis,
                    release.tree_id,
                    candidate.version,
                    candidate.document,
                    release.share,
                    release.token,
                )
        self.registry.refresh(force=True)

    def start(self) -> bool:
        """Seed and sync when the schema exists; False (and a log line) when `db upgrade` is due."""
        try:
            self.seed()
            self.sync_redis()
        except (OperationalError, ProgrammingError) as exc:
            log.warning(
                "menu versions not loaded: run `flask --app app db upgrade`", error=type(exc).__name__
            )
            return False
        except redis.RedisError as exc:
            log.warning("menu versions not sent to redis", error=type(exc).__name__)
            return False
        self.started = True
        return True

    def ensure_started(self) -> None:
        """For console and API requests: seed and sync once, if start-up could not."""
        if not self.started:
            self.start()

    # -- reading ------------------------------------------------------------------------------
    @staticmethod
    def _live(session, tree_id: str) -> MenuVersion | None:
        latest = session.scalar(
            select(MenuPublication)
            .where(MenuPublication.tree_id == tree_id)
            .order_by(MenuPublication.id.desc())
            .limit(1)
        )
        return session.get(MenuVersion, latest.version_id) if latest else None

    def summaries(self) -> list[dict[str, Any]]:
        """Every tree with its draft revision and live version, for the list screens."""
        out = []
        with self.database.session() as session:
            for draft in session.scalars(select(MenuDraft).order_by(MenuDraft.tree_id)):
                live = self._live(session, draft.tree_id)
                document = draft.document if isinstance(draft.document, dict) else {}
                out.append(
                    {
                        "id": draft.tree_id,
                        "title": document.get("title", draft.tree_id),
                        "service_codes": document.get("service_codes", []),
                        "draft_revision": draft.revision,
                        "draft_updated_by": draft.updated_by,
                        "draft_updated_at": _iso(draft.updated_at),
                        "live_version": live.version if live else None,
                        "live_number": live.number if live else None,
                        "draft_is_live": bool(live and live.document == draft.document),
                    }
                )
        return out

    def draft(self, tree_id: str) -> MenuDraft:
        with self.database.session() as session:
            draft = session.get(MenuDraft, tree_id)
            if draft is None:
                raise UnknownTree(tree_id)
            return draft

    def live(self, tree_id: str) -> MenuVersion | None:
        with self.database.session() as session:
            return self._live(session, tree_id)

    def version(self, tree_id: str, ref: str) -> MenuVersion:
        """A version by content hash, by number (`3`), or `live`."""
        with self.database.session() as session:
            if ref == "live":
                found = self._live(session, tree_id)
            elif ref.isdigit():
                found = session.scalar(
                    select(MenuVersion).where(MenuVersion.tree_id == tree_id, MenuVersion.number == int(ref))
                )
            else:
                found = session.scalar(
                    select(MenuVersion).where(MenuVersion.tree_id == tree_id, MenuVersion.version == ref)
                )
            if found is None:
                raise UnknownVersion(f"tree '{tree_id}' has no version '{ref}'")
            return found

    def history(self, tree_id: str) -> dict[str, Any]:
        """Versions (newest first) and the publish events that made them live."""
        with self.database.session() as session:
            if session.get(MenuDraft, tree_id) is None:
                raise UnknownTree(tree_id)
            versions = list(
                session.scalars(
                    select(MenuVersion)
                    .where(MenuVersion.tree_id == tree_id)
                    .order_by(MenuVersion.number.desc())
                )
            )
            numbers = {v.id: v for v in versions}
            events = session.scalars(
                select(MenuPublication)
                .where(MenuPublication.tree_id == tree_id)
                .order_by(MenuPublication.id.desc())
            )
            live = self._live(session, tree_id)
            return {
                "tree_id": tree_id,
                "live_version": live.version if live else None,
                "versions": [version_summary(v) for v in versions],
                "publications": [
                    {
                        "kind": p.kind,
                        "version": numbers[p.version_id].version,
                        "number": numbers[p.version_id].number,
                        "author": p.author,
                        "note": p.note,
                        "published_at": _iso(p.published_at),
                    }
                    for p in events
                ],
            }

    # -- checking -----------------------------------------------------------------------------
    def check(
        self, document: dict[str, Any], journeys: dict[str, Any] | None = None, run_tests: bool = True
    ) -> CheckReport:
        """Validate a document (and run `journeys` against it) the way publishing would."""
        if not isinstance(document, dict):
            return CheckReport(None, [TreeProblem("a tree must be a JSON object")])
        tree, problems = validate_document(document, self.screen_limit, set(self.known_actions))
        report = CheckReport(tree, list(problems))
        if tree is None:
            return report
        report.warnings = screen_warnings(tree, self.screen_limit)
        for code in tree.service_codes:
            owner = self.registry.for_service_code(code)
            if owner is not None and owner.id != tree.id:
                report.problems.append(
                    TreeProblem(
                        f"service code {code} already belongs to tree '{owner.id}'", path="service_codes"
                    )
                )
        if run_tests and not report.problems:
            report.journeys = self._run_journeys(tree, journeys or empty_journeys(tree.id))
        return report

    def _run_journeys(self, tree: MenuTree, journeys: dict[str, Any]) -> JourneyReport:
        from menus.journeys import JourneyFailure

        if not isinstance(journeys, dict) or not isinstance(journeys.get("journeys", []), list):
            return JourneyReport(failures=[JourneyFailure("journeys", 0, "needs a list of 'journeys'", "")])
        try:
            return run_journeys(tree, journeys, self.screen_limit)
        except Exception as exc:  # a malformed journey must read as a failure, not a 500
            return JourneyReport(failures=[JourneyFailure("journeys", 0, f"could not run: {exc}", "")])

    # -- changing -----------------------------------------------------------------------------
    def save_draft(
        self,
        tree_id: str,
        actor: Actor,
        revision: int,
        document: dict[str, Any],
        journeys: dict[str, Any] | None = None,
    ) -> MenuDraft:
        """Store a new draft if `revision` is still the current one; raise `StaleDraft` otherwise.

        The draft may fail validation (it is work in progress); only publishing insists.
        """
        if not isinstance(document, dict):
            raise BadDraft("the draft document must be a JSON object")
        if document.get("id") != tree_id:
            raise BadDraft(f"the document's id must stay '{tree_id}'")
        if journeys is not None and not isinstance(journeys, dict):
            raise BadDraft("journeys must be a JSON object with a list of 'journeys'")
        with self.database.session() as session:
            draft = session.get(MenuDraft, tree_id)
            if draft is None:
                raise UnknownTree(tree_id)
            # The revision guard is in the UPDATE itself, so two saves racing cannot both win.
            updated = session.execute(
                MenuDraft.__table__.update()
                .where(MenuDraft.tree_id == tree_id, MenuDraft.revision == revision)
                .values(
                    document=document,
                    journeys=journeys if journeys is not None else draft.journeys,
                    revision=revision + 1,
                    updated_by=actor.email,
                    updated_at=utcnow(),
                )
            )
            if updated.rowcount != 1:
                session.refresh(draft)
                same = draft.document == document and (journeys is None or draft.journeys == journeys)
                if same and draft.updated_by == actor.email:
                    return draft  # the same save twice (a double click, a retried request): done
                raise StaleDraft(
                    draft.revision, draft.updated_by, draft.updated_at, by_you=draft.updated_by == actor.email
                )
            record(session, actor, "draft.save", tree_id, {"revision": revision + 1})
        return self.draft(tree_id)

    def reset_draft(self, tree_id: str, actor: Actor, ref: str, revision: int) -> MenuDraft:
        """Make the draft a copy of version `ref` (journeys kept), as a new revision; nothing goes live."""
        target = self.version(tree_id, ref)
        draft = self.save_draft(tree_id, actor, revision, copy.deepcopy(target.document))
        with self.database.session() as session:
            record(
                session, actor, "draft.reset", tree_id, {"revision": draft.revision, "number": target.number}
            )
        return draft

    def publish(
        self, tree_id: str, actor: Actor, note: str = "", revision: int | None = None, share: int = 100
    ) -> MenuVersion:
        """Publish the draft as it is in SQL now. Refused (NotPublishable) on any problem; when another
        publish of the tree commits first, PublishConflict and nothing changes (SQL nor Redis).

        With `share` below 100 it is a staged release: the version serves that share of new
        sessions while the live one keeps the rest (`console.releases`)."""
        try:
            return self._publish(tree_id, actor, note, revision, share)
        except IntegrityError as exc:  # both took the same version number: the later insert loses
            raise PublishConflict(tree_id) from exc

    def _publish(
        self, tree_id: str, actor: Actor, note: str, revision: int | None, share: int
    ) -> MenuVersion:
        with self.database.session() as session:
            draft = session.get(MenuDraft, tree_id)
            if draft is None:
                raise UnknownTree(tree_id)
            if revision is not None and draft.revision != revision:
                raise StaleDraft(draft.revision, draft.updated_by, draft.updated_at)
            if self.releases is not None and self.releases.running(session, tree_id) is not None:
                raise ReleaseConflict(
                    "a staged release of this tree is running: promote it or roll it back first"
                )
            document = copy.deepcopy(draft.document)
            report = self.check(document, draft.journeys)
            if not report.ok or report.tree is None:
                raise NotPublishable(report)
            version = self._version_for(session, report.tree, document, actor, note)
            if share < 100 and self.releases is not None:
                live = self._live(session, tree_id)
                if live is None:
                    raise ReleaseConflict("nothing is live yet to compare with: publish to everyone first")
                self.releases.start(session, tree_id, version, live, actor, share, note)
            else:
                session.add(
                    MenuPublication(
                        tree_id=tree_id, version_id=version.id, kind="publish", author=actor.email, note=note
                    )
                )
                record(
                    session,
                    actor,
                    "publish",
                    tree_id,
                    {
                        "version": version.version,
                        "number": version.number,
                        "note": note,
                        "revision": draft.revision,
                    },
                )
                # Redis before the commit: if Redis is down the publish fails as a whole.
                publishing.announce(self.redis, tree_id, version.version, document)
        self.registry.refresh(force=True)
        return version

    def rollback(self, tree_id: str, actor: Actor, ref: str, note: str = "") -> MenuVersion:
        """Make an earlier version live again, as a new publish event. The draft is left as it is."""
        if self.releases is not None:
            with self.database.session() as session:
                if self.releases.running(session, tree_id) is not None:
                    raise ReleaseConflict(
                        "a staged release of this tree is running: roll it back (or promote it) first"
                    )
        target = self.version(tree_id, ref)
        report = self.check(target.document, run_tests=False)
        if not report.ok:
            raise NotPublishable(report)
        with self.database.session() as session:
            session.add(
                MenuPublication(
                    tree_id=tree_id, version_id=target.id, kind="rollback", author=actor.email, note=note
                )
            )
            record(
                session,
                actor,
                "rollback",
                tree_id,
                {"version": target.version, "number": target.number, "note": note},
            )
            publishing.announce(self.redis, tree_id, target.version, target.document)
        self.registry.refresh(force=True)
        return target

    @staticmethod
    def _version_for(
        session, tree: MenuTree, document: dict[str, Any], actor: Actor, note: str
    ) -> MenuVersion:
        existing = session.scalar(
            select(MenuVersion).where(MenuVersion.tree_id == tree.id, MenuVersion.version == tree.version)
        )
        if existing is not None:
            return existing  # same content as an earlier version: publishing it is a republish
        number = (
            session.scalar(select(func.max(MenuVersion.number)).where(MenuVersion.tree_id == tree.id)) or 0
        ) + 1
        version = MenuVersion(
            tree_id=tree.id,
            version=tree.version,
            number=number,
            document=document,
            author=actor.email,
            note=note,
        )
        session.add(version)
        session.flush()
        return version


def version_summary(version: MenuVersion) -> dict[str, Any]:
    return {
        "version": version.version,
        "number": version.number,
        "author": version.author,
        "note": version.note,
        "created_at": _iso(version.created_at),
    }


def problem_json(problem: TreeProblem) -> dict[str, Any]:
    return {
        "node": problem.node,
        "message": problem.message,
        "path": problem.path,
        "severity": problem.severity,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") + "Z" if moment else None
