"""Menu trees in SQL: one editable draft per tree, immutable published versions, and every publish event.

A version's `version` is the tree's content hash (`MenuTree.version`), so equal content is one version;
`number` counts versions per tree (1 is the seed from menus/trees/). A rollback adds a publication
that points at an older version: history only ever grows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from common.db import Base, UtcNow, utcnow


class MenuDraft(Base):
    """The one working copy of a tree. `revision` grows on every save (optimistic concurrency)."""

    __tablename__ = "menu_drafts"

    tree_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    journeys: Mapped[dict[str, Any]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[str] = mapped_column(String(254))
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=UtcNow())


class MenuVersion(Base):
    """A published tree content. Never updated after insert."""

    __tablename__ = "menu_versions"
    __table_args__ = (
        UniqueConstraint("tree_id", "version", name="uq_menu_versions_tree_version"),
        UniqueConstraint("tree_id", "number", name="uq_menu_versions_tree_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_id: Mapped[str] = mapped_column(String(40), index=True)
    version: Mapped[str] = mapped_column(String(32))
    number: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    author: Mapped[str] = mapped_column(String(254))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=UtcNow())


class MenuPublication(Base):
    """One publish event: seed, publish or rollback. The newest row per tree is the live version."""

    __tablename__ = "menu_publications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_id: Mapped[str] = mapped_column(String(40), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("menu_versions.id"))
    kind: Mapped[str] = mapped_column(String(16))  # seed | publish | rollback
    author: Mapped[str] = mapped_column(String(254))
    note: Mapped[str] = mapped_column(String(500), default="")
    published_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, server_default=UtcNow())


class MenuRelease(Base):
    """A staged release: `candidate` serves `share`% of new sessions while `baseline` stays live.

    `state` moves once, from running to promoted, rolled_back or superseded; `decision` keeps the
    figures it was taken on. `token` names the release in Redis, so a process never acts on a
    release of another database.
    """

    __tablename__ = "menu_releases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tree_id: Mapped[str] = mapped_column(String(40), index=True)
    token: Mapped[str] = mapped_column(String(32), unique=True)
    candidate_id: Mapped[int] = mapped_column(ForeignKey("menu_versions.id"))
    baseline_id: Mapped[int] = mapped_column(ForeignKey("menu_versions.id"))
    share: Mapped[int] = mapped_column(Integer)
    margin: Mapped[float] = mapped_column(Float)
    min_sessions: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # running | promoted | rolled_back
    note: Mapped[str] = mapped_column(String(500), default="")
    started_by: Mapped[str] = mapped_column(String(254))
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_by: Mapped[str | None] = mapped_column(String(254), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
