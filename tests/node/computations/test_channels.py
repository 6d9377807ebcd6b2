"""A run's sessions over real loopback links: participants never linked are dialled on demand."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.node.computations.harness import ended, result_rows, start_nodes, stop_nodes
from tests.node.computations.test_runner import LISTS, agreed, difference

pytestmark = pytest.mark.asyncio
NEVER_LINKED = (("ngo-a", "ngo-b"),)


async def test_a_run_dials_the_participants_it_has_no_link_to(tmp_path: Path) -> None:
    """NGO A and NGO B never met: the run links them through ``connect`` and completes."""
    directory: dict[str, str] = {}
    nodes = await start_nodes(tmp_path, LISTS, unlinked=NEVER_LINKED, directory=directory)
    lea, ngo_a, ngo_b = nodes
    try:
        assert ngo_a.host.link(ngo_b.node_id) is None
        assert ngo_b.host.link(ngo_a.node_id) is None
        run_id = lea.computations.start(agreed(nodes))
        await ended(nodes, run_id)
        assert [n.runs.get(run_id).state for n in nodes] == ["completed"] * 3
        found = set(lea.computations.result(run_id).body["identifiers"])  # type: ignore[arg-type]
        assert len(found) == 5
        assert found <= difference()
        link = ngo_a.host.link(ngo_b.node_id)
        assert link is not None
        assert link.initiator == (ngo_a.node_id < ngo_b.node_id)
    finally:
        await stop_nodes(nodes)


async def test_without_a_way_to_dial_the_run_aborts_unreachable(tmp_path: Path) -> None:
    """With no ``connect`` an unlinked pair waits for a link that never comes: every node
    aborts with ``party_unreachable``, usage is released and no result row exists."""
    nodes = await start_nodes(tmp_path, LISTS, unlinked=NEVER_LINKED)
    lea, _ngo_a, _ngo_b = nodes
    try:
        run_id = lea.computations.start(agreed(nodes))
        await ended(nodes, run_id)
        records = [n.runs.get(run_id) for n in nodes]
        assert [r.state for r in records] == ["aborted"] * 3
        assert {r.reason for r in records} == {"party_unreachable"}
        assert {r.party for r in records} <= {n.node_id for n in nodes[1:]}
        assert [n.usage() for n in nodes] == [0, 0, 0]
        assert [result_rows(n, run_id) for n in nodes] == [0, 0, 0]
    finally:
        await stop_nodes(nodes)
