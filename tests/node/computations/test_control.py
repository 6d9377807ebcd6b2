"""The run's control table: legal conversations pass, anything else is a coded abort."""

from __future__ import annotations

import pytest

from node.computations import wire
from node.computations.control import (
    ABORTED,
    FINISHED,
    REFUSED,
    RUNNING,
    TRANSITIONS,
    Conversation,
    RunAbortedError,
)
from tests.node.computations.test_wire import bundle

RUN = "r-" + "1" * 32
OTHER = "r-" + "2" * 32
PEER = "n-peer"


def messages_of(run_id: str) -> dict[str, wire.Message]:
    """One message of each type for ``run_id``."""
    return {
        "start": wire.Start(run_id, bundle(), 100),
        "ready": wire.Ready(run_id),
        "refused": wire.Refused(run_id, "policy_refused"),
        "go": wire.Go(run_id),
        "finished": wire.Finished(run_id),
        "abort": wire.Abort(run_id, "party_lost", None),
    }


def test_a_coordinator_and_a_participant_walk_the_whole_table() -> None:
    """Start, ready, go, finished: both ends end FINISHED, step by step."""
    sent = messages_of(RUN)
    coordinator = Conversation("coordinator", RUN, PEER)
    participant = Conversation("participant", RUN, PEER)
    for name, sender, receiver in [
        ("start", coordinator, participant),
        ("ready", participant, coordinator),
        ("go", coordinator, participant),
    ]:
        sender.sent(sent[name])
        receiver.received(sent[name])
    assert coordinator.state == participant.state == RUNNING
    participant.sent(sent["finished"])
    coordinator.received(sent["finished"])
    assert coordinator.state == participant.state == FINISHED


def test_a_refusal_ends_the_conversation() -> None:
    """A refused start is REFUSED at both ends; a later ready is the peer's fault."""
    sent = messages_of(RUN)
    coordinator = Conversation("coordinator", RUN, PEER)
    coordinator.sent(sent["start"])
    coordinator.received(sent["refused"])
    assert coordinator.state == REFUSED
    with pytest.raises(RunAbortedError) as error:
        coordinator.received(sent["ready"])
    assert (error.value.code, error.value.party) == ("unexpected_message", PEER)


@pytest.mark.parametrize("role", ["coordinator", "participant", "peer"])
def test_every_message_not_in_the_table_is_refused(role: str) -> None:
    """From the first state, each message the table lacks raises the coded error."""
    for name, message in messages_of(RUN).items():
        if name == "abort":
            continue
        conversation = Conversation(role, RUN, PEER)  # type: ignore[arg-type]  # parametrised
        if (role, "idle", "received", name) in TRANSITIONS:
            conversation.received(message)
            continue
        with pytest.raises(RunAbortedError) as error:
            conversation.received(message)
        assert error.value.code == "unexpected_message"
        assert error.value.party == PEER
        assert conversation.state == "idle"


def test_sending_out_of_turn_is_this_nodes_bug() -> None:
    """A go before any ready is ``internal_error``, not blamed on the peer."""
    coordinator = Conversation("coordinator", RUN, PEER)
    coordinator.sent(messages_of(RUN)["start"])
    with pytest.raises(RunAbortedError) as error:
        coordinator.sent(messages_of(RUN)["go"])
    assert (error.value.code, error.value.party) == ("internal_error", None)


def test_a_message_of_another_run_is_unexpected() -> None:
    """The same type under another run id is refused."""
    participant = Conversation("participant", RUN, PEER)
    with pytest.raises(RunAbortedError) as error:
        participant.received(messages_of(OTHER)["start"])
    assert error.value.code == "unexpected_message"


def test_abort_is_legal_once_from_any_state() -> None:
    """An abort ends any conversation, even a refused one; a second abort is unexpected."""
    sent = messages_of(RUN)
    coordinator = Conversation("coordinator", RUN, PEER)
    coordinator.sent(sent["start"])
    coordinator.received(sent["refused"])
    coordinator.sent(sent["abort"])
    assert coordinator.state == ABORTED
    with pytest.raises(RunAbortedError):
        coordinator.received(sent["abort"])
    peer = Conversation("peer", RUN, PEER)
    peer.received(sent["abort"])
    assert peer.state == ABORTED
