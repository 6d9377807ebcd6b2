"""Links admitted by data-space membership, over real websockets: shared, linked, revoked."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.admission import data_space_authorizer
from network.channel import LocalParty
from network.dataspace import DataSpaceLink, MembershipCredential, Revocation
from network.errors import NetworkError, WireCode
from network.host import PeerHost
from network.identity import Identity
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

NL_A, NL_B, BE_A, NL_REVOKED = (insecure_identity(n) for n in ("nl-a", "nl-b", "be-a", "nl-x"))


def be_credential(member: Identity) -> MembershipCredential:
    """A Belgian credential, endorsed by two Belgian governance keys."""
    return credential(member, space=BE, signers=tuple(BE_GOV[:2]))


def host(
    identity: Identity,
    space: str,
    own: MembershipCredential,
    links: list[DataSpaceLink],
    revocations: tuple[Revocation, ...] = (),
) -> PeerHost:
    """A host whose authoriser knows both charters, honours ``links`` and ``revocations``."""
    membership = Membership([nl_charter(), be_charter()])
    for revocation in revocations:
        membership.add_revocation(revocation)
    local = LocalParty(identity, X25519PrivateKey.generate(), (space,), (own.encode(),))
    authorize = data_space_authorizer(membership, (space,), lambda: list(links), lambda: T0 + 10)
    return PeerHost(local, authorize)


async def connect(dialler: PeerHost, target: PeerHost) -> None:
    """Dial ``target`` once (short deadline)."""
    await dialler.connect(target.node_id, target.url, deadline=0.3)


async def test_members_of_one_data_space_connect() -> None:
    """Two members of the same data space complete the handshake."""
    a = host(NL_A, NL, credential(NL_A), [])
    b = host(NL_B, NL, credential(NL_B), [])
    for h in (a, b):
        await h.start()
    try:
        await connect(a, b)
        assert a.link(b.node_id) is not None
    finally:
        await a.aclose()
        await b.aclose()


async def test_linked_data_spaces_connect_and_unlinked_do_not() -> None:
    """A Belgian member reaches a Dutch one only while the NL–BE link is known to both."""
    links: list[DataSpaceLink] = []
    dutch = host(NL_A, NL, credential(NL_A), links)
    belgian = host(BE_A, BE, be_credential(BE_A), links)
    for h in (dutch, belgian):
        await h.start()
    try:
        with pytest.raises(NetworkError) as caught:
            await connect(belgian, dutch)
        assert caught.value.code == WireCode.NO_SHARED_DATA_SPACE
        links.append(link())
        await connect(belgian, dutch)
        assert dutch.link(belgian.node_id) is not None
    finally:
        await dutch.aclose()
        await belgian.aclose()


async def test_revoked_member_is_refused() -> None:
    """A member whose credential was revoked is refused with REVOKED."""
    revoked = signed(Revocation(NL, T0, T0, member=NL_REVOKED.node_id), *NL_GOV[:2])
    a = host(NL_A, NL, credential(NL_A), [], revocations=(revoked,))
    x = host(NL_REVOKED, NL, credential(NL_REVOKED, issued_at=T0 - 5), [])
    for h in (a, x):
        await h.start()
    try:
        with pytest.raises(NetworkError) as caught:
            await connect(x, a)
        assert caught.value.code == WireCode.REVOKED
        assert a.link(x.node_id) is None
    finally:
        await a.aclose()
        await x.aclose()


async def test_peer_without_credentials_is_refused() -> None:
    """A node presenting no credential is not a member."""
    a = host(NL_A, NL, credential(NL_A), [])
    stranger = PeerHost(
        LocalParty(insecure_identity("stranger"), X25519PrivateKey.generate(), (NL,)),
        data_space_authorizer(Membership([nl_charter()]), (NL,), list, lambda: T0),
    )
    for h in (a, stranger):
        await h.start()
    try:
        with pytest.raises(NetworkError) as caught:
            await connect(stranger, a)
        assert caught.value.code == WireCode.NOT_A_MEMBER
    finally:
        await a.aclose()
        await stranger.aclose()
