"""Structured logs (structlog) that never carry personal data.

Callers log ids and outcomes, not what a citizen typed. As a second line of defence the last
processor masks anything that looks like a phone number, a national ID or a PIN in any value.
"""

from __future__ import annotations

import logging
import re
import sys

import structlog

from common.phones import mask_phone

_PHONE = re.compile(r"\+?\d{3,4}(\d{2,3})\d{3}(\d{3})\b")
_LONG_DIGITS = re.compile(r"\b\d{4,}\b")
# Values under these keys are ids, times and figures, never personal data: leave them readable.
_SAFE_KEYS = frozenset(
    {
        "timestamp",
        "level",
        "session",
        "node",
        "outcome",
        "version",
        "latency_ms",
        "status",
        "hops",
        "count",
        "port",
        "pid",
        "duration_ms",
        "code",
        "job",
        "message_id",
        "reference",
    }
)
_SECRET_KEYS = frozenset({"pin", "national_id", "text", "input", "first_name", "last_name", "name", "body"})


def _mask_value(value: str) -> str:
    value = _PHONE.sub(lambda m: m.group(0)[:5] + "****" + m.group(0)[-3:], value)
    return _LONG_DIGITS.sub(lambda m: "*" * len(m.group(0)), value)


def mask_personal_data(_logger: object, _method: str, event: dict) -> dict:
    """structlog processor: drop known-sensitive keys, mask digit runs everywhere else."""
    for key in list(event):
        value = event[key]
        if key in _SECRET_KEYS:
            event[key] = "[masked]"
        elif key == "phone" and isinstance(value, str):
            event[key] = value if "****" in value else mask_phone(value)
        elif key in _SAFE_KEYS:
            continue
        elif isinstance(value, str):
            event[key] = _mask_value(value)
    return event


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Set up structlog once per process; safe to call again."""
    renderer = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level)
    # urllib3 logs every request line at DEBUG, and a core lookup's line carries the phone number
    # (`GET /citizens?phone=%2B254…`); its warnings (a pool full, a retry) still come through.
    logging.getLogger("urllib3").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            mask_personal_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    return structlog.get_logger(name)
