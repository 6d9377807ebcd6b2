"""Run control messages: round trips, the session id, and the one decode error."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from network.identity import Identity
from node.computations import wire
from node.consent import messages
from node.errors import InvalidError
from tests.node.computations.harness import set_difference_of


def bundle() -> messages.Finalized:
    """A finalised bundle with real signatures."""
    nodes = [Identity.generate() for _ in range(3)]
    ids = [n.node_id for n in nodes]
    manifest = set_difference_of(ids[0], ids[1:], ids, 5)
    decisions = tuple(
        sorted(
            (
                messages.sign_decision(
                    n, manifest.id, agreed=True, valid_until=1 << 39, max_runs=1, now=1
                )
                for n in nodes
            ),
            key=lambda d: d.provider,
        )
    )
    signature = messages.countersign(nodes[0], manifest, decisions)
    return messages.Finalized(manifest, decisions, signature)


def test_every_message_round_trips() -> None:
    """Each control message decodes to itself."""
    run_id = wire.new_run_id(os.urandom(16))
    party = Identity.generate().node_id
    for message in (
        wire.Start(run_id, bundle(), 1_700_000_600),
        wire.Ready(run_id),
        wire.Refused(run_id, "invalid_signature"),
        wire.Go(run_id),
        wire.Abort(run_id, "party_lost", party),
        wire.Abort(run_id, "deadline_passed", None),
        wire.Finished(run_id),
    ):
        assert wire.decode((wire.encode(message),)) == message


def test_session_id_is_deterministic_and_outside_the_fixed_ids() -> None:
    """Every node derives the same id; it differs per run and has its top bit set."""
    first = wire.session_id("m-" + "a" * 64, "r-" + "0" * 32)
    assert first == wire.session_id("m-" + "a" * 64, "r-" + "0" * 32)
    assert first != wire.session_id("m-" + "a" * 64, "r-" + "1" * 32)
    assert first & wire.SESSION_BIT


def test_run_ids_are_checked() -> None:
    """A run id is r- and 32 lowercase hex digits."""
    assert wire.check_run_id("r-" + "ab" * 16).startswith("r-")
    for bad in ("r-" + "AB" * 16, "x", None, "r-" + "a" * 31):
        with pytest.raises(InvalidError):
            wire.check_run_id(bad)


def test_a_truncated_or_altered_start_is_malformed() -> None:
    """Flipping the last byte of a Start breaks its canonical form."""
    message = wire.Start(wire.new_run_id(os.urandom(16)), bundle(), 1_700_000_600)
    data = bytearray(wire.encode(message).tobytes())
    data[-1] ^= 0x01
    with pytest.raises(wire.WireError):
        wire.decode((np.frombuffer(bytes(data), dtype=np.uint8),))


@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_the_one_error(data: bytes) -> None:
    """Fuzz: arbitrary bytes are a message or ``WireError``, nothing else."""
    try:
        wire.decode((np.frombuffer(data, dtype=np.uint8),))
    except wire.WireError as error:
        assert error.code == "run_message_malformed"  # noqa: PT017  # fuzz: decode may also succeed


def test_wrong_array_shapes_are_refused() -> None:
    """Two arrays, or a 2-D array, are not a message."""
    one = wire.encode(wire.Go(wire.new_run_id(os.urandom(16))))
    for arrays in ((one, one), (one.reshape(1, -1),), ()):
        with pytest.raises(wire.WireError):
            wire.decode(arrays)
