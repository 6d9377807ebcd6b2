"""The catalog messages between two nodes, and their one strict decoder.

Three messages, each one canonical map (``network.canonical``) with ``"v": 1`` and a ``"type"``;
the layout is in ``docs/spec/catalog.md``:

- ``query`` — "what of yours may I see?"; nothing else (the asker is the link's authenticated
  peer, so it need not, and cannot, say who it is);
- ``catalog`` — the answer: the visible entries (dataset name, public columns, rounded row
  count), name order, and ``truncated`` when the size bound cut the list short;
- ``refused`` — the answer to a requester the node does not know as a member: a reason code.

An answer is at most ``MAX_ANSWER`` bytes (the canonical decoder's own bound) and holds at most
``MAX_ENTRIES`` entries: :func:`answer` leaves out the entries that do not fit and says so.

The fuzz rule: :func:`decode` turns any bytes into a message or raises :class:`CatalogWireError`
(code ``catalog_malformed``), nothing else. The error's details hold a JSON path and a reason
written here — never text taken from the bytes (an unknown key is named by its position).
An entry is accepted only in the exact form this node would send: a safe dataset name, a
column list that the schema parser reads back to the same public JSON, and a row count that is
already rounded (``rounded_rows(rows) == rows``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

from network import canonical
from network.canonical import Value, expect_body, expect_list, expect_map
from network.errors import NetworkError
from node.datasets.catalog import CatalogEntry, rounded_rows
from node.datasets.schema import check_name, parse_schema
from node.errors import InvalidError

VERSION: Final = 1
MAX_ANSWER: Final = canonical.MAX_ENCODED
"""Largest encoded answer (64 KiB); the entries that would not fit are left out."""
MAX_QUERY: Final = 64
"""Largest encoded query: a query has no fields but its version and type."""
MAX_ENTRIES: Final = 256
MAX_COLUMNS: Final = 256
MAX_ROWS: Final = (1 << 63) - 1
REFUSAL_CODES: Final = ("not_a_member",)
"""Every reason a ``refused`` answer can carry; they never change meaning."""
_ENTRY_KEYS: Final = ("columns", "dataset", "rows")
_ANSWER_OVERHEAD: Final = 64
"""Bytes of an answer besides its entries: version, type, the ``truncated`` flag, headers."""


class CatalogWireError(InvalidError):
    """Bytes that are not a valid catalog message (``catalog_malformed``), with the field path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            "catalog_malformed", "not a valid catalog message", {"path": path, "reason": reason}
        )


@dataclass(frozen=True)
class Query:
    """A requester asks for the catalog this node may see."""


@dataclass(frozen=True)
class Answer:
    """The entries visible to the requester; ``truncated`` if the size bound left some out."""

    entries: tuple[CatalogEntry, ...]
    truncated: bool = False


@dataclass(frozen=True)
class Refused:
    """The requester is refused the catalog, with a code from :data:`REFUSAL_CODES`."""

    code: str


Message: TypeAlias = Query | Answer | Refused


def answer(entries: Sequence[CatalogEntry]) -> Answer:
    """An answer of ``entries`` (name order) cut to the first that fit in ``MAX_ANSWER``."""
    kept: list[CatalogEntry] = []
    size = _ANSWER_OVERHEAD
    for entry in sorted(entries, key=lambda item: item.dataset)[:MAX_ENTRIES]:
        size += len(canonical.encode(entry.to_json()))
        if size > MAX_ANSWER:
            break
        kept.append(entry)
    return Answer(tuple(kept), truncated=len(kept) < len(entries))


def to_wire(message: Message) -> dict[str, Value]:
    """The canonical map of ``message``."""
    if isinstance(message, Query):
        return {"v": VERSION, "type": "query"}
    if isinstance(message, Refused):
        return {"v": VERSION, "type": "refused", "code": message.code}
    entries: list[Value] = [
        {"dataset": entry.dataset, "columns": list(entry.columns), "rows": entry.rows}
        for entry in message.entries
    ]
    return {"v": VERSION, "type": "catalog", "entries": entries, "truncated": message.truncated}


def encode(message: Message) -> bytes:
    """The canonical bytes of ``message``."""
    return canonical.encode(to_wire(message))


_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "query": (),
    "catalog": ("entries", "truncated"),
    "refused": ("code",),
}


def decode(data: bytes, max_size: int = MAX_ANSWER) -> Message:
    """The message ``data`` encodes (at most ``max_size`` bytes); :class:`CatalogWireError`
    for anything else."""
    try:
        return _read(canonical.decode(data, max_size))
    except CatalogWireError:
        raise
    except NetworkError as error:  # DecodeError and the strict readers' ValidationError
        raise CatalogWireError(getattr(error, "path", "$"), error.code.name.lower()) from None


def decode_query(data: bytes) -> Query:
    """A query, and nothing else (an answer sent as a request is malformed)."""
    message = decode(data, MAX_QUERY)
    if not isinstance(message, Query):
        raise CatalogWireError("$.type", "expected a query")
    return message


def decode_answer(data: bytes) -> Answer | Refused:
    """An answer or a refusal, and nothing else."""
    message = decode(data)
    if isinstance(message, Query):
        raise CatalogWireError("$.type", "expected an answer")
    return message


def _read(value: Value) -> Message:
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise CatalogWireError("$.type", "missing message type")
    kind = value["type"]
    assert isinstance(kind, str)
    fields = _FIELDS.get(kind)
    if fields is None:
        raise CatalogWireError("$.type", "unknown message type")
    body = expect_body(value, "$", ("v", "type", *fields), VERSION)
    if kind == "query":
        return Query()
    if kind == "refused":
        code = body["code"]
        if code not in REFUSAL_CODES:
            raise CatalogWireError("$.code", "unknown refusal code")
        assert isinstance(code, str)
        return Refused(code)
    truncated = body["truncated"]
    if not isinstance(truncated, bool):
        raise CatalogWireError("$.truncated", "expected a boolean")
    items = expect_list(body["entries"], "$.entries", MAX_ENTRIES)
    entries = tuple(_read_entry(item, f"$.entries[{index}]") for index, item in enumerate(items))
    if any(a.dataset >= b.dataset for a, b in itertools.pairwise(entries)):
        raise CatalogWireError("$.entries", "entries not in strictly increasing name order")
    return Answer(entries, truncated)


def _read_entry(value: Value, path: str) -> CatalogEntry:
    body = expect_map(value, path, _ENTRY_KEYS)
    try:
        name = check_name(body["dataset"])
    except InvalidError:
        raise CatalogWireError(f"{path}.dataset", "not a dataset name") from None
    rows = body["rows"]
    if isinstance(rows, bool) or not isinstance(rows, int) or not 0 <= rows <= MAX_ROWS:
        raise CatalogWireError(f"{path}.rows", "expected a row count")
    if rounded_rows(rows) != rows:
        raise CatalogWireError(f"{path}.rows", "the row count is not rounded")
    columns = expect_list(body["columns"], f"{path}.columns", MAX_COLUMNS)
    try:  # the schema parser's messages may quote a key: never pass them on
        public = parse_schema({"columns": columns}).to_json(public=True)["columns"]
    except (InvalidError, TypeError, ValueError):
        raise CatalogWireError(f"{path}.columns", "not a public schema") from None
    if public != columns:
        raise CatalogWireError(f"{path}.columns", "not in the public form")
    return CatalogEntry(name, tuple(public), rows)
