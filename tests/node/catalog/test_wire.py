"""Tests for node/catalog/wire.py: round trips, the size bound, strict entries, the fuzz rule."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from network import canonical
from node.catalog import wire
from node.catalog.wire import Answer, CatalogWireError, Query, Refused, answer, decode, encode
from node.datasets.catalog import CatalogEntry

CLIENTS = CatalogEntry(
    "clients",
    (
        {"name": "name_dob", "type": "identifier"},
        {"name": "type", "type": "category", "values": ["labour", "sexual"]},
        {"name": "region", "type": "category", "required": False},
        {"name": "age", "type": "integer", "min": 0, "max": 120},
        {"name": "seen", "type": "date", "format": "iso"},
    ),
    130,
)
CASES = CatalogEntry("cases", ({"name": "id", "type": "identifier"},), 4_600)


def samples() -> list[wire.Message]:
    """One message of each type, with and without entries."""
    return [
        Query(),
        Refused("not_a_member"),
        Answer(()),
        Answer((CASES, CLIENTS), truncated=False),
        Answer((CASES,), truncated=True),
    ]


@pytest.mark.parametrize("message", samples())
def test_every_message_round_trips(message: wire.Message) -> None:
    """Encoding then decoding gives the same message back."""
    assert decode(encode(message)) == message


def test_query_and_answer_decoders_refuse_the_other_kind() -> None:
    """An answer sent as a query, or a query as an answer, is malformed."""
    with pytest.raises(CatalogWireError):
        wire.decode_query(encode(Answer(())))
    with pytest.raises(CatalogWireError):
        wire.decode_answer(encode(Query()))
    assert wire.decode_query(encode(Query())) == Query()


def test_a_query_carries_nothing_and_is_small() -> None:
    """The query is the version and the type only, well under its bound."""
    assert canonical.decode(encode(Query())) == {"type": "query", "v": 1}
    assert len(encode(Query())) <= wire.MAX_QUERY


def test_answer_sorts_and_cuts_at_the_size_bound() -> None:
    """Entries go out in name order; those past MAX_ANSWER are left out and flagged."""
    columns = tuple({"name": f"c{i:03d}", "type": "identifier"} for i in range(200))
    many = [CatalogEntry(f"d{i:03d}", columns, 10) for i in range(60)]
    cut = answer(list(reversed(many)))
    assert cut.truncated
    assert 0 < len(cut.entries) < len(many)
    assert [e.dataset for e in cut.entries] == [e.dataset for e in many[: len(cut.entries)]]
    assert len(encode(cut)) <= wire.MAX_ANSWER
    assert decode(encode(cut)) == cut
    whole = answer([CLIENTS, CASES])
    assert not whole.truncated
    assert whole.entries == (CASES, CLIENTS)


def _answer_with(entry: dict[str, object], extra: dict[str, object] | None = None) -> bytes:
    body: dict[str, object] = {"v": 1, "type": "catalog", "entries": [entry], "truncated": False}
    return canonical.encode({**body, **(extra or {})})


@pytest.mark.parametrize(
    ("entry", "path"),
    [
        ({"dataset": "x", "columns": [], "rows": 11}, "$.entries[0].rows"),
        ({"dataset": "x", "columns": [], "rows": -10}, "$.entries[0].rows"),
        ({"dataset": "x", "columns": [], "rows": True}, "$.entries[0].rows"),
        ({"dataset": "../x", "columns": [], "rows": 10}, "$.entries[0].dataset"),
        ({"dataset": "x", "columns": [], "rows": 10}, "$.entries[0].columns"),
        (
            {"dataset": "x", "columns": [{"name": "a", "type": "blob"}], "rows": 10},
            "$.entries[0].columns",
        ),
        (
            {
                "dataset": "x",
                "columns": [{"name": "a", "type": "category", "observed": ["y"]}],
                "rows": 10,
            },
            "$.entries[0].columns",
        ),
        (
            {
                "dataset": "x",
                "columns": [{"name": "a", "type": "identifier", "source": "Naam"}],
                "rows": 10,
            },
            "$.entries[0].columns",
        ),
        (
            {
                "dataset": "x",
                "columns": [{"name": "t", "type": "category", "values": ["B", "a"]}],
                "rows": 10,
            },
            "$.entries[0].columns",
        ),
        (
            {"dataset": "x", "columns": [{"name": "a", "type": "identifier"}], "rows": 10, "n": 1},
            "$.entries[0].<unknown #2>",
        ),
    ],
)
def test_entries_not_in_the_exact_public_form_are_refused(
    entry: dict[str, object], path: str
) -> None:
    """Unrounded or negative counts, unsafe names, private or unnormalised columns, unknown keys."""
    with pytest.raises(CatalogWireError) as caught:
        decode(_answer_with(entry))
    assert caught.value.code == "catalog_malformed"
    assert caught.value.details["path"] == path


def test_peer_text_never_reaches_the_error() -> None:
    """An unknown column key with a forged log line is reported by path only."""
    forged = "x\nevent=consent.approved secret-name Anna Smit"
    entry = {
        "dataset": "x",
        "columns": [{"name": "a", "type": "identifier", forged: 1}],
        "rows": 10,
    }
    with pytest.raises(CatalogWireError) as caught:
        decode(_answer_with(entry))
    text = f"{caught.value} {caught.value.message} {caught.value.details}"
    assert "Anna" not in text
    assert "\n" not in text


def test_entries_out_of_order_unknown_types_versions_and_codes_are_refused() -> None:
    """Unsorted or repeated entries, another version, an unknown type or refusal code."""
    entry = {"dataset": "b", "columns": [{"name": "a", "type": "identifier"}], "rows": 10}
    other = {**entry, "dataset": "a"}
    body = {"v": 1, "type": "catalog", "entries": [entry, other], "truncated": False}
    bad = [
        canonical.encode(body),
        canonical.encode({**body, "entries": [entry, entry]}),
        canonical.encode({**body, "truncated": 0}),
        canonical.encode({"v": 2, "type": "query"}),
        canonical.encode({"v": 1, "type": "gossip"}),
        canonical.encode({"v": 1, "type": "refused", "code": "go_away"}),
        canonical.encode({"v": 1, "type": "query", "as": "someone"}),
        b"",
    ]
    for data in bad:
        with pytest.raises(CatalogWireError):
            decode(data)


def test_an_oversized_message_is_refused_before_parsing() -> None:
    """Bytes over the bound (a query over 64 bytes, an answer over 64 KiB) are malformed."""
    with pytest.raises(CatalogWireError):
        wire.decode_query(encode(Query()) + b"\x00" * 100)
    with pytest.raises(CatalogWireError):
        decode(b"\x90" * (wire.MAX_ANSWER + 1))


def _decode_or_error(data: bytes) -> None:
    with contextlib.suppress(CatalogWireError):
        decode(data)


@given(st.binary(max_size=512))
@settings(max_examples=1500)
def test_fuzz_any_bytes_decode_or_raise_the_one_error(data: bytes) -> None:
    """Random bytes give a message or CatalogWireError, nothing else."""
    _decode_or_error(data)


@given(st.sampled_from([encode(m) for m in samples()]), st.data())
@settings(max_examples=1500)
def test_fuzz_mutated_messages_decode_or_raise_the_one_error(
    valid: bytes, data: st.DataObject
) -> None:
    """Valid messages with bytes flipped, cut or inserted give a message or CatalogWireError."""
    buffer = bytearray(valid)
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        index = data.draw(st.integers(0, max(0, len(buffer) - 1)))
        if action == "flip" and buffer:
            buffer[index] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del buffer[index:]
        else:
            buffer[index:index] = data.draw(st.binary(min_size=1, max_size=4))
    _decode_or_error(bytes(buffer))


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    )
)
@settings(max_examples=800)
def test_fuzz_any_canonical_value_decodes_or_raises_the_one_error(value: object) -> None:
    """Well-formed msgpack of any shape (inside an answer's entries too) never escapes otherwise."""
    _decode_or_error(canonical.encode(value))
    body = {"v": 1, "type": "catalog", "entries": [value], "truncated": False}
    _decode_or_error(canonical.encode(body))
