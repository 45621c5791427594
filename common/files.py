"""Files that hold personal data, readable by this user only: folders 0700, files 0600.

Used for the SQLite databases (gateway and reference core), the embedded Redis's data folder and
the laptop's secret key. SQLite gives its `-wal` and `-shm` files the database file's mode, so
creating the database file 0600 before SQLite opens it is enough.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None (another database, or an in-memory one)."""
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1].split("?", 1)[0]
    return None if not path or path == ":memory:" else Path(path)


def private_dir(path: Path) -> None:
    """Create `path` (and its parents) readable by this user only; tighten an existing one to 0700.

    A shared directory (sticky bit, like /tmp) or one owned by someone else is left alone."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = path.stat()
    if status.st_uid == os.getuid() and not status.st_mode & stat.S_ISVTX:
        path.chmod(0o700)


def private_file(path: Path) -> None:
    """Make sure `path` exists with mode 0600 before anything opens it (created 0600, an existing
    one tightened), in a folder made 0700 if it is new."""
    if not path.parent.exists():
        private_dir(path.parent)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    path.chmod(0o600)


def private_tree(path: Path) -> None:
    """Tighten `path` to 0700 and every file already in it to 0600 (data written before files were
    made private, e.g. an embedded Redis's AOF from an older release)."""
    private_dir(path)
    for child in path.rglob("*"):
        if child.is_symlink():
            continue
        if child.is_dir():
            child.chmod(0o700)
        elif child.stat().st_uid == os.getuid():
            child.chmod(0o600)
