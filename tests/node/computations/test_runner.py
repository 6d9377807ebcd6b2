"""Runs of an agreed manifest across three in-process nodes over real loopback links."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.errors import NotFoundError
from node.identifiers import normalise
from tests.node.computations.harness import (
    Node,
    agree,
    crash,
    ended,
    eventually,
    link_all,
    result_rows,
    set_difference,
    start_node,
    start_nodes,
    stop_nodes,
)

pytestmark = pytest.mark.asyncio

LEA = [
    "José García",
    "Anna Kowalska",
    "Mihai Popescu",
    "Olena Shevchenko",
    "Fatima El Amrani",
    "Lin Wei",
    "Ioana Radu",
    "Samuel Okafor",
    "Marta Nowak",
    "Daniel Bălan",
    "Nadia Haddad",
    "Petr Novák",
]
NGO_A = ["jose garcia", "Olena SHEVCHENKO", "Chidi Obi", "Ana Pereira"]
NGO_B = ["Mihai  Popescu", "Lin Wei", "Yusuf Demir", "Marta Nowak"]
LISTS = {"lea": LEA, "ngo-a": NGO_A, "ngo-b": NGO_B}


def difference() -> set[str]:
    """The LEA's normalised names on neither NGO list (the plaintext answer)."""
    others = {normalise(name) for name in NGO_A + NGO_B}
    return {normalise(name) for name in LEA} - others


def agreed(nodes: list[Node], bound: int = 64, forge: bool = False) -> str:
    """A FINALIZED set_difference agreement (limit 5) at every node; its manifest id."""
    lea, ngo_a, ngo_b = nodes
    manifest = set_difference(lea, [ngo_a, ngo_b], nodes, 5, bound)
    agree(lea, nodes, nodes, manifest, forge)
    return manifest.id


def engine_labels(node: Node, run_id: str) -> list[str]:
    """The labels of the engine messages ``node`` received in run ``run_id``."""
    return [label for run, _, label in node.received if run == run_id]


async def test_set_difference_matches_plaintext_and_only_the_lea_learns(tmp_path: Path) -> None:
    """The LEA stores up to 5 of its names on no NGO list; the NGOs store and are opened nothing."""
    nodes = await start_nodes(tmp_path, LISTS)
    lea, ngo_a, ngo_b = nodes
    try:
        manifest_id = agreed(nodes)
        run_id = lea.computations.start(manifest_id)
        for node in nodes:
            await eventually(lambda n=node: n.runs.get(run_id).state != "running")
            assert node.computations.run(run_id).state == "completed"
        result = lea.computations.result(run_id)
        found = set(result.body["identifiers"])  # type: ignore[arg-type]
        assert len(found) == min(5, len(difference()))
        assert found <= difference()
        for node in (ngo_a, ngo_b):
            with pytest.raises(NotFoundError) as error:
                node.computations.result(run_id)
            assert error.value.code == "no_result"
            labels = engine_labels(node, run_id)
            assert labels
            assert not any(label.startswith("out:") for label in labels)
        assert any(label.startswith("out:") for label in engine_labels(lea, run_id))
        assert [node.usage() for node in nodes] == [1, 1, 1]
        kinds = [kind for kind, _ in lea.events]
        assert "run.progressed" in kinds
        assert kinds[-1] == "run.completed"
        phases = [data["phase"] for kind, data in ngo_a.events if kind == "run.progressed"]
        assert list(dict.fromkeys(phases)) == ["verifying", "ready", "keys", "computing", "opening"]
    finally:
        await stop_nodes(nodes)


async def test_forged_signature_is_refused_before_any_share(tmp_path: Path) -> None:
    """A bundle with a forged decision is refused by every participant; no share moves."""
    nodes = await start_nodes(tmp_path, LISTS)
    lea, _ngo_a, _ngo_b = nodes
    try:
        manifest_id = agreed(nodes, forge=True)
        run_id = lea.computations.start(manifest_id)
        for node in nodes:
            await eventually(lambda n=node: n.runs.get(run_id).state != "running")
        records = [node.computations.run(run_id) for node in nodes]
        assert [r.state for r in records] == ["aborted"] * 3
        assert {r.reason for r in records} == {"invalid_signature"}
        assert all(not node.received for node in nodes)
        assert [node.usage() for node in nodes] == [0, 0, 0]
        assert not any(r.has_result for r in records)
    finally:
        await stop_nodes(nodes)


async def test_lost_party_aborts_everywhere_releases_and_a_retry_succeeds(tmp_path: Path) -> None:
    """NGO B crashes mid-run: the others abort with party_lost naming it and release their
    counters; its restart aborts its own row and releases its counter; a new run works."""
    nodes = await start_nodes(tmp_path, LISTS)
    lea, _ngo_a, ngo_b = nodes
    try:
        manifest_id = agreed(nodes, bound=3000)
        run_id = lea.computations.start(manifest_id)
        await eventually(
            lambda: any(d.get("phase") == "computing" for _, d in ngo_b.events), timeout=60
        )
        await crash(ngo_b)
        await ended(nodes[:2], run_id, timeout=60)
        records = [node.computations.run(run_id) for node in nodes[:2]]
        assert [r.state for r in records] == ["aborted"] * 2
        assert [(r.reason, r.party) for r in records] == [("party_lost", ngo_b.node_id)] * 2
        assert [node.usage() for node in nodes[:2]] == [0, 0]
        assert any(kind == "run.aborted" for kind, _ in lea.events)

        allowed = [n.node_id for n in nodes]
        nodes[2] = ngo_b = await start_node(tmp_path, "ngo-b", ngo_b.identity, allowed, None)
        assert (ngo_b.runs.get(run_id).state, ngo_b.runs.get(run_id).reason) == (
            "aborted",
            "node_restarted",
        )
        assert [node.usage() for node in nodes] == [0, 0, 0]
        assert [result_rows(node, run_id) for node in nodes] == [0, 0, 0]
        await link_all(nodes)
        retry = lea.computations.start(manifest_id)
        assert retry != run_id
        record = await lea.computations.wait(retry, 60)
        assert record.state == "completed", record
        found = set(lea.computations.result(retry).body["identifiers"])  # type: ignore[arg-type]
        assert len(found) == 5
        assert found <= difference()
        await eventually(lambda: ngo_b.runs.get(retry).state == "completed")
        assert [node.usage() for node in nodes] == [1, 1, 1]
    finally:
        await stop_nodes(nodes)
