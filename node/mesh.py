"""A small full mesh of nodes on loopback for the demo and the benchmarks.

Each party's identity is derived from a shared seed and its index, so every party knows the
others' node ids in advance; only those node ids are admitted. Lower-numbered parties dial
higher-numbered ones; the links are the real ones (websocket, Noise XX, framing).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.channel import LocalParty, allow_nodes
from network.host import PeerHost
from network.identity import Identity
from network.mpc import SessionTransport


def identity_for(seed: str, party: int) -> Identity:
    """The deterministic identity of ``party`` in a mesh (demo and benchmark use only)."""
    return Identity.from_private_bytes(hashlib.sha256(f"{seed}|{party}".encode()).digest())


@dataclass
class Mesh:
    """This party's host and the computation's transport."""

    host: PeerHost
    transport: SessionTransport

    async def aclose(self) -> None:
        """Close the session and every link."""
        self.transport.close()
        await self.host.aclose()


async def join_mesh(party: int, ports: list[int], seed: str, timeout: float = 600.0) -> Mesh:
    """Start this party's host, link to every other party and open the computation's session."""
    node_ids = {i: identity_for(seed, i).node_id for i in range(len(ports))}
    local = LocalParty(identity_for(seed, party), X25519PrivateKey.generate(), ("loopback",))
    host = PeerHost(local, allow_nodes(list(node_ids.values())), port=ports[party])
    await host.start()
    for other in range(party + 1, len(ports)):
        await host.connect(node_ids[other], f"ws://127.0.0.1:{ports[other]}/confide/v1", 30.0)
    for other in range(party):
        await host.wait_for_link(node_ids[other], 30.0)
    session_id = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "little") or 1
    transport = SessionTransport(host, node_ids, party, session_id, timeout=timeout)
    return Mesh(host, transport)
