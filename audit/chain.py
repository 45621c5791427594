"""The hash chain: `hash = sha256(prev_hash + canonical JSON of the record)`.

The canonical form covers every stored column except the two hashes, with fixed spellings for
times and numbers, so the same row read back from SQLite or PostgreSQL hashes the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

GENESIS = "0" * 64

CHAINED_FIELDS = (
    "seq",
    "stream_id",
    "at",
    "kind",
    "session_id",
    "phone_hash",
    "service_code",
    "tree_id",
    "tree_version",
    "node",
    "language",
    "outcome",
    "journey",
    "final",
    "latency_ms",
    "details",
)


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(timespec="microseconds")
    if isinstance(value, float):
        return f"{value:.3f}"
    return value


def canonical(values: Mapping[str, Any]) -> str:
    """The record's content as sorted, compact JSON."""
    content = {name: _canonical_value(values.get(name)) for name in CHAINED_FIELDS}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def record_hash(prev_hash: str, values: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(values)).encode("utf-8")).hexdigest()


def row_values(row: Any) -> dict[str, Any]:
    """The chained fields of an `AuditRecord` (or any object with those attributes)."""
    return {name: getattr(row, name) for name in CHAINED_FIELDS}
