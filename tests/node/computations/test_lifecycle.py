"""How runs end, over real loopback links: misbehaving peers, deadlines, concurrency, restarts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from network.errors import NetworkError
from network.link import Session
from node.computations import RunStore, wire
from node.identifiers import normalise
from node.store import open_store
from tests.node.computations.harness import (
    LISTS_OF_FOUR,
    Node,
    agree,
    ended,
    misbehave,
    result_rows,
    set_difference,
    start_nodes,
    stop_nodes,
)
from tests.node.computations.test_runner import LISTS, NGO_A, agreed, difference

pytestmark = pytest.mark.asyncio
GARBAGE = np.frombuffer(b"\x82\xa4type\xa5ready\xa1v\x01", dtype=np.uint8)
"""Not a valid run message: a map without its run id."""


async def answer_garbage(session: Session) -> None:
    """A participant that answers ``start`` with a frame that does not decode."""
    try:
        await session.receive(wire.START)
        await session.send(wire.REPLY, (GARBAGE.copy(),))
        await session.receive(wire.ABORT)
    except NetworkError:
        return


async def ready_then_silent(session: Session) -> None:
    """A participant that says ``ready``, takes ``go``, then never sends an engine message."""
    try:
        start = wire.decode(await session.receive(wire.START))
        await session.send(wire.REPLY, (wire.encode(wire.Ready(start.run_id)),))
        await session.receive(wire.GO)
        await asyncio.Event().wait()
    except NetworkError:
        return


def honest_agreement(proposer: Node, others: list[Node], limit: int = 5) -> str:
    """A FINALIZED set_difference agreement among ``proposer`` and ``others``; its id."""
    everyone = [proposer, *others]
    manifest = set_difference(proposer, others, everyone, limit)
    agree(proposer, everyone, everyone, manifest, forge=False)
    return manifest.id


async def test_a_malformed_control_frame_aborts_only_that_run(tmp_path: Path) -> None:
    """A participant's undecodable reply aborts its run everywhere with
    ``run_message_malformed`` naming it; a concurrent run on the same links completes."""
    nodes = await start_nodes(tmp_path, LISTS_OF_FOUR)
    lea, ngo_a, ngo_b, rogue = nodes
    tasks = misbehave(rogue, answer_garbage)
    try:
        spoiled = lea.computations.start(honest_agreement(lea, [ngo_a, rogue]))
        fine = lea.computations.start(honest_agreement(lea, [ngo_a, ngo_b]))
        await ended([lea, ngo_a], spoiled)
        for node in (lea, ngo_a):
            record = node.runs.get(spoiled)
            assert (record.state, record.reason, record.party) == (
                "aborted",
                "run_message_malformed",
                rogue.node_id,
            )
            assert result_rows(node, spoiled) == 0
        await ended([lea, ngo_a, ngo_b], fine)
        assert [n.runs.get(fine).state for n in (lea, ngo_a, ngo_b)] == ["completed"] * 3
        lists = {name: {normalise(n) for n in rows or []} for name, rows in LISTS_OF_FOUR.items()}
        expected = lists["lea"] - lists["ngo-a"] - lists["ngo-b"]
        assert set(lea.computations.result(fine).body["identifiers"]) == expected  # type: ignore[arg-type]
        assert [n.usage() for n in (lea, ngo_a, ngo_b)] == [1, 1, 1]
        link = lea.host.link(rogue.node_id)
        assert link is not None
        assert not link.is_closed
    finally:
        await tasks.aclose()
        await stop_nodes(nodes)


async def test_two_runs_of_different_manifests_share_the_links(tmp_path: Path) -> None:
    """Two manifests run at once over the same three links; both complete and both count."""
    nodes = await start_nodes(tmp_path, LISTS)
    lea, ngo_a, ngo_b = nodes
    try:
        first = lea.computations.start(honest_agreement(lea, [ngo_a, ngo_b], limit=5))
        second = lea.computations.start(honest_agreement(lea, [ngo_a, ngo_b], limit=2))
        await ended(nodes, first)
        await ended(nodes, second)
        for run_id, limit in ((first, 5), (second, 2)):
            assert [n.runs.get(run_id).state for n in nodes] == ["completed"] * 3
            found = set(lea.computations.result(run_id).body["identifiers"])  # type: ignore[arg-type]
            assert len(found) == limit
            assert found <= difference()
        assert [n.usage() for n in nodes] == [2, 2, 2]
    finally:
        await stop_nodes(nodes)


async def test_a_run_past_its_deadline_aborts_everywhere_and_releases(tmp_path: Path) -> None:
    """A participant goes silent after ``go``: at the deadline every other node aborts with
    ``deadline_passed``, its usage is released and no result row exists."""
    nodes = await start_nodes(
        tmp_path, {"lea": LISTS["lea"], "ngo-a": NGO_A, "rogue": ["x"]}, run_timeout=2
    )
    lea, ngo_a, rogue = nodes
    tasks = misbehave(rogue, ready_then_silent)
    try:
        run_id = lea.computations.start(honest_agreement(lea, [ngo_a, rogue]))
        await ended([lea, ngo_a], run_id, timeout=10)
        for node in (lea, ngo_a):
            record = node.runs.get(run_id)
            assert (record.state, record.reason) == ("aborted", "deadline_passed")
            assert result_rows(node, run_id) == 0
        assert [lea.usage(), ngo_a.usage()] == [0, 0]
        # The deadline struck after ``go`` (during key setup or computing; which one depends
        # on how far the honest parties got before the rogue's silence stopped them).
        assert any(d.get("phase") in {"keys", "computing"} for _, d in ngo_a.events)
    finally:
        await tasks.aclose()
        await stop_nodes(nodes)


async def test_the_recipients_result_survives_a_restart(tmp_path: Path) -> None:
    """After the node stops and its store is opened again, the result is there, unchanged,
    and recovery leaves the completed run alone."""
    nodes = await start_nodes(tmp_path, LISTS)
    lea = nodes[0]
    try:
        run_id = lea.computations.start(agreed(nodes))
        await ended(nodes, run_id)
        before = lea.computations.result(run_id)
    finally:
        await stop_nodes(nodes)
    runs = RunStore(open_store(tmp_path / "lea.sqlite"))
    try:
        assert runs.recover(0) == []
        assert runs.result(run_id) == before
        record = runs.get(run_id)
        assert (record.state, record.percent, record.has_result) == ("completed", 100, True)
    finally:
        runs.connection.close()
