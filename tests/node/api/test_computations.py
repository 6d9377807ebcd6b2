"""Route tests for node/api/computations.py: three started node services over real loopback links —
propose, list, get, result (recipient only), invalid drafts by JSON path, retry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from network.identity import Identity
from tests.node.api.mesh import Node, draft, mesh

pytestmark = pytest.mark.asyncio

UNKNOWN = "m-" + "0" * 64


def _finished(view: dict[str, Any]) -> bool:
    run = view["run"]
    return run is not None and run["state"] in ("completed", "aborted")


def _paths(body: dict[str, Any]) -> list[str]:
    return [e["path"] for e in body["error"]["details"]["errors"]]


async def _proposed(a: Node, nodes: list[Node], **changes: Any) -> dict[str, Any]:
    status, view = await a.call("POST", "/computations", draft(nodes, **changes))
    assert status == 201, view
    assert isinstance(view, dict)
    return view


async def test_propose_answers_201_with_the_view_then_the_run_delivers_at_the_recipient(
    tmp_path: Path,
) -> None:
    """POST: 201 and the view (roles, summary, one negotiation per provider); it runs by itself;
    the recipient reads the union size, a provider that is no recipient gets 403 not_recipient."""
    async with mesh(tmp_path) as nodes:
        a, b, _ = nodes
        view = await _proposed(a, nodes)
        assert view["manifest_id"].startswith("m-")
        assert view["proposer"] == a.node_id
        assert view["roles"] == ["proposer", "provider", "compute_party", "recipient"]
        assert view["state"] in {"REQUESTED", "AGREED", "FINALIZED"}
        assert {n["provider"] for n in view["negotiations"]} == {n.node_id for n in nodes}
        assert all(n["role"] == "proposer" for n in view["negotiations"])
        assert view["manifest"]["expires_at"] == view["expires_at"]
        assert view["summary"]
        mid = view["manifest_id"]
        done = await a.until(mid, _finished)
        assert done["run"]["state"] == "completed", done["run"]
        assert done["state"] == "FINALIZED"
        assert done["agreement"]["state"] == "active"
        status, result = await a.call("GET", f"/computations/{mid}/result")
        assert status == 200, result
        assert (result["manifest_id"], result["kind"]) == (mid, "union_size")
        assert result["result"]["size"] == 25
        status, body = await b.call("GET", f"/computations/{mid}/result")
        assert (status, body["error"]["code"]) == (403, "not_recipient")
        seen = await b.until(mid, lambda v: v["agreement"] is not None)
        assert seen["roles"] == ["provider", "compute_party"]
        assert [n["provider"] for n in seen["negotiations"]] == [b.node_id]
        assert "manifest" in seen
        assert "runs" in seen


async def test_list_newest_first_filtered_by_role_and_unknown_ids_are_404(tmp_path: Path) -> None:
    """GET /computations lists both proposals newest first without manifest; `role` filters;
    an unknown id is 404 computation_not_found on get, result and runs."""
    async with mesh(tmp_path) as nodes:
        a, b, _ = nodes
        first = await _proposed(a, nodes)
        second = await _proposed(a, nodes, purpose="research", expires_in=3600)
        status, listed = await a.call("GET", "/computations")
        assert status == 200
        ids = [v["manifest_id"] for v in listed["computations"]]
        assert set(ids) == {first["manifest_id"], second["manifest_id"]}
        assert all("manifest" not in v and "runs" not in v for v in listed["computations"])
        status, mine = await a.call("GET", "/computations?role=recipient")
        assert {v["manifest_id"] for v in mine["computations"]} == set(ids)
        await b.until(second["manifest_id"], lambda v: True)
        status, theirs = await b.call("GET", "/computations?role=recipient")
        assert (status, theirs) == (200, {"computations": []})
        status, body = await a.call("GET", "/computations?role=owner")
        assert status == 400
        for method, path in (
            ("GET", f"/computations/{UNKNOWN}"),
            ("GET", f"/computations/{UNKNOWN}/result"),
            ("POST", f"/computations/{UNKNOWN}/runs"),
        ):
            status, body = await a.call(method, path)
            assert (status, body["error"]["code"]) == (404, "computation_not_found"), path
        status, body = await a.call("GET", "/computations/not-an-id")
        assert status in {400, 404}


@pytest.mark.parametrize(
    ("change", "code", "path"),
    [
        ({"kind": "median"}, "invalid_body", "$.kind"),
        ({"parameters": {"limit": 5}}, "invalid_manifest", "$.parameters"),
        ({"expires_in": 0}, "invalid_body", "$.expires_in"),
    ],
    ids=["unknown_kind", "bad_parameter", "expires_in_zero"],
)
async def test_an_invalid_draft_is_400_with_its_path(
    tmp_path: Path, change: dict[str, Any], code: str, path: str
) -> None:
    """Unknown kind, a parameter the kind does not take, a zero lifetime: 400, code and path."""
    async with mesh(tmp_path) as nodes:
        a = nodes[0]
        status, body = await a.call("POST", "/computations", draft(nodes, **change))
        assert status == 400, body
        assert body["error"]["code"] == code
        assert any(p.startswith(path) for p in _paths(body)), body
        assert (await a.call("GET", "/computations"))[1] == {"computations": []}


async def test_draft_problems_named_by_path_two_compute_parties_and_bad_provider(
    tmp_path: Path,
) -> None:
    """Two compute parties and a provider that is not a node id: 400 invalid_manifest naming
    `$.compute_parties` and `$.inputs[0].provider`; the provider's text is not echoed."""
    async with mesh(tmp_path) as nodes:
        a = nodes[0]
        body = draft(nodes, compute_parties=[n.node_id for n in nodes[:2]])
        body["inputs"][0]["provider"] = "Kerkhof Shelter"
        status, answer = await a.call("POST", "/computations", body)
        assert status == 400, answer
        assert answer["error"]["code"] == "invalid_manifest"
        paths = _paths(answer)
        assert "$.compute_parties" in paths
        assert "$.inputs[0].provider" in paths
        assert "Kerkhof" not in str(answer)


async def test_an_unknown_provider_is_accepted_then_terminated_with_a_reason(
    tmp_path: Path,
) -> None:
    """A well-formed node id of no member: 201 (membership is the provider's to check), then the
    proposal ends TERMINATED with a reason for that provider and never runs."""
    async with mesh(tmp_path) as nodes:
        a = nodes[0]
        stranger = Identity.generate().node_id
        body = draft(nodes)
        body["inputs"][1]["provider"] = stranger
        view = await _proposed(a, nodes, inputs=body["inputs"])
        mid = view["manifest_id"]
        ended = await a.until(mid, lambda v: v["state"] == "TERMINATED")
        reasons = {n["provider"]: n["reason"] for n in ended["negotiations"]}
        assert reasons[stranger] is not None
        assert ended["run"] is None


async def test_no_result_before_a_run_completes_and_a_retry_is_202(tmp_path: Path) -> None:
    """While a provider's approval is pending, result is 404 no_result and a run 404
    no_agreement;
    once agreed and run, POST /runs answers 202 with a new run id, which becomes `run` and aborts
    runs_exhausted (one run by default); the result stays the first run's; a non-proposer 403."""
    async with mesh(tmp_path, manual=("b",)) as nodes:
        a, b, _ = nodes
        view = await _proposed(a, nodes)
        mid = view["manifest_id"]
        await a.until(mid, lambda v: v["state"] == "PENDING_APPROVAL")
        status, body = await a.call("GET", f"/computations/{mid}/result")
        assert (status, body["error"]["code"]) == (404, "no_result")
        status, body = await a.call("POST", f"/computations/{mid}/runs")
        assert (status, body["error"]["code"]) == (404, "no_agreement")
        status, _ = await b.call("POST", f"/approvals/{mid}/approve", {})
        assert status == 200
        first = await a.until(mid, _finished)
        assert first["run"]["state"] == "completed"
        status, started = await a.call("POST", f"/computations/{mid}/runs")
        assert status == 202, started
        assert started["manifest_id"] == mid
        assert started["run_id"] != first["run"]["run_id"]
        again = await a.until(mid, lambda v: v["run"]["run_id"] == started["run_id"])
        again = await a.until(mid, _finished)
        assert (again["run"]["state"], again["run"]["reason"]) == ("aborted", "runs_exhausted")
        assert [r["run_id"] for r in again["runs"]] == [started["run_id"], first["run"]["run_id"]]
        status, result = await a.call("GET", f"/computations/{mid}/result")
        assert (status, result["run_id"]) == (200, first["run"]["run_id"])
        status, body = await b.call("POST", f"/computations/{mid}/runs")
        assert status == 403, body
