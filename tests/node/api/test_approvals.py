"""Route tests for node/api/approvals.py: three started node services over real loopback links,
node ``b`` approving by hand — list with the summary, approve narrower, refuse with a reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.node.api.mesh import NOW, Node, draft, mesh

pytestmark = pytest.mark.asyncio

UNKNOWN = "m-" + "0" * 64


async def _pending(a: Node, b: Node, nodes: list[Node]) -> str:
    """A proposal from ``a`` queued at ``b`` for a person; its manifest id."""
    status, view = await a.call("POST", "/computations", draft(nodes))
    assert status == 201, view
    mid: str = view["manifest_id"]
    await a.until(mid, lambda v: v["state"] == "PENDING_APPROVAL")
    return mid


async def test_the_queue_shows_the_plain_language_summary(tmp_path: Path) -> None:
    """GET /approvals at b: the request with proposer, datasets, deadline and a summary saying
    who would learn what; the auto-approving node c has an empty queue."""
    async with mesh(tmp_path, manual=("b",)) as nodes:
        a, b, c = nodes
        mid = await _pending(a, b, nodes)
        status, body = await b.call("GET", "/approvals")
        assert status == 200
        (entry,) = body["approvals"]
        assert (entry["manifest_id"], entry["proposer"], entry["kind"]) == (
            mid,
            a.node_id,
            "union_size",
        )
        assert entry["datasets"] == ["clients"]
        assert entry["deadline"] is not None
        assert entry["deadline"] > NOW
        assert "would learn the number of distinct identifiers" in entry["summary"]
        assert entry["manifest"]["proposer"] == a.node_id
        assert (await c.call("GET", "/approvals"))[1] == {"approvals": []}


async def test_approve_with_narrower_terms_then_decided_is_409(tmp_path: Path) -> None:
    """Approve with an earlier valid_until: AGREED at b, the agreement everywhere ends then;
    approving or refusing again is 409 wrong_state; the queue is empty."""
    async with mesh(tmp_path, manual=("b",)) as nodes:
        a, b, _ = nodes
        mid = await _pending(a, b, nodes)
        until = NOW + 600
        status, decided = await b.call("POST", f"/approvals/{mid}/approve", {"valid_until": until})
        assert status == 200, decided
        assert (decided["manifest_id"], decided["provider"], decided["state"]) == (
            mid,
            b.node_id,
            "AGREED",
        )
        view = await a.until(mid, lambda v: v["agreement"] is not None)
        assert view["agreement"]["valid_until"] == until
        status, agreement = await a.call("GET", f"/agreements/{mid}")
        terms = {d["provider"]: d["valid_until"] for d in agreement["decisions"]}
        assert terms[b.node_id] == until
        for action, body in (("approve", {}), ("refuse", {"reason": "not_needed"})):
            status, answer = await b.call("POST", f"/approvals/{mid}/{action}", body)
            assert (status, answer["error"]["code"]) == (409, "wrong_state"), action
        assert (await b.call("GET", "/approvals"))[1] == {"approvals": []}


async def test_wider_terms_are_refused_and_the_request_stays_queued(tmp_path: Path) -> None:
    """max_runs above the default is 400 terms_not_narrower; the request is still pending."""
    async with mesh(tmp_path, manual=("b",)) as nodes:
        a, b, _ = nodes
        mid = await _pending(a, b, nodes)
        status, answer = await b.call("POST", f"/approvals/{mid}/approve", {"max_runs": 5})
        assert (status, answer["error"]["code"]) == (400, "terms_not_narrower")
        status, body = await b.call("GET", "/approvals")
        assert [e["manifest_id"] for e in body["approvals"]] == [mid]


async def test_refuse_with_a_reason_reaches_the_proposer(tmp_path: Path) -> None:
    """Refuse with `not_needed`: TERMINATED at b; the proposer sees b's reason and no run."""
    async with mesh(tmp_path, manual=("b",)) as nodes:
        a, b, _ = nodes
        mid = await _pending(a, b, nodes)
        status, decided = await b.call("POST", f"/approvals/{mid}/refuse", {"reason": "not_needed"})
        assert status == 200, decided
        assert (decided["state"], decided["reason"]) == ("TERMINATED", "not_needed")
        view = await a.until(mid, lambda v: v["state"] == "TERMINATED")
        reasons = {n["provider"]: n["reason"] for n in view["negotiations"]}
        assert reasons[b.node_id] == "not_needed"
        assert view["run"] is None


@pytest.mark.parametrize(
    ("body", "code"),
    [({"reason": "Not Needed"}, "invalid_body"), ({"reason": ""}, "invalid_body")],
    ids=["not_snake_case", "empty"],
)
async def test_a_reason_that_is_not_a_code_is_400(
    tmp_path: Path, body: dict[str, Any], code: str
) -> None:
    """A reason that is not a snake_case code is 400 at `$.reason`; the request stays queued."""
    async with mesh(tmp_path, manual=("b",)) as nodes:
        a, b, _ = nodes
        mid = await _pending(a, b, nodes)
        status, answer = await b.call("POST", f"/approvals/{mid}/refuse", body)
        assert (status, answer["error"]["code"]) == (400, code)
        assert [e["path"] for e in answer["error"]["details"]["errors"]] == ["$.reason"]
        assert len((await b.call("GET", "/approvals"))[1]["approvals"]) == 1


async def test_unknown_ids_are_404(tmp_path: Path) -> None:
    """Approve or refuse a manifest never received here: 404 no_negotiation."""
    async with mesh(tmp_path) as nodes:
        b = nodes[1]
        for action in ("approve", "refuse"):
            status, answer = await b.call("POST", f"/approvals/{UNKNOWN}/{action}", {})
            assert (status, answer["error"]["code"]) == (404, "no_negotiation"), action
