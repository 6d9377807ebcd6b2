"""Discovery: signed node records spread to every member by gossip, repaired by anti-entropy.

Each node signs a record of itself (addresses, data spaces and roles, sequence number, expiry)
and gossips on the gossip session (``GOSSIP_SESSION``) of every link; the messages are those of
``network.gossip``. Every record travels with its node's membership credentials, so a node that
has never met the record's node can still check that it is a member (``Membership``: charters
are trust anchors, credentials are signed under them); revocations travel too.

* **On a new link** each side pushes every valid record (with credentials) and revocation.
* **On a change** (a record or revocation newly accepted) it is flooded to every other link.
* **Anti-entropy**: every ``interval`` seconds :meth:`Discovery.tick` sends a ``summary`` hash to
  one linked peer chosen at random; if the peer's own hash differs, the two exchange digests and
  pull what they lack. So a node that missed a flood still converges.
* **Refresh**: a tick re-signs the node's own record with sequence + 1 once it is within
  ``refresh_before`` seconds of expiring, and floods it.
* **Pruning**: a tick drops expired records and those of nodes no longer members (credentials
  expired or revoked), and closes the links of pruned non-members.

A record is kept only if its signature verifies, it is valid now, its sequence number is newer
than the one held, and its node is a member of a data space it claims (``records.RecordStore``);
anything else is dropped and never forwarded. A peer that sends a malformed gossip message has
its gossip session aborted (``PROTOCOL_VIOLATION``); the link and every other peer carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

import numpy as np
import structlog

from network import gossip
from network.dataspace import MAX_PRESENTED, MembershipCredential, Revocation
from network.errors import DecodeError, LocalProtocolError, NetworkError, ValidationError, WireCode
from network.host import PeerHost
from network.identity import Identity
from network.link import Link, Session
from network.membership import Membership
from network.records import NodeRecord, RecordAccepted, RecordStore, SignedNodeRecord
from network.tasks import TaskSet

GOSSIP_SESSION = 1
ANTI_ENTROPY_INTERVAL = 2.0
"""Seconds between two ticks of the background loop (:meth:`Discovery.start`)."""
RECORD_LIFETIME = 3600
"""Seconds a node's own record is valid."""
MAX_REVOCATIONS = 4096


class _Peer:
    """The gossip session with one linked peer and the label counter of what we send."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.sent = 0


class Discovery:
    """The record store, gossip and anti-entropy of one node."""

    def __init__(
        self,
        identity: Identity,
        addresses: Sequence[str],
        roles: Mapping[str, frozenset[str]],
        credentials: Sequence[MembershipCredential],
        membership: Membership,
        clock: Callable[[], int],
        *,
        lifetime: int = RECORD_LIFETIME,
        refresh_before: int | None = None,
        sequence: int | None = None,
        capacity: int = 4096,
    ) -> None:
        """``roles`` maps each claimed data space to the roles claimed there; ``credentials``
        prove the membership; ``clock`` gives Unix seconds. The first ``sequence`` defaults to
        the time, so a restarted node's record supersedes the one it gossiped before."""
        now = clock()
        self.store = RecordStore(capacity)
        self.membership = membership
        self._identity = identity
        self._clock = clock
        self._lifetime = lifetime
        self._refresh_before = lifetime // 4 if refresh_before is None else refresh_before
        self._credentials: dict[str, tuple[bytes, ...]] = {}
        self._revocations: dict[bytes, bytes] = {}
        self._peers: dict[str, _Peer] = {}
        self._host: PeerHost | None = None
        self._tasks = TaskSet()
        self._log = structlog.get_logger("network.discovery")
        for credential in credentials:
            membership.add_credential(credential)
        self._credentials[identity.node_id] = tuple(c.encode() for c in credentials)
        record = NodeRecord(
            identity.node_id,
            tuple(addresses),
            roles,
            now if sequence is None else sequence,
            now,
            now + lifetime,
        )
        self.own = SignedNodeRecord.sign(record, identity)
        if not isinstance(self.store.offer(self.own, now, self._is_member(now)), RecordAccepted):
            raise LocalProtocolError(WireCode.NOT_A_MEMBER, "own credentials admit no data space")

    # --- wiring and public API ------------------------------------------------------------

    def attach(self, host: PeerHost) -> None:
        """Use ``host``'s links; pass ``discovery.on_session`` as the host's session hook."""
        self._host = host

    def on_session(self, session: Session) -> None:
        """Host hook: a peer opened a session; its gossip session starts here."""
        if session.session_id == GOSSIP_SESSION:
            self._start(session.link)

    def start(self, interval: float = ANTI_ENTROPY_INTERVAL) -> None:
        """Run :meth:`tick` every ``interval`` seconds (jittered) until :meth:`aclose`."""
        self._tasks.spawn(self._ticking(interval))

    async def join(self, node_id: str, url: str, deadline: float = 10.0) -> None:
        """Link to a bootstrap (or any known) node and start gossiping with it."""
        self._start(await self._require_host().connect(node_id, url, deadline))

    async def connect(self, node_id: str, deadline: float = 10.0) -> Link:
        """A link to a node known from its record (dialled on demand, addresses in order)."""
        record = self.store.get(node_id, self._clock())
        if record is None:
            raise LookupError("no valid record for that node")
        host = self._require_host()
        addresses = record.record.addresses
        for index, address in enumerate(addresses):
            try:
                link = await host.connect(node_id, address, deadline / len(addresses))
            except (OSError, NetworkError, TimeoutError):
                if index == len(addresses) - 1:
                    raise
                continue
            self._start(link)
            return link
        raise AssertionError("unreachable: a record has at least one address")

    def known(self) -> set[str]:
        """Node ids with a valid record."""
        return {r.node_id for r in self.store.records(self._clock())}

    def revoke(self, revocation: Revocation) -> None:
        """Add a governance revocation, prune what it ends and flood it to every peer."""
        if self._take_revocation(revocation.encode()):
            self._prune(self._clock())
            self._flood([], [revocation.encode()], exclude=None)

    def tick(self) -> None:
        """One maintenance round: refresh the own record, prune, one anti-entropy probe."""
        now = self._clock()
        if now >= self.own.record.expires_at - self._refresh_before:
            self.own = SignedNodeRecord.sign(
                self.own.record.renewed(now, self._lifetime), self._identity
            )
            if isinstance(self.store.offer(self.own, now, self._is_member(now)), RecordAccepted):
                self._flood([self.own], [], exclude=None)
        self._prune(now)
        peers = [p for p in self._peers if not self._peers[p].session.link.is_closed]
        if peers:
            peer = random.choice(peers)  # noqa: S311  # spreading load, not secrecy
            self._send(peer, gossip.Summary(self._summary(now)))

    async def aclose(self) -> None:
        """Stop gossiping."""
        await self._tasks.aclose()

    # --- sessions -------------------------------------------------------------------------

    def _require_host(self) -> PeerHost:
        if self._host is None:
            raise LocalProtocolError(WireCode.LINK_CLOSED, "discovery is not attached to a host")
        return self._host

    def _start(self, link: Link) -> None:
        node_id = link.peer.node_id
        held = self._peers.get(node_id)
        if link.is_closed or (held is not None and held.session.link is link):
            return
        try:
            session = link.session(GOSSIP_SESSION, "gossip")
        except NetworkError:  # the link just ended, or its gossip session was aborted
            return
        peer = self._peers[node_id] = _Peer(session)
        self._tasks.spawn(self._serve(node_id, peer))
        now = self._clock()
        self._push(node_id, self.store.records(now), list(self._revocations.values()))

    async def _serve(self, node_id: str, peer: _Peer) -> None:
        count = 0
        try:
            while True:
                count += 1
                arrays = await peer.session.receive(f"g{count}")
                if len(arrays) != 1:
                    raise DecodeError("a gossip message is one array")
                self._handle(node_id, gossip.decode_gossip(bytes(arrays[0])))
        except DecodeError as error:
            self._log.warning("gossip.refused", peer=node_id, code=int(error.code))
            peer.session.abort(WireCode.PROTOCOL_VIOLATION, "malformed gossip")
        except NetworkError:
            pass  # the link ended; the host logs it
        finally:
            if self._peers.get(node_id) is peer:
                del self._peers[node_id]
                # a link replaced by another (both nodes dialled): gossip on the one kept
                kept = None if self._host is None else self._host.link(node_id)
                if kept is not None and kept is not peer.session.link:
                    self._start(kept)

    def _send(self, node_id: str, message: gossip.GossipMessage) -> None:
        peer = self._peers.get(node_id)
        if peer is None:
            return
        peer.sent += 1
        payload = np.frombuffer(gossip.encode_gossip(message), dtype=np.uint8)
        self._tasks.spawn(self._quietly(peer.session.send(f"g{peer.sent}", (payload,))))

    async def _quietly(self, sending: Coroutine[Any, Any, None]) -> None:
        with contextlib.suppress(NetworkError):
            await sending

    async def _ticking(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval * random.uniform(0.75, 1.25))  # noqa: S311  # jitter
            self.tick()

    # --- messages -------------------------------------------------------------------------

    def _handle(self, node_id: str, message: gossip.GossipMessage) -> None:
        now = self._clock()
        if isinstance(message, gossip.Push):
            fresh_revocations = [r for r in message.revocations if self._take_revocation(r)]
            if fresh_revocations:
                self._prune(now)
            fresh = [r for e in message.entries if (r := self._take_entry(e, now)) is not None]
            self._flood(fresh, fresh_revocations, exclude=node_id)
        elif isinstance(message, gossip.Summary):
            if message.hash != self._summary(now):
                digest = gossip.Digest(self.store.sequences(now), frozenset(self._revocations))
                self._send(node_id, digest)
        elif isinstance(message, gossip.Digest):
            plan = gossip.compare(self.store.sequences(now), self._revocations, message)
            records = [self.store.get(n, now) for n in plan.push_records]
            revoked = [self._revocations[d] for d in plan.push_revocations]
            self._push(node_id, [r for r in records if r is not None], revoked)
            if plan.want_records or plan.want_revocations:
                self._send(node_id, gossip.Want(plan.want_records, plan.want_revocations))
        else:
            records = [self.store.get(n, now) for n in message.records]
            revoked = [self._revocations[d] for d in message.revocations if d in self._revocations]
            self._push(node_id, [r for r in records if r is not None], revoked)

    def _push(self, node_id: str, records: list[SignedNodeRecord], revoked: list[bytes]) -> None:
        entries = [gossip.Entry(r.encode(), self._credentials.get(r.node_id, ())) for r in records]
        for push in gossip.pushes(entries, revoked):
            self._send(node_id, push)

    def _flood(
        self, records: list[SignedNodeRecord], revoked: list[bytes], exclude: str | None
    ) -> None:
        if records or revoked:
            for node_id in list(self._peers):
                if node_id != exclude:
                    self._push(node_id, records, revoked)

    def _take_entry(self, entry: gossip.Entry, now: int) -> SignedNodeRecord | None:
        """Offer one pushed record after taking its node's credentials; the record if kept."""
        try:
            signed = SignedNodeRecord.decode(entry.record)
        except ValidationError:
            return None
        checked: list[bytes] = []
        known = self._credentials.get(signed.node_id, ())
        for raw in entry.credentials[:MAX_PRESENTED]:
            if raw in known:  # checked when it first came; membership decides at query time
                checked.append(raw)
                continue
            try:
                credential = MembershipCredential.decode(raw)
                if credential.member != signed.node_id:
                    continue
                self.membership.check_credential(credential, now)
                self.membership.add_credential(credential)
            except ValidationError:
                continue
            checked.append(raw)
        outcome = self.store.offer(signed, now, self._is_member(now))
        if not isinstance(outcome, RecordAccepted):
            return None
        if checked or signed.node_id not in self._credentials:
            self._credentials[signed.node_id] = tuple(checked)
        return outcome.record

    def _take_revocation(self, raw: bytes) -> bool:
        """Keep a revocation governance signed; whether it is new."""
        try:
            revocation = Revocation.decode(raw)
            key = revocation.digest()
            if key in self._revocations or len(self._revocations) >= MAX_REVOCATIONS:
                return False
            self.membership.add_revocation(revocation)
        except ValidationError:
            return False
        self._revocations[key] = raw
        return True

    # --- state ----------------------------------------------------------------------------

    def _is_member(self, now: int) -> Callable[[str, str], bool]:
        return lambda node_id, space: self.membership.is_member(node_id, space, now)

    def _summary(self, now: int) -> bytes:
        return gossip.summary_hash(self.store.sequences(now), self._revocations)

    def _prune(self, now: int) -> None:
        dropped = self.store.prune(now, self._is_member(now))
        host = self._host
        for node_id in dropped:
            self._credentials.pop(node_id, None)
            link = None if host is None else host.link(node_id)
            if link is not None and not self._still_member(node_id, now):
                self._tasks.spawn(link.aclose(WireCode.NOT_AUTHORIZED, flush=0))
        if dropped:
            self._log.info("records.pruned", count=len(dropped))

    def _still_member(self, node_id: str, now: int) -> bool:
        spaces = sorted(self.own.record.data_spaces)
        return any(self.membership.is_member(node_id, space, now) for space in spaces)
