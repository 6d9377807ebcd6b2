"""Admission: which authenticated peers may complete a handshake, by data-space membership.

A peer presents its membership credentials in its handshake payload. The authoriser decodes
them and asks the local ``Membership`` view (charters, credentials, revocations) whether the peer
belongs to a data space we belong to, or to one joined to ours by a valid data-space link. A
refusal carries the reason code (``NOT_A_MEMBER``, ``REVOKED``, ``NO_SHARED_DATA_SPACE``, …) in
the responder's verdict, so an operator sees why a link was refused.

An authoriser runs once per handshake. When membership changes under links already up (a
revocation, an expired credential, a data-space link removed), :func:`enforce` runs it again
over those links and closes each one it now refuses, with the refusal's code; the peer sees
its link end (``LINK_LOST``) and a new handshake is refused with the code in the verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import structlog

from network.channel import Authorizer, Peer
from network.dataspace import DataSpaceLink, MembershipCredential
from network.errors import RemoteProtocolError, ValidationError, WireCode
from network.link import Link
from network.membership import Membership


def data_space_authorizer(
    membership: Membership,
    local_spaces: Sequence[str],
    links: Callable[[], Iterable[DataSpaceLink]],
    clock: Callable[[], int],
) -> Authorizer:
    """An authoriser admitting members of our data spaces and of data spaces linked to them.

    ``links`` and ``clock`` are called at each handshake, so new links, revocations added to
    ``membership`` and the passing of time take effect at once.
    """

    def authorize(peer: Peer) -> None:
        credentials = []
        for index, raw in enumerate(peer.credentials):
            try:
                credentials.append(MembershipCredential.decode(raw))
            except ValidationError as error:
                raise RemoteProtocolError(
                    error.code, f"credential {index} does not decode"
                ) from None
        decision = membership.may_connect(
            local_spaces, credentials, links(), clock(), remote_node_id=peer.node_id
        )
        if not decision.allowed:
            reason = decision.reason or WireCode.NOT_AUTHORIZED
            raise RemoteProtocolError(reason, "not admitted to a shared or linked data space")

    return authorize


async def enforce(links: Iterable[Link], authorize: Authorizer) -> dict[str, WireCode]:
    """Run ``authorize`` again over established ``links``; close each one it now refuses.

    Returns the node ids whose link was closed, each with the refusal's code (the link ends
    with that code; logged once as ``link.deauthorized``). Links already closed are skipped.
    """
    refused: dict[str, WireCode] = {}
    for link in links:
        if link.is_closed:
            continue
        try:
            authorize(link.peer)
        except RemoteProtocolError as refusal:
            refused[link.peer.node_id] = refusal.code
            structlog.get_logger("network.admission").info(
                "link.deauthorized",
                peer=link.peer.node_id,
                code=int(refusal.code),
                reason=refusal.code.name,
            )
            await link.aclose(refusal.code, flush=0)
    return refused
