"""Published menu versions travel through Redis, so every gateway process serves them without SQL.

Keys (no TTL; Redis runs with `noeviction`):
- `menus:current` — hash, tree id -> content hash of the version new dials get;
- `menus:staged` — hash, tree id -> JSON `{"version", "share", "token"}` of a staged release: that
  version serves `share`% of new sessions, chosen by a stable hash of the session id;
- `menus:doc:<tree id>:<version>` — the tree document as JSON, for every version ever published.

`LiveTreeRegistry` is the gateway's `TreeRegistry` plus a look at `menus:current` at most once a
second, and it loads a version a session is pinned to from `menus:doc:…` when this process has
never seen it (sessions in flight finish on the version they started on).
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from typing import TYPE_CHECKING, Any

from common.logs import get_logger
from menus.loader import TreeError, build_tree
from menus.model import MenuTree
from menus.registry import TreeRegistry

if TYPE_CHECKING:  # menus/ does not import redis at run time: the client is handed in
    import redis

log = get_logger("menus.live")

CURRENT_KEY = "menus:current"
STAGED_KEY = "menus:staged"


def in_share(session_id: str, version: str, share: int) -> bool:
    """Whether a new session belongs to the `share`% that get `version` in a staged release.

    A stable hash (CRC-32, the same in every process and after restarts) of the version and the
    session id: the same session always lands on the same side, and each release draws its own
    sample of sessions."""
    return zlib.crc32(f"{version}:{session_id}".encode()) % 100 < share


def doc_key(tree_id: str, version: str) -> str:
    return f"menus:doc:{tree_id}:{version}"


def _encode(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def announce(client: redis.Redis, tree_id: str, version: str, document: dict[str, Any]) -> None:
    """Make `version` the current one for `tree_id` in every process (within a second)."""
    # The document first, then the pointer, as two commands: the keys sit in different Redis
    # Cluster slots (no MULTI), and no reader may see a pointer to a missing document.
    client.set(doc_key(tree_id, version), _encode(document))
    client.hset(CURRENT_KEY, tree_id, version)


def announce_if_absent(client: redis.Redis, tree_id: str, version: str, document: dict[str, Any]) -> bool:
    """At start-up: fill Redis from SQL unless a current version is already there. True if written."""
    client.set(doc_key(tree_id, version), _encode(document))
    return bool(client.hsetnx(CURRENT_KEY, tree_id, version))


def announce_staged(
    client: redis.Redis, tree_id: str, version: str, document: dict[str, Any], share: int, token: str
) -> None:
    """Send `share`% of new sessions of `tree_id` to `version` in every process (within a second)."""
    pipe = client.pipeline(transaction=True)
    pipe.set(doc_key(tree_id, version), _encode(document))
    pipe.hset(STAGED_KEY, tree_id, json.dumps({"version": version, "share": share, "token": token}))
    pipe.execute()


def staged(client: redis.Redis, tree_id: str) -> dict[str, Any] | None:
    """The staged release Redis announces for `tree_id`, or None."""
    raw = client.hget(STAGED_KEY, tree_id)
    return json.loads(raw) if raw else None


def end_staged(client: redis.Redis, tree_id: str, token: str) -> None:
    """Stop a staged release (only the one named by `token`): new sessions get the current version."""
    current = staged(client, tree_id)
    if current is not None and current.get("token") == token:
        client.hdel(STAGED_KEY, tree_id)


def store_document(client: redis.Redis, tree_id: str, version: str, document: dict[str, Any]) -> None:
    """Keep a version's document reachable (e.g. every version in SQL, at start-up)."""
    client.set(doc_key(tree_id, version), _encode(document))


class LiveTreeRegistry(TreeRegistry):
    """A `TreeRegistry` that follows the versions published through Redis.

    Without `attach()` it behaves exactly like `TreeRegistry` (the YAML trees). Redis failures are
    logged and the trees already loaded keep serving.
    """

    def __init__(self, trees: list[MenuTree] | None = None) -> None:
        super().__init__(trees)
        self._redis: redis.Redis | None = None
        self._interval = 1.0
        self._next_check = 0.0
        self._refresh_lock = threading.Lock()
        # tree id -> (candidate tree, share %) of a staged release
        self._staged: dict[str, tuple[MenuTree, int]] = {}

    def attach(self, client: redis.Redis, interval_s: float = 1.0) -> None:
        self._redis = client
        self._interval = interval_s
        self._next_check = 0.0

    # -- what HopService calls --------------------------------------------------------------
    def for_service_code(self, code: str, session_id: str | None = None) -> MenuTree | None:
        """The version a new session `session_id` starts on: the current one, or the candidate
        of a staged release for the sessions in its share."""
        self.refresh()
        tree = super().for_service_code(code)
        candidate = self._staged.get(tree.id) if tree is not None and session_id else None
        if candidate is not None and in_share(session_id, candidate[0].version, candidate[1]):
            return candidate[0]
        return tree

    def current(self, tree_id: str) -> MenuTree | None:
        self.refresh()
        return super().current(tree_id)

    def version(self, tree_id: str, version: str) -> MenuTree | None:
        found = super().version(tree_id, version)
        if found is None and self._redis is not None:
            found = self._load(tree_id, version)
            if found is not None:
                self.remember(found)
        return found

    def trees(self) -> list[MenuTree]:
        self.refresh()
        return super().trees()

    # -- following Redis --------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Pick up newly published versions; a no-op unless a second has passed (or `force`)."""
        if self._redis is None:
            return
        now = time.monotonic()
        if not force and now < self._next_check:
            return
        # One thread looks; the others go on with what is loaded rather than queue behind Redis.
        if not self._refresh_lock.acquire(blocking=force):
            return
        try:
            self._next_check = now + self._interval
            try:
                pipe = self._redis.pipeline(transaction=False)
                pipe.hgetall(CURRENT_KEY)
                pipe.hgetall(STAGED_KEY)
                current, staged_now = pipe.execute()
            except Exception as exc:  # the client's errors (redis.RedisError): keep what is loaded
                log.warning("menu refresh skipped: redis unavailable", error=type(exc).__name__)
                return
            self._follow_staged(staged_now)
            for raw_id, raw_version in current.items():
                tree_id, version = raw_id.decode(), raw_version.decode()
                loaded = super().current(tree_id)
                if loaded is not None and loaded.version == version:
                    continue
                tree = super().version(tree_id, version) or self._load(tree_id, version)
                if tree is not None:
                    self.publish(tree)
                    log.info("menu version live", tree=tree_id, version=version)
        except ValueError as exc:  # e.g. a service code claimed by two trees: keep serving the old one
            log.error("menu refresh refused", error=str(exc))
        finally:
            self._refresh_lock.release()

    def _follow_staged(self, announced: dict[bytes, bytes]) -> None:
        following: dict[str, tuple[MenuTree, int]] = {}
        for raw_id, raw in announced.items():
            tree_id = raw_id.decode()
            try:
                release = json.loads(raw)
                version, share = str(release["version"]), int(release["share"])
            except (ValueError, KeyError, TypeError):
                log.error("staged release unreadable", tree=tree_id)
                continue
            tree = super().version(tree_id, version) or self._load(tree_id, version)
            if tree is None:
                continue
            self.remember(tree)  # sessions that started on it stay pinned to it
            if tree_id not in self._staged or self._staged[tree_id][0].version != version:
                log.info("staged release followed", tree=tree_id, version=version, share=share)
            following[tree_id] = (tree, share)
        self._staged = following

    def _load(self, tree_id: str, version: str) -> MenuTree | None:
        try:
            raw = self._redis.get(doc_key(tree_id, version)) if self._redis else None
        except Exception as exc:  # the client's errors (redis.RedisError): the version stays unknown
            log.warning("menu version not loaded: redis unavailable", error=type(exc).__name__)
            return None
        if raw is None:
            return None
        try:
            tree = build_tree(json.loads(raw))
        except (TreeError, ValueError) as exc:
            log.error("stored menu version does not load", tree=tree_id, version=version, error=str(exc))
            return None
        if tree.version != version:
            log.error("stored menu version has another hash", tree=tree_id, version=version)
            return None
        return tree
