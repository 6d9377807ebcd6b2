"""``/api/v1/policies`` over a real socket: create, validate, version, retire, explain."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from node.service import NodeService
from tests.node.api.helpers import NOW, auth, node_service, serve

SPACE = "nl-human-trafficking"
POLICY: dict[str, Any] = {
    "id": "pol-ngo-a",
    "dataset": "clients-2026",
    "permission": {
        "action": ["set_difference", "union_size"],
        "constraints": [
            {"left": "requester_role", "op": "isAnyOf", "right": ["lea"]},
            {"left": "data_space", "op": "isAnyOf", "right": [SPACE]},
        ],
    },
    "approval": "manual",
}


def hold_dataset(service: NodeService, name: str = "clients-2026") -> None:
    """Import a small dataset ``name`` on ``service``'s node (policies must name a held one)."""
    service.datasets.import_bytes(name, b"name,dob\nJan,1990-01-31\n", now=NOW)


def _policy(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(POLICY)
    document.update(changes)
    return document


@pytest.mark.asyncio
async def test_create_get_list_version_retire(tmp_path: Path) -> None:
    """A policy is created, read, updated to version 2 and retired."""
    async with node_service(tmp_path) as service, serve(service) as client:
        hold_dataset(service)
        headers = auth(service.admin_token)
        response = await client.post("/api/v1/policies", json=POLICY, headers=headers)
        assert response.status == 201, await response.text()
        assert (await response.json())["policy"]["version"] == 1
        response = await client.post("/api/v1/policies", json=POLICY, headers=headers)
        assert (response.status, (await response.json())["error"]["code"]) == (409, "policy_exists")
        updated = _policy(approval="auto")
        response = await client.put("/api/v1/policies/pol-ngo-a", json=updated, headers=headers)
        assert (await response.json())["policy"]["version"] == 2
        versions = await (
            await client.get("/api/v1/policies/pol-ngo-a/versions", headers=headers)
        ).json()
        assert [v["policy"]["version"] for v in versions["versions"]] == [1, 2]
        first = await client.get("/api/v1/policies/pol-ngo-a?version=1", headers=headers)
        assert (await first.json())["policy"]["approval"] == "manual"
        response = await client.post("/api/v1/policies/pol-ngo-a/retire", headers=headers)
        assert (await response.json())["retired_at"] == NOW
        listed = await (await client.get("/api/v1/policies", headers=headers)).json()
        assert listed == {"policies": []}
        listed = await (await client.get("/api/v1/policies?retired=true", headers=headers)).json()
        assert [p["policy"]["id"] for p in listed["policies"]] == ["pol-ngo-a"]
        entries = await (await client.get("/api/v1/audit?event=policy", headers=headers)).json()
        assert [e["event"] for e in entries["entries"]] == [
            "policy.created",
            "policy.updated",
            "policy.retired",
        ]
        assert {e["actor"] for e in entries["entries"]} == {"admin"}


@pytest.mark.asyncio
async def test_invalid_policy_reports_every_path(tmp_path: Path) -> None:
    """A bad policy is 400 with its JSON paths, on create and on validate (200, valid=false)."""
    bad = _policy(colour="red")
    bad["permission"]["constraints"][0]["op"] = "isSomeOf"
    async with node_service(tmp_path) as service, serve(service) as client:
        hold_dataset(service)
        headers = auth(service.admin_token)
        response = await client.post("/api/v1/policies", json=bad, headers=headers)
        assert response.status == 400
        body = await response.json()
        text = str(body["error"]["details"])
        assert "$.colour" in text
        assert "$.permission.constraints[0].op" in text
        response = await client.post("/api/v1/policies/validate", json=bad, headers=headers)
        assert response.status == 200
        verdict = await response.json()
        assert verdict["valid"] is False
        assert verdict["code"] == body["error"]["code"]
        response = await client.post("/api/v1/policies/validate", json=POLICY, headers=headers)
        assert (await response.json())["valid"] is True
        response = await client.post("/api/v1/policies", json=[1, 2], headers=headers)
        assert (await response.json())["error"]["code"] == "invalid_body"


@pytest.mark.asyncio
async def test_vocabulary_of_held_charters(tmp_path: Path) -> None:
    """Once the node holds a charter, a policy naming a role it does not define is refused."""
    async with node_service(tmp_path) as service, serve(service) as client:
        hold_dataset(service)
        service.dataspaces.create(
            SPACE, roles=["lea", "ngo"], purposes=["victim-outreach"], now=NOW
        )
        headers = auth(service.admin_token)
        typo = copy.deepcopy(POLICY)
        typo["permission"]["constraints"][0]["right"] = ["police"]
        response = await client.post("/api/v1/policies", json=typo, headers=headers)
        assert response.status == 400
        assert "$.permission.constraints[0].right" in str((await response.json())["error"])
        response = await client.post("/api/v1/policies", json=POLICY, headers=headers)
        assert response.status == 201


@pytest.mark.asyncio
async def test_explain_for_a_requester(tmp_path: Path) -> None:
    """Explain says which constraint fails for a would-be requester, and which pass."""
    async with node_service(tmp_path) as service, serve(service) as client:
        hold_dataset(service)
        headers = auth(service.admin_token)
        await client.post("/api/v1/policies", json=POLICY, headers=headers)
        asked = {"node_id": service.identity.node_id, "data_space": SPACE, "roles": ["ngo"]}
        response = await client.post(
            "/api/v1/policies/pol-ngo-a/explain", json={"requester": asked}, headers=headers
        )
        assert response.status == 200, await response.text()
        body = await response.json()
        assert body["outcome"] == "refuse"
        outcomes = {check["path"]: check["outcome"] for check in body["checks"]}
        assert outcomes["$.permission.constraints[0]"] == "fail"
        assert outcomes["$.permission.constraints[1]"] == "pass"
        response = await client.post(
            "/api/v1/policies/pol-ngo-a/explain",
            json={"requester": asked, "manifest": {}},
            headers=headers,
        )
        assert (await response.json())["error"]["code"] == "invalid_body"
        response = await client.post(
            "/api/v1/policies/nope/explain", json={"requester": asked}, headers=headers
        )
        assert response.status == 404


@pytest.mark.asyncio
async def test_a_policy_must_name_a_held_dataset(tmp_path: Path) -> None:
    """Create, update and validate refuse a dataset this node does not hold, at $.dataset."""
    async with node_service(tmp_path) as service, serve(service) as client:
        headers = auth(service.admin_token)
        response = await client.post("/api/v1/policies", json=POLICY, headers=headers)
        body = await response.json()
        assert (response.status, body["error"]["code"]) == (400, "dataset_unknown")
        assert body["error"]["details"]["errors"][0]["path"] == "$.dataset"
        response = await client.post("/api/v1/policies/validate", json=POLICY, headers=headers)
        verdict = await response.json()
        assert (verdict["valid"], verdict["code"]) == (False, "dataset_unknown")
        hold_dataset(service)
        response = await client.post("/api/v1/policies", json=POLICY, headers=headers)
        assert response.status == 201
        moved = _policy(dataset="clients-2027")
        response = await client.put("/api/v1/policies/pol-ngo-a", json=moved, headers=headers)
        assert (response.status, (await response.json())["error"]["code"]) == (
            400,
            "dataset_unknown",
        )
        assert service.policies.get("pol-ngo-a").policy.version == 1
        assert service.datasets.get("clients-2026").row_count == 1
