"""Data-space administration as the operator asks for it: one function per action.

``confide dataspace`` (offline, on the node home) and the admin API (``/api/v1/dataspaces``, on
the running node) both call these, so an action means the same whichever way it is asked:

- ``found`` — create a charter with this node among its governance and, if this node's
  signature suffices, hold it and issue this node its own credential;
- ``invite`` — issue a credential for another node and bundle it with the charter and this
  node's address as an invitation;
- ``join`` — join with an invitation, or with a credential for a data space whose charter is held;
- ``cosign`` — add this node's signature to a document (endorse a credential, co-sign a charter,
  revocation or link); ``adopt`` — hold a completed document;
- ``revoke`` (one of member or serial), ``link`` and ``unlink``.

Each returns what the operator passes on or reads: documents as one line of text
(``node.documents``), and a JSON-able summary with no key material.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

from network.dataspace import MembershipCredential
from node.dataspaces.spaces import DataSpaces
from node.documents import Invitation, from_text, kind_of, to_text
from node.errors import InvalidError

SERIAL_HEX = 32
"""A credential serial is 16 bytes, written as 32 hexadecimal digits."""


def found(
    spaces: DataSpaces,
    data_space: str,
    *,
    roles: Iterable[str],
    purposes: Iterable[str],
    now: int,
    my_roles: Iterable[str] = (),
    valid_days: int = 365,
    governance: Iterable[str] = (),
    governance_threshold: int = 1,
    admission: Literal["governance", "endorsements"] = "governance",
    admission_threshold: int = 1,
) -> dict[str, Any]:
    """Create a charter; held at once (with our own credential) if our signature suffices."""
    charter = spaces.create(
        data_space,
        roles=roles,
        purposes=purposes,
        now=now,
        governance=governance,
        governance_threshold=governance_threshold,
        admission=admission,
        admission_threshold=admission_threshold,
    )
    held = spaces.membership.charter(data_space) is not None
    if held:
        spaces.issue(data_space, spaces.node_id, my_roles, now, valid_days)
    return {"data_space": data_space, "adopted": held, "charter": to_text(charter)}


def invite(
    spaces: DataSpaces,
    data_space: str,
    member: str,
    roles: Iterable[str],
    now: int,
    *,
    valid_days: int = 365,
    peer_url: str | None = None,
) -> dict[str, Any]:
    """A credential for ``member`` in an invitation (with ``peer_url`` as bootstrap address)."""
    credential = spaces.issue(data_space, member, roles, now, valid_days)
    bootstrap = (f"{spaces.node_id}@{peer_url}",) if peer_url else ()
    invitation = Invitation(spaces.charter(data_space), credential, bootstrap)
    return {
        "data_space": data_space,
        "member": member,
        "roles": sorted(credential.roles),
        "valid_until": credential.valid_until,
        "serial": credential.serial.hex(),
        "invitation": to_text(invitation),
    }


def join(spaces: DataSpaces, text: str, now: int) -> dict[str, Any]:
    """Join with an invitation, or with a credential of ours for a data space whose charter is
    held (``data_space_unknown`` otherwise)."""
    document = from_text(text)
    if isinstance(document, Invitation):
        charter, credential, bootstrap = document.charter, document.credential, document.bootstrap
    elif isinstance(document, MembershipCredential):
        charter, credential, bootstrap = spaces.charter(document.data_space), document, ()
    else:
        raise InvalidError(
            "not_an_invitation", "join takes an invitation or a membership credential"
        )
    joined = spaces.join(charter, credential, bootstrap, now)
    return {
        "data_space": joined.data_space,
        "roles": sorted(joined.roles),
        "valid_until": joined.valid_until,
        "charter_sha256": charter.digest().hex(),
    }


def cosign(spaces: DataSpaces, text: str) -> dict[str, Any]:
    """``text``'s document with this node's signature added (an invitation's credential)."""
    document = from_text(text)
    if isinstance(document, Invitation):
        credential = spaces.sign(document.credential)
        assert isinstance(credential, MembershipCredential)
        signed: Any = Invitation(document.charter, credential, document.bootstrap)
    else:
        signed = spaces.sign(document)
    return {"kind": kind_of(signed), "document": to_text(signed)}


def adopt(spaces: DataSpaces, text: str, now: int) -> dict[str, Any]:
    """Hold a completed charter, credential, revocation or link; ``new`` if it was not held."""
    document = from_text(text)
    if isinstance(document, Invitation):
        raise InvalidError("use_join", "an invitation is used to join, not adopted")
    return {"kind": kind_of(document), "new": spaces.adopt(document, now)}


def revoke(
    spaces: DataSpaces,
    data_space: str,
    now: int,
    *,
    member: str | None = None,
    serial: str | None = None,
) -> dict[str, Any]:
    """Revoke a member's credentials or one credential (by serial, hexadecimal)."""
    if (member is None) == (serial is None):
        raise InvalidError("revoke_target", "give exactly one of member and serial")
    raw = None
    if serial is not None:
        try:
            raw = bytes.fromhex(serial)
        except ValueError:
            raw = b""
        if len(raw) * 2 != SERIAL_HEX:
            raise InvalidError("serial_invalid", "a serial is 32 hexadecimal digits")
    revocation = spaces.revoke(data_space, now, member=member, serial=raw)
    kept = revocation.digest() in {r.digest() for r in spaces.revocations()}
    return {"data_space": data_space, "kept": kept, "revocation": to_text(revocation)}


def link(
    spaces: DataSpaces,
    data_space: str,
    other: str,
    purposes: Sequence[str],
    now: int,
    *,
    valid_days: int = 365,
) -> dict[str, Any]:
    """Link two data spaces; ``kept`` once both governances signed (else co-sign the text)."""
    signed = spaces.link(data_space, other, purposes, now, valid_days)
    kept = signed.digest() in {held.digest() for held in spaces.links()}
    return {"data_spaces": sorted((data_space, other)), "kept": kept, "link": to_text(signed)}


def unlink(spaces: DataSpaces, data_space: str, other: str, now: int) -> dict[str, Any]:
    """Stop honouring the links between two data spaces here."""
    return {"unlinked": spaces.unlink(data_space, other, now)}
