"""Admission: which authenticated peers may complete a handshake, by data-space membership.

A peer presents its membership credentials in its handshake payload. The authoriser decodes
them and asks the local ``Membership`` view (charters, credentials, revocations) whether the peer
belongs to a data space we belong to, or to one joined to ours by a valid data-space link. A
refusal carries the reason code (``NOT_A_MEMBER``, ``REVOKED``, ``NO_SHARED_DATA_SPACE``, …) in
the responder's verdict, so an operator sees why a link was refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from network.channel import Authorizer, Peer
from network.dataspace import DataSpaceLink, MembershipCredential
from network.errors import RemoteProtocolError, ValidationError, WireCode
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
