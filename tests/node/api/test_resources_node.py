"""Status, peers and data spaces of a real (not started) node service over the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.node.api.helpers import NOW, auth, node_service, serve


@pytest.mark.asyncio
async def test_status_of_a_node(tmp_path: Path) -> None:
    """Status names the node from its home and config."""
    async with node_service(tmp_path) as service, serve(service) as client:
        response = await client.get("/api/v1/status", headers=auth(service.admin_token))
        assert response.status == 200
        body = await response.json()
        assert body["node_id"] == service.identity.node_id
        assert body["name"] == "NGO A"
        assert body["now"] == NOW


@pytest.mark.asyncio
async def test_peers_of_a_lonely_node(tmp_path: Path) -> None:
    """A node that knows nobody lists no peers (and never itself)."""
    async with node_service(tmp_path) as service, serve(service) as client:
        response = await client.get("/api/v1/peers", headers=auth(service.admin_token))
        assert response.status == 200
        assert await response.json() == {"peers": []}


@pytest.mark.asyncio
async def test_data_spaces_list_and_get(tmp_path: Path) -> None:
    """A charter this node created is listed and can be read; an unknown space is 404."""
    async with node_service(tmp_path) as service, serve(service) as client:
        headers = auth(service.admin_token)
        assert await (await client.get("/api/v1/dataspaces", headers=headers)).json() == {
            "data_spaces": []
        }
        service.dataspaces.create(
            "nl-human-trafficking", roles=["lea", "ngo"], purposes=["prevalence"], now=NOW
        )
        listed = await (await client.get("/api/v1/dataspaces", headers=headers)).json()
        assert [entry["data_space"] for entry in listed["data_spaces"]] == ["nl-human-trafficking"]
        response = await client.get("/api/v1/dataspaces/nl-human-trafficking", headers=headers)
        assert response.status == 200
        body = await response.json()
        assert body["is_governance"] is True
        assert body["roles"] == ["lea", "ngo"]
        response = await client.get("/api/v1/dataspaces/elsewhere", headers=headers)
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "data_space_unknown"
        response = await client.get("/api/v1/dataspaces/..%2Fx", headers=headers)
        assert response.status in {400, 404}
