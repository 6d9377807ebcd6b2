"""In-process consent nodes over real loopback links, for the protocol tests."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.channel import LocalParty, allow_nodes
from network.host import PeerHost
from network.identity import Identity
from node.audit import AuditLog
from node.consent.agreements import Agreements
from node.consent.manifest import Manifest, parse_manifest
from node.consent.negotiation import Evaluation, Timeouts
from node.consent.protocol import ConsentProtocol
from node.store import open_store

ALLOW = Evaluation(allowed=True, policies=(("pol-a", 1),))
MANUAL = Evaluation(allowed=True, manual=True, policies=(("pol-a", 1),))
DENY = Evaluation(
    allowed=False, reason="constraint_failed", constraint="$.permission.constraints[2]"
)


@dataclass
class Node:
    """One node: a peer host, its store, audit log, agreements and consent protocol."""

    identity: Identity
    host: PeerHost
    agreements: Agreements
    audit: AuditLog
    protocol: ConsentProtocol
    verdict: list[Evaluation]
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @property
    def node_id(self) -> str:
        """The node's id."""
        return self.identity.node_id


def _protocol(node: Node, timeouts: Timeouts) -> ConsentProtocol:
    return ConsentProtocol(
        node.host,
        node.identity,
        node.agreements,
        lambda manifest, now: node.verdict[0],
        lambda kind, data: node.events.append((kind, dict(data))),
        timeouts=timeouts,
        link_timeout=2.0,
    )


async def start_nodes(
    tmp_path: Path, verdicts: list[Evaluation], timeouts: Timeouts | None = None
) -> list[Node]:
    """Nodes with the given standing verdicts, every pair linked."""
    identities = [Identity.generate() for _ in verdicts]
    allowed = allow_nodes([i.node_id for i in identities])
    nodes: list[Node] = []
    for index, (identity, verdict) in enumerate(zip(identities, verdicts, strict=True)):
        holder: list[Node] = []
        local = LocalParty(identity, X25519PrivateKey.generate(), ("test-space",))
        host = PeerHost(local, allowed, on_session=lambda s, h=holder: h[0].protocol.on_session(s))
        await host.start()
        connection = open_store(tmp_path / f"node{index}.sqlite")
        audit = AuditLog(connection, identity)
        agreements = Agreements(connection, identity.node_id, audit)
        node = Node(identity, host, agreements, audit, None, [verdict])  # type: ignore[arg-type]
        node.protocol = _protocol(node, timeouts or Timeouts())
        node.protocol.start()
        holder.append(node)
        nodes.append(node)
    for a, b in itertools.combinations(nodes, 2):
        await a.host.connect(b.node_id, b.host.url)
        await b.host.wait_for_link(a.node_id, 5)
    return nodes


async def restart_node(node: Node, others: list[Node], timeouts: Timeouts) -> None:
    """Stop ``node``'s protocol and host, start both afresh over the same store and relink."""
    await node.protocol.aclose()
    await node.host.aclose()
    allowed = allow_nodes([node.node_id, *(o.node_id for o in others)])
    local = LocalParty(node.identity, X25519PrivateKey.generate(), ("test-space",))
    node.host = PeerHost(local, allowed, on_session=lambda s: node.protocol.on_session(s))  # noqa: PLW0108  # the protocol is replaced below
    await node.host.start()
    node.protocol = _protocol(node, timeouts)
    node.protocol.start()
    for other in others:
        await node.host.connect(other.node_id, other.host.url)


async def stop_nodes(nodes: list[Node]) -> None:
    """Stop every protocol and host."""
    for node in nodes:
        await node.protocol.aclose()
        await node.host.aclose()


def manifest_for(proposer: Node, providers: list[Node], compute: list[Node], now: int) -> Manifest:
    """A union_size manifest proposed by ``proposer`` over one list per provider."""
    return parse_manifest(
        {
            "version": 1,
            "kind": "union_size",
            "parameters": {},
            "inputs": [
                {"provider": p.node_id, "dataset": "clients", "columns": ["name_dob"], "bound": 50}
                for p in providers
            ],
            "compute_parties": [c.node_id for c in compute],
            "recipients": [proposer.node_id],
            "proposer": proposer.node_id,
            "purpose": "prevalence-monitoring",
            "data_space": "test-space",
            "created_at": now - 5,
            "expires_at": now + 3600,
            "nonce": secrets.token_hex(16),
        }
    )


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` holds (polling), failing the test after ``timeout``."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while not predicate():
        if loop.time() > give_up:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
