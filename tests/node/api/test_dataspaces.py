"""Data-space administration over the admin API of real node services: create, invite, join,
co-sign, adopt, revoke, link, unlink — with their errors and audit entries."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from network.identity import Identity
from node.documents import Invitation, from_text, to_text
from node.service import NodeService
from tests.node.api.helpers import NOW, auth, node_service, serve

SPACE = "nl-human-trafficking"
Client = TestClient[Any, Any]


class Api:
    """One node's admin API: its service and an authenticated client."""

    def __init__(self, service: NodeService, client: Client) -> None:
        self.service = service
        self.client = client
        self.headers = auth(service.admin_token)

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """Send ``body`` as JSON to ``/api/v1{path}``; the status and the JSON answer."""
        response = await self.client.request(
            method, "/api/v1" + path, json=body, headers=self.headers
        )
        return response.status, await response.json()

    async def space(self, name: str = SPACE) -> dict[str, Any]:
        """The data space as ``GET /dataspaces/{name}`` answers it (asserting 200)."""
        status, body = await self.call("GET", f"/dataspaces/{name}")
        assert status == 200, body
        assert isinstance(body, dict)
        return body

    def audit_events(self) -> list[str]:
        """The audit log's event names, in order."""
        return [entry.event for entry in self.service.audit.entries()]


@asynccontextmanager
async def node_api(directory: Path) -> AsyncIterator[Api]:
    """A real node service in ``directory`` with its admin API on a loopback socket."""
    directory.mkdir(parents=True, exist_ok=True)
    async with node_service(directory) as service, serve(service) as client:
        yield Api(service, client)


async def founded(api: Api, name: str = SPACE, **extra: Any) -> dict[str, Any]:
    """``api``'s node founds ``name`` (sole governance, member as lea); the 201 answer."""
    body = {"data_space": name, "roles": ["lea", "ngo"], "purposes": ["monitoring"]}
    body.update({"my_roles": ["lea"], **extra})
    status, created = await api.call("POST", "/dataspaces", body)
    assert status == 201, created
    assert isinstance(created, dict)
    return created


@pytest.mark.asyncio
async def test_create_a_charter_and_become_its_member(tmp_path: Path) -> None:
    """POST /dataspaces holds the charter, issues our credential, audits; a second is 409."""
    async with node_api(tmp_path) as lea:
        created = await founded(lea)
        assert created["adopted"] is True
        assert isinstance(
            from_text(created["charter"]), type(lea.service.dataspaces.charter(SPACE))
        )
        space = await lea.space()
        assert space["member"] is True
        assert space["my_roles"] == ["lea"]
        assert space["is_governance"] is True
        assert "dataspace.charter_adopted" in lea.audit_events()
        status, body = await lea.call(
            "POST", "/dataspaces", {"data_space": SPACE, "roles": ["x"], "purposes": ["y"]}
        )
        assert status == 409
        assert body["error"]["code"] == "data_space_exists"


@pytest.mark.asyncio
async def test_create_with_more_governance_is_not_adopted_yet(tmp_path: Path) -> None:
    """A charter needing two governance signatures is returned to co-sign, not held."""
    async with node_api(tmp_path / "a") as lea, node_api(tmp_path / "b") as other:
        created = await founded(
            lea,
            governance=[lea.service.identity.node_id, other.service.identity.node_id],
            governance_threshold=2,
        )
        assert created["adopted"] is False
        assert (await lea.call("GET", f"/dataspaces/{SPACE}"))[0] == 404
        status, signed = await other.call(
            "POST", "/dataspaces/sign", {"document": created["charter"]}
        )
        assert status == 200, signed
        assert signed["kind"] == "charter"
        for api in (lea, other):
            status, adopted = await api.call(
                "POST", "/dataspaces/adopt", {"document": signed["document"]}
            )
            assert (status, adopted) == (200, {"kind": "charter", "new": True})
            assert (await api.space())["version"] == 1


@pytest.mark.asyncio
async def test_invite_and_join_over_the_api(tmp_path: Path) -> None:
    """An invitation from one node's API lets another node's API join; both see the member."""
    async with node_api(tmp_path / "lea") as lea, node_api(tmp_path / "ngo") as ngo:
        await founded(lea)
        ngo_id = ngo.service.identity.node_id
        status, invited = await lea.call(
            "POST", f"/dataspaces/{SPACE}/invitations", {"member": ngo_id, "roles": ["ngo"]}
        )
        assert status == 201, invited
        assert invited["roles"] == ["ngo"]
        assert invited["valid_until"] == NOW + 365 * 86400
        status, joined = await ngo.call(
            "POST", "/dataspaces/join", {"document": invited["invitation"]}
        )
        assert status == 200, joined
        assert joined["data_space"] == SPACE
        assert joined["roles"] == ["ngo"]
        space = await ngo.space()
        assert space["member"] is True
        assert space["my_roles"] == ["ngo"]
        assert (await lea.space())["members_known"] == 2
        assert "dataspace.credential_added" in ngo.audit_events()


@pytest.mark.asyncio
async def test_join_with_a_credential_of_a_held_charter(tmp_path: Path) -> None:
    """A bare credential joins once the charter is held; before, it is data_space_unknown."""
    async with node_api(tmp_path / "lea") as lea, node_api(tmp_path / "ngo") as ngo:
        created = await founded(lea)
        ngo_id = ngo.service.identity.node_id
        _, invited = await lea.call(
            "POST", f"/dataspaces/{SPACE}/invitations", {"member": ngo_id, "roles": ["ngo"]}
        )
        invitation = from_text(invited["invitation"])
        assert isinstance(invitation, Invitation)
        credential = to_text(invitation.credential)
        status, body = await ngo.call("POST", "/dataspaces/join", {"document": credential})
        assert status == 404
        assert body["error"]["code"] == "data_space_unknown"
        status, _ = await ngo.call("POST", "/dataspaces/adopt", {"document": created["charter"]})
        assert status == 200
        status, joined = await ngo.call("POST", "/dataspaces/join", {"document": credential})
        assert status == 200, joined
        assert (await ngo.space())["member"] is True


@pytest.mark.asyncio
async def test_join_refuses_what_is_not_ours_or_not_a_document(tmp_path: Path) -> None:
    """Someone else's invitation, garbage text and a charter are refused with their codes."""
    async with node_api(tmp_path / "lea") as lea, node_api(tmp_path / "ngo") as ngo:
        created = await founded(lea)
        stranger = Identity.generate().node_id
        _, invited = await lea.call(
            "POST", f"/dataspaces/{SPACE}/invitations", {"member": stranger, "roles": []}
        )
        cases = {
            invited["invitation"]: "credential_not_ours",
            "confide-invitation:!!!": "document_invalid",
            "hello": "document_invalid",
            created["charter"]: "not_an_invitation",
        }
        for text, code in cases.items():
            status, body = await ngo.call("POST", "/dataspaces/join", {"document": text})
            assert (status, body["error"]["code"]) == (400, code), text[:30]
        assert (await ngo.call("GET", "/dataspaces"))[1] == {"data_spaces": []}
        status, body = await ngo.call(
            "POST", "/dataspaces/adopt", {"document": invited["invitation"]}
        )
        assert (status, body["error"]["code"]) == (400, "use_join")


@pytest.mark.asyncio
async def test_revoke_a_member_and_a_serial(tmp_path: Path) -> None:
    """A revoked member stops counting at once; a bad serial or two targets are 400."""
    async with node_api(tmp_path) as lea:
        await founded(lea)
        node_b, node_c = Identity.generate().node_id, Identity.generate().node_id
        _, first = await lea.call(
            "POST", f"/dataspaces/{SPACE}/invitations", {"member": node_b, "roles": ["ngo"]}
        )
        _, second = await lea.call(
            "POST", f"/dataspaces/{SPACE}/invitations", {"member": node_c, "roles": ["ngo"]}
        )
        assert (await lea.space())["members_known"] == 3
        status, revoked = await lea.call(
            "POST", f"/dataspaces/{SPACE}/revocations", {"member": node_b}
        )
        assert status == 201, revoked
        assert revoked["kept"] is True
        assert from_text(revoked["revocation"]).member == node_b  # type: ignore[union-attr]
        status, revoked = await lea.call(
            "POST", f"/dataspaces/{SPACE}/revocations", {"serial": second["serial"]}
        )
        assert status == 201, revoked
        assert (await lea.space())["members_known"] == 1
        assert lea.audit_events().count("dataspace.member_revoked") == 2
        for body in (
            {"serial": "zz" * 16},
            {"serial": "ab"},
            {"member": "x", "serial": "ab" * 16},
            {},
        ):
            status, answer = await lea.call("POST", f"/dataspaces/{SPACE}/revocations", body)
            assert (status, answer["error"]["code"]) == (400, "invalid_body"), body
        status, answer = await lea.call(
            "POST", "/dataspaces/elsewhere/revocations", {"member": "x"}
        )
        assert (status, answer["error"]["code"]) == (404, "data_space_unknown")
        assert first["serial"] != second["serial"]
        status, answer = await lea.call(
            "POST", f"/dataspaces/{SPACE}/invitations", {"member": "not-a-node-id"}
        )
        assert (status, answer["error"]["code"]) == (400, "credential_invalid")


@pytest.mark.asyncio
async def test_link_and_unlink_two_spaces_of_one_governance(tmp_path: Path) -> None:
    """Two spaces this node governs link at once; unlink ends it; a second unlink is 404."""
    async with node_api(tmp_path) as lea:
        await founded(lea)
        await founded(lea, "be-human-trafficking")
        status, linked = await lea.call(
            "POST",
            f"/dataspaces/{SPACE}/links",
            {"with": "be-human-trafficking", "purposes": ["monitoring"]},
        )
        assert status == 201, linked
        assert linked["kept"] is True
        assert linked["data_spaces"] == ["be-human-trafficking", SPACE]
        assert (await lea.space())["linked_to"] == ["be-human-trafficking"]
        status, body = await lea.call("DELETE", f"/dataspaces/{SPACE}/links/be-human-trafficking")
        assert (status, body) == (200, {"unlinked": 1})
        assert (await lea.space())["linked_to"] == []
        status, body = await lea.call("DELETE", f"/dataspaces/{SPACE}/links/be-human-trafficking")
        assert (status, body["error"]["code"]) == (404, "link_unknown")
        status, body = await lea.call(
            "POST", f"/dataspaces/{SPACE}/links", {"with": "nowhere", "purposes": ["monitoring"]}
        )
        assert (status, body["error"]["code"]) == (404, "data_space_unknown")
        assert {"dataspace.linked", "dataspace.unlinked"} <= set(lea.audit_events())


@pytest.mark.asyncio
async def test_link_across_two_governances_is_cosigned_then_adopted(tmp_path: Path) -> None:
    """A link between spaces of two governances is kept only after the other co-signs it."""
    async with node_api(tmp_path / "nl") as nl, node_api(tmp_path / "be") as be:
        nl_charter = (await founded(nl))["charter"]
        be_charter = (await founded(be, "be-ht"))["charter"]
        await nl.call("POST", "/dataspaces/adopt", {"document": be_charter})
        await be.call("POST", "/dataspaces/adopt", {"document": nl_charter})
        status, linked = await nl.call(
            "POST", f"/dataspaces/{SPACE}/links", {"with": "be-ht", "purposes": ["monitoring"]}
        )
        assert status == 201
        assert linked["kept"] is False
        assert (await nl.space())["linked_to"] == []
        _, signed = await be.call("POST", "/dataspaces/sign", {"document": linked["link"]})
        assert signed["kind"] == "link"
        for api in (nl, be):
            status, adopted = await api.call(
                "POST", "/dataspaces/adopt", {"document": signed["document"]}
            )
            assert (status, adopted) == (200, {"kind": "link", "new": True})
        assert (await nl.space())["linked_to"] == ["be-ht"]


@pytest.mark.asyncio
async def test_a_change_over_the_api_reaches_the_service_listeners(tmp_path: Path) -> None:
    """A join through the API tells the service at once (an event is published)."""
    async with node_api(tmp_path / "lea") as lea, node_api(tmp_path / "ngo") as ngo:
        await founded(lea)
        _, invited = await lea.call(
            "POST",
            f"/dataspaces/{SPACE}/invitations",
            {"member": ngo.service.identity.node_id, "roles": ["ngo"]},
        )
        subscription = ngo.service.events.subscribe()
        await ngo.call("POST", "/dataspaces/join", {"document": invited["invitation"]})
        kinds = []
        while (event := await subscription.next(timeout=1)) is not None:
            kinds.append(event.kind)
            if event.kind == "dataspace.credential_changed":
                break
        subscription.close()
        assert "dataspace.credential_changed" in kinds
