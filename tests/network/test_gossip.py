"""Gossip messages: round trips, the fuzz rule, the anti-entropy plan and push batching."""

from __future__ import annotations

import contextlib

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from network.errors import DecodeError, LocalProtocolError
from network.gossip import (
    MAX_PUSH_RECORDS,
    PUSH_BUDGET,
    Digest,
    Entry,
    Push,
    Summary,
    Want,
    compare,
    decode_gossip,
    encode_gossip,
    pushes,
    summary_hash,
)

node_ids = st.text("abcdefghijklmnopqrstuvwxyz234567", min_size=1, max_size=60)
digests = st.binary(min_size=32, max_size=32)
blobs = st.binary(min_size=1, max_size=300)
entries = st.builds(Entry, blobs, st.lists(blobs, max_size=8).map(tuple))
messages = st.one_of(
    st.builds(
        Push, st.lists(entries, max_size=5).map(tuple), st.lists(blobs, max_size=5).map(tuple)
    ),
    st.builds(Summary, digests),
    st.builds(
        Digest,
        st.dictionaries(node_ids, st.integers(0, (1 << 64) - 1), max_size=10),
        st.frozensets(digests, max_size=5),
    ),
    st.builds(
        Want, st.lists(node_ids, max_size=10).map(tuple), st.lists(digests, max_size=5).map(tuple)
    ),
)


def mutated(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` with one byte replaced."""
    return st.tuples(st.integers(0, max(0, len(data) - 1)), st.integers(0, 255)).map(
        lambda t: data[: t[0]] + bytes([t[1]]) + data[t[0] + 1 :]
    )


@settings(max_examples=200, deadline=None)
@given(messages)
def test_round_trip(message: Push | Summary | Digest | Want) -> None:
    """Every message decodes to itself."""
    assert decode_gossip(encode_gossip(message)) == message


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=400), messages.map(encode_gossip).flatmap(mutated)))
def test_fuzz_any_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    """Arbitrary or mutated bytes are accepted or raise DecodeError, nothing else."""
    with contextlib.suppress(DecodeError):
        decode_gossip(data)


@pytest.mark.parametrize(
    "body",
    [
        {"op": "summary", "hash": b"short"},
        {"op": "summary", "hash": bytes(32), "extra": 1},
        {"op": "push", "records": [[b"r"]], "revocations": []},
        {"op": "push", "records": [[b"r", [b"c"] * 9]], "revocations": []},
        {"op": "push", "records": [[b"r", []]] * 65, "revocations": []},
        {"op": "digest", "records": [["a", 1], ["a", 2]], "revocations": []},
        {"op": "digest", "records": [["a", -1]], "revocations": []},
        {"op": "digest", "records": [["a", True]], "revocations": []},
        {"op": "want", "records": [""], "revocations": []},
        {"op": "want", "records": [], "revocations": [bytes(31)]},
        {"op": "gossip"},
        [1, 2],
    ],
)
def test_bad_messages_are_decode_errors(body: object) -> None:
    """Malformed but well-encoded messages are refused with DecodeError."""
    with pytest.raises(DecodeError):
        decode_gossip(msgpack.packb(body, use_bin_type=True))


def test_unencodable_message_is_a_local_error() -> None:
    """A message no peer would accept is refused when encoding."""
    with pytest.raises(LocalProtocolError):
        encode_gossip(Summary(b"too short"))


def test_summary_hash_ignores_order_and_sees_every_change() -> None:
    """The summary depends on the held set only, and changes with any sequence or revocation."""
    base = summary_hash({"a": 1, "b": 2}, [bytes(32), b"\1" * 32])
    assert base == summary_hash({"b": 2, "a": 1}, [b"\1" * 32, bytes(32)])
    assert base != summary_hash({"a": 1, "b": 3}, [bytes(32), b"\1" * 32])
    assert base != summary_hash({"a": 1, "b": 2}, [bytes(32)])
    assert base != summary_hash({"a": 1}, [bytes(32), b"\1" * 32])


def test_compare_pushes_what_the_peer_lacks_and_wants_what_we_lack() -> None:
    """Missing or older on one side is pushed by the other; equal entries are left alone."""
    mine = {"a": 5, "b": 1, "c": 3}
    theirs = Digest({"a": 5, "b": 2, "d": 1}, frozenset({b"x" * 32, b"y" * 32}))
    plan = compare(mine, [b"y" * 32, b"z" * 32], theirs)
    assert plan.push_records == ("c",)
    assert plan.want_records == ("b", "d")
    assert plan.push_revocations == (b"z" * 32,)
    assert plan.want_revocations == (b"x" * 32,)


def test_pushes_respect_count_and_byte_budgets() -> None:
    """Entries are split by count and bytes; revocations follow in their own pushes."""
    many = [Entry(bytes([i % 250 + 1]) * 10) for i in range(MAX_PUSH_RECORDS + 1)]
    split = pushes(many, [b"r" * 32] * 3)
    assert [len(p.entries) for p in split] == [MAX_PUSH_RECORDS, 1, 0]
    assert split[-1].revocations == (b"r" * 32,) * 3
    big = [Entry(b"x" * 4000, (b"c" * 4000,) * 8) for _ in range(10)]
    batches = pushes(big)
    assert sum(len(p.entries) for p in batches) == 10
    for push in batches:
        assert sum(len(e.record) + sum(map(len, e.credentials)) for e in push.entries) <= (
            PUSH_BUDGET
        )
        assert decode_gossip(encode_gossip(push)) == push
    assert pushes([]) == []
