"""A rogue member built from the real modules: it speaks the consent wire to node processes
but decides itself what to sign, forge, tamper with or replay.

It holds a genuine membership credential (a governance invited it), so the handshake admits
it; every message it sends is a real consent message (``node.consent.messages``) on the
consent session of a real link, labelled ``c1``, ``c2``… as ``node.consent.transport`` does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.channel import LocalParty, allow_nodes
from network.dataspace import MembershipCredential
from network.host import PeerHost
from network.identity import Identity
from network.link import Link, Session
from node.consent import messages
from node.consent.transport import CONSENT_SESSION
from node.localspace import LocalNode


@dataclass
class _Channel:
    session: Session
    sent: int = 0
    received: int = 0


class Rogue:
    """One rogue node: a peer host and its consent channels, driven by the test."""

    def __init__(
        self, identity: Identity, credential: MembershipCredential, peers: list[str]
    ) -> None:
        self.identity = identity
        self.node_id = identity.node_id
        local = LocalParty(
            identity, X25519PrivateKey.generate(), (credential.data_space,), (credential.encode(),)
        )
        self.host = PeerHost(local, allow_nodes(peers))
        self._channels: dict[str, _Channel] = {}

    async def start(self) -> None:
        """Listen (nobody dials it: it dials)."""
        await self.host.start()

    async def aclose(self) -> None:
        """Close every link."""
        await self.host.aclose()

    async def dial(self, node: LocalNode) -> None:
        """A link to ``node`` and its consent session."""
        link = await self.host.connect(node.node_id, node.peer_url, 10.0)
        self._channel(link)

    def _channel(self, link: Link) -> _Channel:
        node_id = link.peer.node_id
        channel = self._channels.get(node_id)
        if channel is None or channel.session.link is not link:
            channel = _Channel(link.session(CONSENT_SESSION, "consent"))
            self._channels[node_id] = channel
        return channel

    async def send(self, node_id: str, message: messages.Message) -> None:
        """Send one consent message to ``node_id`` as the next label."""
        channel = self._channels[node_id]
        channel.sent += 1
        payload = np.frombuffer(messages.encode(message), dtype=np.uint8)
        await channel.session.send(f"c{channel.sent}", (payload,))

    async def receive(self, node_id: str, timeout: float = 30.0) -> messages.Message:
        """The next consent message from ``node_id``."""
        channel = self._channels[node_id]
        channel.received += 1
        async with asyncio.timeout(timeout):
            (payload,) = await channel.session.receive(f"c{channel.received}")
        return messages.decode(np.ascontiguousarray(payload, dtype=np.uint8).tobytes())
