"""Log redaction: no share, key, token or identifier reaches a log line."""

from __future__ import annotations

import io
import json
import sys

import structlog

from node import logging as node_logging


def capture(**fields: object) -> dict[str, object]:
    """Log one event with ``fields`` through the configured pipeline and parse the JSON line."""
    stream = io.StringIO()
    original = sys.stderr
    sys.stderr = stream
    try:
        structlog.reset_defaults()
        node_logging.configure(json_output=True)
        structlog.get_logger().info("session.completed", **fields)
    finally:
        sys.stderr = original
        structlog.reset_defaults()
    return dict(json.loads(stream.getvalue().strip().splitlines()[-1]))


def test_sensitive_keys_are_redacted() -> None:
    """Values under secret-bearing keys are replaced before rendering."""
    line = capture(
        share=123456789,
        session_key=b"\x01" * 32,
        token="abc",
        identifier="José García",
        values=[1, 2, 3],
        peer=2,
        rounds=5,
    )
    for key in ("share", "session_key", "token", "identifier", "values"):
        assert line[key] == node_logging.REDACTED
    assert line["peer"] == 2
    assert line["rounds"] == 5
    assert "José" not in json.dumps(line)


def test_event_names_and_levels_are_kept() -> None:
    """The event name and level survive redaction."""
    line = capture(peer=1)
    assert line["event"] == "session.completed"
    assert line["level"] == "info"


def test_suffix_match() -> None:
    """Keys ending in a sensitive word (``input_values``, ``noise_key``) are redacted too."""
    line = capture(input_values=[7], noise_key="k", size=3)
    assert line["input_values"] == node_logging.REDACTED
    assert line["noise_key"] == node_logging.REDACTED
    assert line["size"] == 3
