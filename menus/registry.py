"""Which tree answers which service code, and every version a live session may still be pinned to."""

from __future__ import annotations

import threading
from pathlib import Path

from menus.loader import load_tree_file, tree_files
from menus.model import MenuTree


class TreeRegistry:
    """Current tree per service code plus older versions by (tree id, version). Thread-safe."""

    def __init__(self, trees: list[MenuTree] | None = None) -> None:
        self._lock = threading.Lock()
        self._current: dict[str, MenuTree] = {}
        self._by_code: dict[str, str] = {}
        self._versions: dict[tuple[str, str], MenuTree] = {}
        for tree in trees or []:
            self.publish(tree)

    @classmethod
    def from_directory(cls, directory: Path) -> TreeRegistry:
        return cls([load_tree_file(path) for path in tree_files(directory)])

    def publish(self, tree: MenuTree) -> None:
        """Make `tree` the one new dials get; sessions pinned to older versions keep theirs."""
        with self._lock:
            for code in tree.service_codes:
                owner = self._by_code.get(code)
                if owner and owner != tree.id:
                    raise ValueError(f"service code {code} already belongs to tree '{owner}'")
            self._current[tree.id] = tree
            for code in tree.service_codes:
                self._by_code[code] = tree.id
            self._versions[(tree.id, tree.version)] = tree

    def remember(self, tree: MenuTree) -> None:
        """Keep an older version reachable for sessions pinned to it, without publishing it."""
        with self._lock:
            self._versions[(tree.id, tree.version)] = tree

    def for_service_code(self, code: str, session_id: str | None = None) -> MenuTree | None:
        """The version new sessions of `code` get (`session_id` matters only to staged releases)."""
        tree_id = self._by_code.get(code)
        return self._current.get(tree_id) if tree_id else None

    def current(self, tree_id: str) -> MenuTree | None:
        return self._current.get(tree_id)

    def version(self, tree_id: str, version: str) -> MenuTree | None:
        return self._versions.get((tree_id, version))

    def trees(self) -> list[MenuTree]:
        return list(self._current.values())

    def service_codes(self) -> list[str]:
        return sorted(self._by_code)
