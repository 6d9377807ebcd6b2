"""Route tests for node/api/agreements.py: three started node services over real loopback links —
list, get with every provider's signed terms, retire (effective at once), retire twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.node.api.mesh import Node, draft, mesh

pytestmark = pytest.mark.asyncio

UNKNOWN = "m-" + "0" * 64


def _agreed(view: dict[str, Any]) -> bool:
    return view["agreement"] is not None


async def _agreement(a: Node, nodes: list[Node]) -> str:
    """A computation proposed by ``a``, agreed by all three and run once; its manifest id."""
    status, view = await a.call("POST", "/computations", draft(nodes))
    assert status == 201, view
    mid: str = view["manifest_id"]
    await a.until(mid, lambda v: v["run"] is not None and v["run"]["state"] == "completed")
    for node in nodes:
        await node.until(mid, _agreed)
    return mid


async def test_list_and_get_at_every_participant(tmp_path: Path) -> None:
    """Every participant lists the active agreement; GET shows each provider's signed decision,
    the summary and the manifest; an unknown id is 404 no_agreement."""
    async with mesh(tmp_path) as nodes:
        a = nodes[0]
        mid = await _agreement(a, nodes)
        for node in nodes:
            status, body = await node.call("GET", "/agreements")
            assert status == 200
            (entry,) = body["agreements"]
            assert (entry["manifest_id"], entry["state"], entry["retired_at"]) == (
                mid,
                "active",
                None,
            )
            assert sorted(entry["providers"]) == sorted(n.node_id for n in nodes)
            assert "decisions" not in entry
        status, one = await nodes[2].call("GET", f"/agreements/{mid}")
        assert status == 200
        assert {d["provider"]: d["outcome"] for d in one["decisions"]} == {
            n.node_id: "agreed" for n in nodes
        }
        assert all(d["max_runs"] == 1 for d in one["decisions"])
        assert one["manifest"]["proposer"] == a.node_id
        assert one["summary"]
        status, body = await a.call("GET", f"/agreements/{UNKNOWN}")
        assert (status, body["error"]["code"]) == (404, "no_agreement")


async def test_a_provider_retires_and_every_participant_sees_it_at_once(tmp_path: Path) -> None:
    """b retires with a reason: 200 and its view RETIRED with that reason; the others' agreements
    turn retired as `provider_retired` and a retry is refused; b again is 409 not_retirable."""
    async with mesh(tmp_path) as nodes:
        a, b, c = nodes
        mid = await _agreement(a, nodes)
        status, view = await b.call("POST", f"/agreements/{mid}/retire", {"reason": "not_needed"})
        assert status == 200, view
        assert view["state"] == "RETIRED"
        assert view["agreement"]["state"] == "retired"
        assert view["agreement"]["reason"] == "not_needed"
        for node in (a, c):
            seen = await node.until(mid, lambda v: v["state"] == "RETIRED")
            assert seen["agreement"]["reason"] == "provider_retired"
        status, body = await a.call("POST", f"/computations/{mid}/runs")
        assert status == 403, body
        status, body = await b.call("POST", f"/agreements/{mid}/retire", {})
        assert (status, body["error"]["code"]) == (409, "not_retirable")
        status, listed = await c.call("GET", "/agreements")
        assert [(e["state"], e["reason"]) for e in listed["agreements"]] == [
            ("retired", "provider_retired")
        ]


async def test_the_proposer_retires_consent_then_withdraws_then_409(tmp_path: Path) -> None:
    """a (proposer and provider) retires: its consent ends (default reason `retired`); a second
    retire withdraws its still-live proposal (200, every negotiation TERMINATED); a third finds
    nothing live: 409 not_retirable."""
    async with mesh(tmp_path) as nodes:
        a = nodes[0]
        mid = await _agreement(a, nodes)
        status, view = await a.call("POST", f"/agreements/{mid}/retire", {})
        assert status == 200, view
        assert (view["state"], view["agreement"]["reason"]) == ("RETIRED", "retired")
        status, again = await a.call("POST", f"/agreements/{mid}/retire", {})
        assert (status, again["state"]) == (200, "RETIRED")
        assert {n["state"] for n in again["negotiations"]} == {"TERMINATED"}
        status, body = await a.call("POST", f"/agreements/{mid}/retire", {})
        assert (status, body["error"]["code"]) == (409, "not_retirable")


async def test_retire_refusals(tmp_path: Path) -> None:
    """Retire an unknown id: 404 computation_not_found; a reason that is not a code: 400."""
    async with mesh(tmp_path) as nodes:
        a = nodes[0]
        status, body = await a.call("POST", f"/agreements/{UNKNOWN}/retire", {})
        assert (status, body["error"]["code"]) == (404, "computation_not_found")
        mid = await _agreement(a, nodes)
        status, body = await a.call("POST", f"/agreements/{mid}/retire", {"reason": "No!"})
        assert (status, body["error"]["code"]) == (400, "invalid_body")
        status, listed = await a.call("GET", "/agreements")
        assert listed["agreements"][0]["state"] == "active"
