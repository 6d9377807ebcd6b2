"""Data spaces with real nodes on loopback: linked then unlinked, revoked while linked, admission
by k endorsements, a node in two data spaces. Every host admits by membership credentials
(``network.admission``) and every link carries a session round trip before it counts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from structlog.testing import capture_logs

from network.admission import data_space_authorizer, enforce
from network.channel import Authorizer, LocalParty
from network.dataspace import DataSpaceLink, MembershipCredential, Revocation
from network.errors import NetworkError, WireCode
from network.evilpeer import Echo, round_trip
from network.host import PeerHost
from network.identity import Identity
from network.link import Link
from network.membership import Membership
from tests.network.test_dataspace import (
    BE,
    BE_GOV,
    NL,
    NL_GOV,
    T0,
    be_charter,
    credential,
    insecure_identity,
    link,
    nl_charter,
    signed,
)

pytestmark = pytest.mark.asyncio

NOW = T0 + 10


@dataclass
class Node:
    """A host admitting by membership, its own view of the data spaces, and an Echo."""

    host: PeerHost
    membership: Membership
    authorize: Authorizer
    echo: Echo

    @property
    def node_id(self) -> str:
        """The node's id."""
        return self.host.node_id

    async def dial(self, other: Node) -> Link:
        """One dial of ``other`` (short deadline); a round trip proves the link carries data."""
        new = await self.host.connect(other.node_id, other.host.url, deadline=0.3)
        await round_trip(new, 1)
        return new


@asynccontextmanager
async def nodes(
    *specs: tuple[Identity, Sequence[MembershipCredential]],
    links: list[DataSpaceLink] | None = None,
    known: Sequence[MembershipCredential] = (),
) -> AsyncIterator[list[Node]]:
    """One started node per (identity, own credentials); each knows both charters and
    ``known`` credentials (e.g. endorsers'), honours ``links`` as they are when a peer dials."""
    held = links if links is not None else []
    started: list[Node] = []
    try:
        for identity, own in specs:
            membership = Membership([nl_charter(), be_charter()])
            for each in (*known, *own):
                membership.add_credential(each)
            spaces = tuple(sorted({c.data_space for c in own}))
            authorize = data_space_authorizer(membership, spaces, lambda: list(held), lambda: NOW)
            echo = Echo()
            local = LocalParty(
                identity, X25519PrivateKey.generate(), spaces, tuple(c.encode() for c in own)
            )
            host = PeerHost(local, authorize, on_session=echo.on_session)
            await host.start()
            started.append(Node(host, membership, authorize, echo))
        yield started
    finally:
        for node in started:
            await node.host.aclose()
            await node.echo.aclose()


async def refused(dialler: Node, target: Node) -> WireCode:
    """The code a dial is refused with (it must be refused)."""
    with pytest.raises(NetworkError) as caught:
        await dialler.dial(target)
    assert target.host.link(dialler.node_id) is None
    return caught.value.code


def be_member(identity: Identity) -> MembershipCredential:
    """A Belgian credential endorsed by two Belgian governance keys."""
    return credential(identity, BE, signers=tuple(BE_GOV[:2]))


async def test_linked_then_unlinked_data_spaces() -> None:
    """Refused before the NL–BE link, linked while it holds; withdrawn: closed, re-dial refused."""
    dutch, belgian = insecure_identity("f-nl"), insecure_identity("f-be")
    links: list[DataSpaceLink] = []
    async with nodes(
        (dutch, [credential(dutch)]), (belgian, [be_member(belgian)]), links=links
    ) as (
        nl,
        be,
    ):
        assert await refused(be, nl) == WireCode.NO_SHARED_DATA_SPACE
        links.append(link())
        established = await be.dial(nl)
        links.clear()  # both governances withdraw the link
        with capture_logs() as logs:
            closed = await enforce([nl.host.link(be.node_id)], nl.authorize)  # type: ignore[list-item]
        assert closed == {be.node_id: WireCode.NO_SHARED_DATA_SPACE}
        assert [e["code"] for e in logs if e["event"] == "link.deauthorized"] == [
            WireCode.NO_SHARED_DATA_SPACE
        ]
        assert (await established.closed).code == WireCode.LINK_LOST  # the Belgian side
        assert await refused(be, nl) == WireCode.NO_SHARED_DATA_SPACE


async def test_expired_data_space_link_is_refused() -> None:
    """A data-space link that expired is refused at the handshake with EXPIRED."""
    dutch, belgian = insecure_identity("f-nl-2"), insecure_identity("f-be-2")
    expired = [link(valid_until=NOW)]
    async with nodes(
        (dutch, [credential(dutch)]), (belgian, [be_member(belgian)]), links=expired
    ) as (
        nl,
        be,
    ):
        assert await refused(be, nl) == WireCode.EXPIRED


async def test_member_revoked_while_linked_is_cut_off_and_refused() -> None:
    """A revocation arrives while linked: enforce closes that link only (REVOKED); no re-dial."""
    a, b, c = (insecure_identity(f"f-nl-{x}") for x in "abc")
    async with nodes(*((i, [credential(i)]) for i in (a, b, c))) as (na, nb, nc):
        doomed, kept = await nb.dial(na), await nc.dial(na)
        revocation = signed(Revocation(NL, NOW, NOW, member=b.node_id), *NL_GOV[:2])
        na.membership.add_revocation(revocation)
        links = [na.host.link(nb.node_id), na.host.link(nc.node_id)]
        assert await enforce([x for x in links if x is not None], na.authorize) == {
            b.node_id: WireCode.REVOKED
        }
        assert (await doomed.closed).code == WireCode.LINK_LOST
        await round_trip(kept, 2)  # the other member's link carries on
        assert await refused(nb, na) == WireCode.REVOKED


async def test_admission_by_k_endorsements_over_a_handshake() -> None:
    """Under BE's k = 2 rule: endorsed by two known members → linked; by one → refused."""
    first, second = insecure_identity("f-be-first"), insecure_identity("f-be-second")
    endorsed, lonely = insecure_identity("f-be-endorsed"), insecure_identity("f-be-lonely")
    first_credential = be_member(first)
    second_credential = credential(second, BE, signers=(BE_GOV[0], first))  # gov + member
    known = (first_credential, second_credential)
    async with nodes(
        (first, [first_credential]),
        (endorsed, [credential(endorsed, BE, signers=(first, second))]),
        (lonely, [credential(lonely, BE, signers=(first,))]),
        known=known,
    ) as (host, good, bad):
        await good.dial(host)
        assert await refused(bad, host) == WireCode.INSUFFICIENT_SIGNATURES
        self_endorsed = credential(lonely, BE, signers=(first, lonely))
        assert host.membership.may_connect(
            [BE], [self_endorsed], [], NOW, remote_node_id=lonely.node_id
        ) == (False, WireCode.INSUFFICIENT_SIGNATURES)


async def test_node_in_two_data_spaces_links_to_both() -> None:
    """A node in NL and BE links to a member of each; those two still refuse each other."""
    bridge, dutch, belgian = (insecure_identity(f"f-{x}") for x in ("bridge", "nl-3", "be-3"))
    async with nodes(
        (bridge, [credential(bridge), be_member(bridge)]),
        (dutch, [credential(dutch)]),
        (belgian, [be_member(belgian)]),
    ) as (both, nl, be):
        assert both.host.local.data_spaces == (BE, NL)
        await nl.dial(both)
        await both.dial(be)
        assert await refused(be, nl) == WireCode.NO_SHARED_DATA_SPACE
        assert await refused(nl, be) == WireCode.NO_SHARED_DATA_SPACE
