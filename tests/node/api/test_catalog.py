"""Tests for node/api/catalog.py: the steward's view, a peer's catalog through a started node."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from network.identity import Identity
from node.config import AdminConfig, NodeConfig, PeerConfig
from node.home import create_home
from node.service import NodeService
from tests.node.api.helpers import auth, serve
from tests.node.catalog.harness import NOW, SPACE, open_services, steward

pytestmark = pytest.mark.asyncio


async def _get(service: NodeService, path: str) -> tuple[int, Any]:
    async with serve(service, clock=lambda: NOW) as client:
        response = await client.get(path, headers=auth(service.admin_token))
        return response.status, await response.json()


async def test_the_steward_sees_what_a_member_with_the_role_would_see(tmp_path: Path) -> None:
    """?as=<lea member>: `clients` with its rounded count; `empty` hidden for want of a policy."""
    (owner,) = open_services(tmp_path, ["owner"])
    lea = Identity.generate().node_id
    steward(owner, {lea: ["lea"]})
    try:
        status, body = await _get(owner, f"/api/v1/catalog?as={lea}")
    finally:
        await owner.aclose("test_ended")
    assert status == 200
    assert body["member"] is True
    assert body["refused"] is None
    assert [(d["dataset"], d["rows"]) for d in body["datasets"]] == [("clients", 130)]
    assert [(h["dataset"], h["code"]) for h in body["hidden"]] == [("empty", "no_policy")]


async def test_the_steward_sees_why_a_member_without_the_role_sees_nothing(
    tmp_path: Path,
) -> None:
    """?as=<care member>: nothing listed; `clients` hidden by the role constraint, by path."""
    (owner,) = open_services(tmp_path, ["owner"])
    care = Identity.generate().node_id
    steward(owner, {care: ["care"]})
    try:
        status, body = await _get(owner, f"/api/v1/catalog?as={care}")
    finally:
        await owner.aclose("test_ended")
    assert status == 200
    assert body["datasets"] == []
    hidden = {h["dataset"]: h for h in body["hidden"]}
    assert hidden["clients"]["code"] == "constraint_failed"
    assert hidden["clients"]["policy_id"] == "pol-clients"
    assert hidden["clients"]["path"] == "$.permission.constraints[0]"


async def test_the_steward_sees_that_a_stranger_would_be_refused(tmp_path: Path) -> None:
    """?as=<unknown node>: not a member, refused not_a_member, nothing listed or explained."""
    (owner,) = open_services(tmp_path, ["owner"])
    steward(owner, {})
    try:
        status, body = await _get(owner, f"/api/v1/catalog?as={Identity.generate().node_id}")
    finally:
        await owner.aclose("test_ended")
    assert status == 200
    assert (body["member"], body["refused"], body["datasets"], body["hidden"]) == (
        False,
        "not_a_member",
        [],
        [],
    )


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/catalog",
        "/api/v1/catalog?as=ngo-a",
        "/api/v1/catalog?as=cfd1" + "a" * 52,
        "/api/v1/peers/x1/catalog",
    ],
)
async def test_a_missing_or_malformed_node_id_is_invalid_name(tmp_path: Path, path: str) -> None:
    """No `as`, or a value that is not a node id, is 400 invalid_name without quoting it."""
    (owner,) = open_services(tmp_path, ["owner"])
    try:
        status, body = await _get(owner, path)
    finally:
        await owner.aclose("test_ended")
    assert status == 400
    assert body["error"]["code"] == "invalid_name"
    assert "ngo-a" not in body["error"]["message"]


async def test_a_node_not_running_cannot_ask_a_peer(tmp_path: Path) -> None:
    """Before `start` there is no peer host: 503 not_running."""
    (owner,) = open_services(tmp_path, ["owner"])
    try:
        status, body = await _get(owner, f"/api/v1/peers/{Identity.generate().node_id}/catalog")
    finally:
        await owner.aclose("test_ended")
    assert status == 503
    assert body["error"]["code"] == "not_running"


@contextlib.asynccontextmanager
async def _started(directory: Path, name: str) -> AsyncIterator[NodeService]:
    config = NodeConfig(name=name, peer=PeerConfig(port=0), admin=AdminConfig(port=0))
    home, _ = create_home(directory / name, config)
    service = NodeService.open(home, clock=lambda: NOW)
    try:
        yield service
    finally:
        await service.aclose("test_ended")


async def test_a_started_member_fetches_the_owners_catalog_over_its_link(tmp_path: Path) -> None:
    """Two started node services, the member joined by credential: GET /peers/{owner}/catalog
    answers the owner's `clients` entry over the real link; an outsider's handshake fails."""
    async with _started(tmp_path, "owner") as owner, _started(tmp_path, "lea") as lea:
        member = lea.identity.node_id
        steward(owner, {})
        credential = owner.dataspaces.issue(SPACE, member, ["lea"], NOW)
        charter = owner.dataspaces.charter(SPACE)
        lea.dataspaces.join(charter, credential, [], NOW)
        await owner.start()
        await lea.start()
        assert lea.host is not None
        assert owner.peer_url is not None
        await lea.host.connect(owner.identity.node_id, owner.peer_url)
        status, body = await _get(lea, f"/api/v1/peers/{owner.identity.node_id}/catalog")
        assert status == 200, body
        assert body["node_id"] == owner.identity.node_id
        assert [(d["dataset"], d["rows"]) for d in body["datasets"]] == [("clients", 130)]
        async with _started(tmp_path, "outsider") as outsider:
            await outsider.start()
            status, body = await _get(outsider, f"/api/v1/peers/{owner.identity.node_id}/catalog")
    assert status == 503
    assert body["error"]["code"] in {"peer_unreachable", "catalog_timeout"}
