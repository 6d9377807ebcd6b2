"""Tests for node/consent/transport.py: consent messages dial peers they have no link to."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.channel import LocalParty, allow_nodes
from network.errors import RemoteProtocolError, WireCode
from network.host import PeerHost
from network.identity import Identity
from network.link import Link
from node.audit import AuditLog
from node.consent.agreements import Agreements
from node.consent.negotiation import Evaluation, State
from node.consent.protocol import ConsentProtocol
from node.consent.transport import Connect, unreachable_reason
from node.store import open_store
from tests.node.consent.protocol_harness import ALLOW, Node, manifest_for, stop_nodes


async def unlinked_nodes(
    tmp_path: Path,
    verdicts: list[Evaluation],
    *,
    dial: bool,
    admitted: list[int] | None = None,
) -> list[Node]:
    """Nodes that know each other's addresses but hold no link; with ``dial``, their consent
    protocols get ``connect`` (as discovery gives it); ``admitted`` (indexes) restricts whom
    every node's handshake admits."""
    identities = [Identity.generate() for _ in verdicts]
    chosen = range(len(identities)) if admitted is None else admitted
    allowed = allow_nodes([identities[i].node_id for i in chosen])
    urls: dict[str, str] = {}
    nodes: list[Node] = []
    for index, (identity, verdict) in enumerate(zip(identities, verdicts, strict=True)):
        holder: list[Node] = []
        local = LocalParty(identity, X25519PrivateKey.generate(), ("test-space",))
        host = PeerHost(local, allowed, on_session=lambda s, h=holder: h[0].protocol.on_session(s))
        await host.start()
        urls[identity.node_id] = host.url
        connection = open_store(tmp_path / f"node{index}.sqlite")
        audit = AuditLog(connection, identity)
        agreements = Agreements(connection, identity.node_id, audit)
        node = Node(identity, host, agreements, audit, None, [verdict])  # type: ignore[arg-type]
        node.protocol = ConsentProtocol(
            host,
            identity,
            agreements,
            lambda manifest, now, n=node: n.verdict[0],
            link_timeout=2.0,
            connect=_connect(host, urls) if dial else None,
        )
        node.protocol.start()
        holder.append(node)
        nodes.append(node)
    return nodes


def _connect(host: PeerHost, urls: dict[str, str]) -> Connect:
    async def connect(node_id: str, deadline: float) -> Link:
        if node_id not in urls:
            raise LookupError("no record")
        return await host.connect(node_id, urls[node_id], deadline)

    return connect


def reasons(node: Node, manifest_id: str) -> dict[str, str | None]:
    """The proposer's reason per provider."""
    return {n.provider: n.reason for n in node.protocol.status(manifest_id).providers}


@pytest.mark.asyncio
async def test_a_proposer_without_a_link_dials_each_provider(tmp_path: Path) -> None:
    """No link anywhere: the request, the decisions and the bundles dial on demand."""
    nodes = await unlinked_nodes(tmp_path, [ALLOW, ALLOW, ALLOW], dial=True)
    try:
        lea, ngo, care = nodes
        manifest = manifest_for(lea, [lea, ngo, care], [lea, ngo, care], int(time.time()))
        assert lea.host.link(ngo.node_id) is None
        lea.protocol.propose(manifest)
        status = await lea.protocol.wait(manifest.id, 15)
        assert status.state is State.FINALIZED
        assert lea.host.link(ngo.node_id) is not None
        for node in nodes:
            assert node.agreements.agreement(manifest.id) is not None
    finally:
        await stop_nodes(nodes)


@pytest.mark.asyncio
async def test_without_connect_a_proposer_with_no_link_ends_unreachable(tmp_path: Path) -> None:
    """The contrast: waiting for a link nobody dials ends the proposal ``unreachable``."""
    nodes = await unlinked_nodes(tmp_path, [ALLOW, ALLOW, ALLOW], dial=False)
    try:
        lea, ngo, care = nodes
        manifest = manifest_for(lea, [lea, ngo], [lea, ngo, care], int(time.time()))
        lea.protocol.propose(manifest)
        status = await lea.protocol.wait(manifest.id, 15)
        assert status.state is State.TERMINATED
        assert reasons(lea, manifest.id)[ngo.node_id] == "unreachable"
    finally:
        await stop_nodes(nodes)


@pytest.mark.asyncio
async def test_a_provider_refused_at_the_handshake_ends_with_the_refusal_code(
    tmp_path: Path,
) -> None:
    """A provider whose handshake no longer admits the proposer: its code, not ``unreachable``."""
    nodes = await unlinked_nodes(tmp_path, [ALLOW, ALLOW, ALLOW], dial=True, admitted=[0, 2])
    try:
        lea, ngo, care = nodes
        manifest = manifest_for(lea, [lea, ngo], [lea, ngo, care], int(time.time()))
        lea.protocol.propose(manifest)
        status = await lea.protocol.wait(manifest.id, 15)
        assert status.state is State.TERMINATED
        assert reasons(lea, manifest.id) == {
            ngo.node_id: "not_authorized",
            lea.node_id: "provider_terminated",
        }
    finally:
        await stop_nodes(nodes)


def admission_errors() -> Iterator[tuple[BaseException, str]]:
    """Errors of a failed send and the reason each gives."""
    yield RemoteProtocolError(WireCode.NO_SHARED_DATA_SPACE, "x"), "no_shared_data_space"
    yield RemoteProtocolError(WireCode.REVOKED, "x"), "revoked"
    yield RemoteProtocolError(WireCode.NOT_AUTHORIZED, "x"), "not_authorized"
    yield RemoteProtocolError(WireCode.LINK_LOST, "x"), "unreachable"
    yield TimeoutError(), "unreachable"
    yield ConnectionRefusedError(), "unreachable"


@pytest.mark.parametrize(("error", "reason"), list(admission_errors()))
def test_unreachable_reason_names_admission_refusals_only(
    error: BaseException, reason: str
) -> None:
    """Admission refusals keep their wire code's name; anything else is ``unreachable``."""
    assert unreachable_reason(error) == reason
