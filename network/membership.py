"""Membership: a pure view of who belongs to which data space, and who may connect.

Built from the signed objects of ``network.dataspace`` (charters, membership credentials,
revocations, data-space links); no clock and no I/O — time is a parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from network.dataspace import (
    MAX_PRESENTED,
    Charter,
    DataSpaceLink,
    MembershipCredential,
    Revocation,
    _error,
    _require,
    _subset,
    _window,
)
from network.errors import LocalProtocolError, SignatureError, ValidationError, WireCode


class ConnectDecision(NamedTuple):
    """Whether a handshake may complete; ``reason`` is the refusal's code (``None`` if allowed)."""

    allowed: bool
    reason: WireCode | None


class Membership:
    """Who belongs to which data space at a time, from charters, credentials and revocations.

    Pure and in memory: no clock, no I/O. The charters given at construction are trust anchors
    (configured out of band, e.g. from an invitation); a later version of a charter is accepted
    only if the governance of the version held signed it too. Credentials are bounded per data
    space (``max_credentials``); revocations are never dropped.
    """

    def __init__(self, charters: Iterable[Charter] = (), *, max_credentials: int = 4096) -> None:
        self.max_credentials = max_credentials
        self._charters: dict[str, Charter] = {}
        self._credentials: dict[str, dict[bytes, MembershipCredential]] = {}
        self._signers: dict[bytes, frozenset[str]] = {}
        self._revocations: dict[str, list[Revocation]] = {}
        for charter in charters:
            charter.verify()
            if charter.data_space in self._charters:
                raise LocalProtocolError(WireCode.INVALID_FIELD, "two charters for one data space")
            self._charters[charter.data_space] = charter

    def charter(self, data_space: str) -> Charter | None:
        """The charter held for ``data_space``."""
        return self._charters.get(data_space)

    def _charter(self, data_space: str, path: str) -> Charter:
        charter = self._charters.get(data_space)
        if charter is None:
            raise _error(WireCode.UNKNOWN_DATA_SPACE, path, "no charter for this data space")
        return charter

    def update_charter(self, charter: Charter) -> None:
        """Replace a held charter by a newer version that its current governance signed."""
        held = self._charter(charter.data_space, "$.body.data_space")
        if charter.version <= held.version:
            raise _error(WireCode.STALE_CHARTER, "$.body.version", "version not newer")
        signers = charter.signers()
        _require(signers, charter.governance, charter.governance_threshold)
        _require(signers, held.governance, held.governance_threshold)
        self._charters[charter.data_space] = charter

    def add_credential(self, credential: MembershipCredential) -> None:
        """Keep ``credential`` (checked: data space known, signatures, role vocabulary).

        Whether it admits its member is decided at query time: it depends on ``now``,
        revocations and, for endorsements, on who else is a member then.
        """
        charter = self._charter(credential.data_space, "$.body.data_space")
        signers = credential.signers()
        _subset(credential.roles, charter.roles, WireCode.UNKNOWN_ROLE, "$.body.roles")
        held = self._credentials.setdefault(credential.data_space, {})
        key = credential.digest()
        if key not in held and len(held) >= self.max_credentials:
            raise _error(WireCode.CAPACITY_EXCEEDED, "$", "credential store full")
        held[key] = credential
        self._signers[key] = signers

    def add_revocation(self, revocation: Revocation) -> None:
        """Keep ``revocation`` once its governance signatures check out."""
        charter = self._charter(revocation.data_space, "$.body.data_space")
        _require(revocation.signers(), charter.governance, charter.governance_threshold)
        held = self._revocations.setdefault(revocation.data_space, [])
        if revocation not in held:
            held.append(revocation)

    def prune(self, now: int) -> int:
        """Drop credentials expired at ``now``; returns how many were dropped."""
        dropped = 0
        for held in self._credentials.values():
            for key in [key for key, c in held.items() if now >= c.valid_until]:
                del held[key]
                del self._signers[key]
                dropped += 1
        return dropped

    def _usable(self, credential: MembershipCredential, charter: Charter, now: int) -> None:
        """Raise unless ``credential`` is in its window, in vocabulary and not revoked."""
        _subset(credential.roles, charter.roles, WireCode.UNKNOWN_ROLE, "$.body.roles")
        _window(credential.issued_at, credential.valid_until, now)
        for revocation in self._revocations.get(credential.data_space, ()):
            if revocation.revokes(credential, now):
                raise _error(WireCode.REVOKED, "$.body.serial", "credential revoked")

    def _admitted(
        self, charter: Charter, now: int, extra: Mapping[bytes, MembershipCredential]
    ) -> dict[bytes, MembershipCredential]:
        """The credentials of ``charter``'s data space that admit their member at ``now``.

        Under endorsements this is a least fixpoint grown from the governance keys: a
        credential counts once ``k`` of its signers (other than its member) are governance
        keys or members admitted by credentials already counted. Endorsement cycles with no
        path back to governance therefore never admit anyone.
        """
        candidates = {**self._credentials.get(charter.data_space, {}), **extra}
        live: dict[bytes, MembershipCredential] = {}
        for key, credential in candidates.items():
            try:
                self._usable(credential, charter, now)
            except ValidationError:
                continue
            live[key] = credential
        signers: dict[bytes, frozenset[str]] = {}
        for key, credential in live.items():
            known = self._signers.get(key)
            if known is None:
                try:
                    known = credential.signers()
                except SignatureError:
                    continue  # a forged credential presented alongside admits no one
            signers[key] = known
        rule = charter.admission
        if rule.kind == "governance":
            return {
                key: live[key]
                for key, found in signers.items()
                if len(found & charter.governance) >= rule.threshold
            }
        admitted: dict[bytes, MembershipCredential] = {}
        members: set[str] = set()
        grown = True
        while grown:
            grown = False
            endorsers = charter.governance | members
            for key, credential in live.items():
                if key in admitted or key not in signers:
                    continue
                if len((signers[key] & endorsers) - {credential.member}) >= rule.threshold:
                    admitted[key] = credential
                    members.add(credential.member)
                    grown = True
        return admitted

    def check_credential(
        self,
        credential: MembershipCredential,
        now: int,
        presented: Iterable[MembershipCredential] = (),
    ) -> None:
        """Raise unless ``credential`` admits its member at ``now``.

        ``presented`` are other credentials offered alongside it (e.g. in one handshake); they
        count as if held. Codes, in order: ``UNKNOWN_DATA_SPACE``, ``FORGED_SIGNATURE``,
        ``UNKNOWN_ROLE``, ``NOT_YET_VALID``, ``EXPIRED``, ``REVOKED``, ``INSUFFICIENT_SIGNATURES``.
        """
        charter = self._charter(credential.data_space, "$.body.data_space")
        credential.signers()
        self._usable(credential, charter, now)
        extra = {other.digest(): other for other in (*presented, credential)}
        if credential.digest() not in self._admitted(charter, now, extra):
            raise _error(WireCode.INSUFFICIENT_SIGNATURES, "$.signatures", "admission rule unmet")

    def members(self, data_space: str, now: int) -> dict[str, frozenset[str]]:
        """Every member of ``data_space`` at ``now`` with the union of its admitted roles."""
        charter = self._charters.get(data_space)
        if charter is None:
            return {}
        roles: dict[str, frozenset[str]] = {}
        for credential in self._admitted(charter, now, {}).values():
            roles[credential.member] = roles.get(credential.member, frozenset()) | credential.roles
        return roles

    def is_member(self, node_id: str, data_space: str, now: int) -> bool:
        """Whether ``node_id`` holds an admitted, unrevoked credential for ``data_space``."""
        return node_id in self.members(data_space, now)

    def check_link(self, link: DataSpaceLink, now: int) -> None:
        """Raise unless ``link`` is valid at ``now``: both charters known, every signature
        valid, purposes in both vocabularies, in its window, both governance thresholds met."""
        charters = [
            self._charter(space, f"$.body.data_spaces[{index}]")
            for index, space in enumerate(link.data_spaces)
        ]
        signers = link.signers()
        for charter in charters:
            _subset(link.purposes, charter.purposes, WireCode.UNKNOWN_PURPOSE, "$.body.purposes")
        _window(link.issued_at, link.valid_until, now)
        for charter in charters:
            _require(signers, charter.governance, charter.governance_threshold)

    def may_connect(
        self,
        local_spaces: Iterable[str],
        remote_credentials: Iterable[MembershipCredential],
        links: Iterable[DataSpaceLink],
        now: int,
        *,
        remote_node_id: str,
    ) -> ConnectDecision:
        """Whether the authenticated peer ``remote_node_id`` may complete a handshake with us.

        Allowed when one of the peer's presented credentials admits it (for ``remote_node_id``,
        not anyone else) to a data space in ``local_spaces``, or to a data space joined to one
        of ours by a valid link. Otherwise the reason is the first credential's refusal if no
        credential admits the peer anywhere (``NOT_A_MEMBER`` if it presented none), else the
        refusal of a link that would have joined us, else ``NO_SHARED_DATA_SPACE``.
        """
        presented = list(remote_credentials)
        if len(presented) > MAX_PRESENTED:
            return ConnectDecision(False, WireCode.INVALID_FIELD)
        refusal: WireCode | None = None
        remote_spaces: set[str] = set()
        for credential in presented:
            if credential.member != remote_node_id:
                refusal = refusal or WireCode.SUBJECT_MISMATCH
                continue
            try:
                self.check_credential(credential, now, presented)
            except ValidationError as error:
                refusal = refusal or error.code
                continue
            remote_spaces.add(credential.data_space)
        if not remote_spaces:
            return ConnectDecision(False, refusal or WireCode.NOT_A_MEMBER)
        local = set(local_spaces)
        if local & remote_spaces:
            return ConnectDecision(True, None)
        link_refusal: WireCode | None = None
        for link in links:
            if not any(link.joins(ours, theirs) for ours in local for theirs in remote_spaces):
                continue
            try:
                self.check_link(link, now)
            except ValidationError as error:
                link_refusal = link_refusal or error.code
                continue
            return ConnectDecision(True, None)
        return ConnectDecision(False, link_refusal or WireCode.NO_SHARED_DATA_SPACE)
