"""structlog, configured once at start-up: key=value on a terminal, JSON lines otherwise.

A redaction processor replaces the value of any key that names a secret (shares, keys, tokens,
identifiers, raw values) before anything is rendered, wherever the log call came from.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

SENSITIVE_KEYS = frozenset(
    {
        "share",
        "shares",
        "key",
        "keys",
        "secret",
        "token",
        "identifier",
        "identifiers",
        "value",
        "values",
        "password",
        "private_key",
        "session_key",
        "mask",
        "input",
        "inputs",
    }
)
REDACTED = "[redacted]"


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Replace values under sensitive keys (exact name or a ``_share``/``_key``… suffix)."""
    for name in list(event):
        lowered = name.lower()
        if lowered in SENSITIVE_KEYS or any(lowered.endswith("_" + k) for k in SENSITIVE_KEYS):
            event[name] = REDACTED
    return event


def configure(json_output: bool | None = None, level: int = logging.INFO) -> None:
    """Configure structlog for this process; call once, from the entry point."""
    as_json = not sys.stderr.isatty() if json_output is None else json_output
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
