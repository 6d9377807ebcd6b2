"""What an audit entry may say: the event name, the actor, and the details guard.

``details`` carry ids, hashes, counts and reason codes only. :func:`check_details` refuses free
text (anything with whitespace), floats, bytes and keys that name secrets, so that an identifier
value, a share, a key or a token cannot reach the log by accident. It cannot see a secret
spelled as one word under an innocent key; the rule for callers is in ``docs/spec/audit-log.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from network.canonical import encode
from network.errors import ValidationError
from network.identity import check_node_id
from node.errors import InvalidError

ADMIN: Final = "admin"
"""The actor of changes made through the admin API or CLI (the operator holding the token)."""
MAX_DETAILS_BYTES: Final = 8192
MAX_DETAILS_DEPTH: Final = 4
MAX_LIST_ITEMS: Final = 256
MAX_INT: Final = (1 << 63) - 1
MIN_INT: Final = -(1 << 63)

_EVENT = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+")
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Ids, hashes, reason codes, JSON paths, ISO times, durations: no spaces, so no free text.
TOKEN: Final = re.compile(r"[A-Za-z0-9$][A-Za-z0-9._:/@+=#\[\]-]{0,255}")
# Key words that name a secret wherever they appear in a key…
_SECRET_WORDS: Final = frozenset(
    {"token", "secret", "password", "passphrase", "seed", "private", "plaintext"}
)
# …and words that name one when they end it (``share_count`` is fine, ``share`` is not).
_SECRET_ENDINGS: Final = frozenset({"share", "shares", "identifier", "identifiers", "key", "keys"})


def _rejected(path: str, reason: str) -> InvalidError:
    return InvalidError(
        "audit_details_rejected",
        "audit details may hold only ids, hashes, counts and reason codes",
        {"path": path, "reason": reason},
    )


def _check_key(key: object, path: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise _rejected(path, "key_not_snake_case")
    words = key.split("_")
    if _SECRET_WORDS.intersection(words) or words[-1] in _SECRET_ENDINGS:
        raise _rejected(f"{path}.{key}", "key_names_a_secret")
    return key


def _check_value(value: object, path: str, depth: int) -> None:
    if depth > MAX_DETAILS_DEPTH:
        raise _rejected(path, "nested_too_deeply")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if not MIN_INT <= value <= MAX_INT:
            raise _rejected(path, "integer_out_of_range")
        return
    if isinstance(value, str):
        if not TOKEN.fullmatch(value):
            raise _rejected(path, "not_an_id_hash_count_or_code")
        return
    if isinstance(value, list | tuple):
        if len(value) > MAX_LIST_ITEMS:
            raise _rejected(path, "too_many_items")
        for index, item in enumerate(value):
            _check_value(item, f"{path}[{index}]", depth + 1)
        return
    if isinstance(value, Mapping):
        for key in value:
            _check_key(key, path)
            _check_value(value[key], f"{path}.{key}", depth + 1)
        return
    raise _rejected(path, f"type_{type(value).__name__}_not_allowed")


def check_details(details: Mapping[str, object]) -> dict[str, Any]:
    """``details`` as a plain JSON value, or ``InvalidError`` (``audit_details_rejected``).

    Allowed: maps with snake_case keys, lists, ``None``, booleans, 64-bit integers and strings
    of one "word" (ids, hex hashes, node ids, reason codes, JSON paths, ISO times). Refused:
    anything with whitespace (free text could hold a name), floats, bytes (write hashes in
    hex), keys naming a secret (``token``, ``secret``, ``…_key``, ``…_share``…), deep nesting,
    and encodings over ``MAX_DETAILS_BYTES``. The error names the path, never the value.
    """
    if not isinstance(details, Mapping):
        raise _rejected("$", "not_a_map")
    _check_value(details, "$", 0)
    plain: dict[str, Any] = json.loads(details_json(details))
    if len(encode(plain)) > MAX_DETAILS_BYTES:
        raise _rejected("$", "too_large")
    return plain


def check_event(event: object) -> str:
    """``event`` if it is ``noun.past_tense_verb`` (lowercase dotted words), else InvalidError."""
    if not isinstance(event, str) or len(event) > 64 or not _EVENT.fullmatch(event):
        raise InvalidError("audit_event_invalid", "an audit event is noun.past_tense_verb")
    return event


def check_actor(actor: object) -> str:
    """``actor`` if it is ``"admin"`` or a node id, else InvalidError."""
    if actor == ADMIN:
        return ADMIN
    try:
        return check_node_id(actor, "$.actor")
    except ValidationError:
        raise InvalidError("audit_actor_invalid", "an audit actor is admin or a node id") from None


def details_json(details: Mapping[str, object]) -> str:
    """The stored text of checked details: JSON with sorted keys and no spaces."""
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
