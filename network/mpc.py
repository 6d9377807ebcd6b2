"""The MPC driver's transport over links: one session per computation on each link.

Party indices of a computation map to node ids; every party opens the computation's session
(the same 64-bit id everywhere) on its link to every other party. Arrays go out as labelled DATA
messages and come back through the session's bounded mailbox.
"""

from __future__ import annotations

from collections.abc import Mapping

from network.errors import NetworkError, WireCode
from network.host import PeerHost
from network.link import Session
from protocols.errors import AbortCode, ProtocolAbortedError
from protocols.field import Array

_ABORT_CODES = {
    WireCode.SESSION_TIMEOUT: AbortCode.TIMEOUT,
    WireCode.SESSION_ABORTED: AbortCode.PEER_ABORTED,
}


class SessionTransport:
    """``network.driver.Transport`` over one session per peer."""

    def __init__(
        self,
        host: PeerHost,
        parties: Mapping[int, str],
        me: int,
        session_id: int,
        timeout: float = 60.0,
    ) -> None:
        self._parties = dict(parties)
        self.timeout = timeout
        self._sessions: dict[int, Session] = {}
        self.bytes_sent = 0
        for index, node_id in self._parties.items():
            if index == me:
                continue
            link = host.link(node_id)
            if link is None:
                raise NetworkError(WireCode.LINK_LOST, "no link to a party of the computation")
            self._sessions[index] = link.session(session_id, "mpc")

    async def send(self, peer: int, label: str, arrays: tuple[Array, ...]) -> None:
        """Send ``arrays`` to party ``peer`` under ``label``."""
        try:
            await self._sessions[peer].send(label, arrays)
        except NetworkError as error:
            raise _aborted(error, peer) from None
        self.bytes_sent += sum(a.nbytes for a in arrays)

    async def receive(self, peer: int, label: str) -> tuple[Array, ...]:
        """The arrays party ``peer`` sent under ``label``, as uint64 arrays."""
        try:
            arrays = await self._sessions[peer].receive(label, self.timeout)
        except NetworkError as error:
            raise _aborted(error, peer) from None
        return tuple(a if a.dtype.name == "uint64" else a.astype("uint64") for a in arrays)

    def close(self) -> None:
        """Close the computation's sessions."""
        for session in self._sessions.values():
            session.close()


def _aborted(error: NetworkError, peer: int) -> ProtocolAbortedError:
    code = _ABORT_CODES.get(error.code, AbortCode.PEER_LOST)
    return ProtocolAbortedError(code, error.code.name.lower(), peer)
