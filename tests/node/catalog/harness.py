"""In-process nodes for the catalog tests: real node stores and catalogs, hosts on loopback.

Each node is a ``NodeService`` opened on a fresh home (its real dataset, policy and data-space
parts; not started) with its own ``PeerHost`` admitting the given nodes, and a ``Catalogs``
over that host, as the service builds it. ``steward`` creates the data space ``ht`` (roles
``lea``, ``ngo``, ``care``), issues credentials to members, imports ``clients`` (123 rows)
and ``empty`` and guards ``clients`` with a policy admitting the ``lea`` role only.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.channel import LocalParty, allow_nodes
from network.host import PeerHost
from network.link import Session
from node.catalog import Catalogs
from node.config import NodeConfig
from node.home import create_home
from node.service import NodeService
from tests.node.datasets.helpers import csv_bytes

NOW = 1_780_000_000
SPACE = "ht"
POLICY = {
    "id": "pol-clients",
    "dataset": "clients",
    "permission": {
        "action": ["union_size", "aggregate"],
        "constraints": [{"left": "requester_role", "op": "isAnyOf", "right": ["lea"]}],
    },
    "approval": "auto",
}
SCHEMA = {
    "columns": [
        {"name": "name", "type": "identifier", "source": "Naam"},
        {"name": "type", "type": "category", "source": "Type", "values": ["sexual", "labour"]},
        {"name": "region", "type": "category", "source": "Regio"},
    ]
}


@dataclass
class Peer:
    """One in-process node: its service parts, its peer host and its catalog exchange."""

    service: NodeService
    host: PeerHost
    catalogs: Catalogs

    @property
    def node_id(self) -> str:
        """The node's id."""
        return self.service.identity.node_id


def open_services(directory: Path, names: Sequence[str]) -> list[NodeService]:
    """A node service (not started) on a fresh home per name."""
    services = []
    for name in names:
        home, _ = create_home(directory / name, NodeConfig(name=name))
        services.append(NodeService.open(home, clock=lambda: NOW))
    return services


def steward(service: NodeService, members: dict[str, Sequence[str]]) -> None:
    """Make ``service`` govern ``ht`` with ``members`` (node id → roles), hold two datasets and
    guard ``clients`` with :data:`POLICY`."""
    spaces = service.dataspaces
    spaces.create(SPACE, roles=["lea", "ngo", "care"], purposes=["research"], now=NOW)
    spaces.issue(SPACE, service.identity.node_id, ["ngo"], NOW)
    for node_id, roles in members.items():
        spaces.issue(SPACE, node_id, roles, NOW)
    rows = [["Naam", "Type", "Regio"]] + [[f"P {i}", "sexual", "zuid"] for i in range(123)]
    service.datasets.import_bytes("clients", csv_bytes(rows), now=NOW, schema=SCHEMA)
    service.datasets.import_bytes("empty", csv_bytes([["Naam"], ["x"]]), now=NOW)
    service.policies.create(POLICY, now=NOW)


def _forward(holder: list[Catalogs]) -> Callable[[Session], None]:
    """The host's session hook: the catalogs built after the host."""
    return lambda session: holder[0].on_session(session)  # noqa: PLW0108  # looked up late: built after the host, patched by tests


def _constant(host: PeerHost) -> Callable[[], PeerHost | None]:
    return lambda: host


@contextlib.asynccontextmanager
async def linked(
    services: Sequence[NodeService], *, deadline: float = 5.0
) -> AsyncIterator[list[Peer]]:
    """A started host and catalog exchange per service, admitting each other, all linked to
    the first; everything stopped at the end."""
    allowed = allow_nodes([s.identity.node_id for s in services])
    peers: list[Peer] = []
    try:
        for service in services:
            holder: list[Catalogs] = []
            local = LocalParty(service.identity, X25519PrivateKey.generate(), (SPACE,))
            host = PeerHost(local, allowed, on_session=_forward(holder))
            await host.start()
            catalogs = Catalogs(
                service.identity.node_id,
                service.datasets,
                service.policies,
                service.dataspaces,
                host=_constant(host),
                clock=lambda: NOW,
                deadline=deadline,
            )
            holder.append(catalogs)
            peers.append(Peer(service, host, catalogs))
        first = peers[0]
        for peer in peers[1:]:
            await peer.host.connect(first.node_id, first.host.url)
            await first.host.wait_for_link(peer.node_id, 5)
        yield peers
    finally:
        for peer in peers:
            await peer.catalogs.aclose("test_ended")
            await peer.host.aclose()
        for service in services:
            await service.aclose("test_ended")
