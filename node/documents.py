"""Data-space documents as one line of text, for passing between operators (mail, chat, file).

A document is ``confide-<kind>:`` followed by the canonical encoding of a signed object in
unpadded base64url: ``charter``, ``credential``, ``revocation``, ``link`` — or an
``invitation``, which bundles a charter, a credential for the invitee and bootstrap addresses
(``NODE_ID@ws://…``) in one canonical map ``{"v": 1, "charter", "credential", "bootstrap"}``.
An invitation carries no signature of its own: its charter and credential carry theirs, and
bootstrap addresses are only hints (the handshake checks who answers).

Decoding is strict: a wrong prefix, bad base64 or an object that does not validate raises
``DocumentError`` naming what was wrong, never anything else.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Final, TypeAlias

from network import canonical
from network.canonical import expect_list, expect_map, expect_str
from network.dataspace import Charter, DataSpaceLink, MembershipCredential, Revocation
from network.errors import NetworkError, ValidationError
from node.errors import InvalidError

MAX_DOCUMENT: Final = 64 * 1024
MAX_BOOTSTRAP: Final = 8
Signed: TypeAlias = Charter | MembershipCredential | Revocation | DataSpaceLink


@dataclass(frozen=True)
class Invitation:
    """What a new member needs to join: the charter, its credential, where to find peers."""

    charter: Charter
    credential: MembershipCredential
    bootstrap: tuple[str, ...] = ()

    def encode(self) -> bytes:
        """The canonical map."""
        return canonical.encode(
            {
                "v": 1,
                "charter": self.charter.encode(),
                "credential": self.credential.encode(),
                "bootstrap": list(self.bootstrap[:MAX_BOOTSTRAP]),
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> Invitation:
        """Parse the canonical map; ``ValidationError`` on any fault."""
        body = expect_map(canonical.decode(data), "$", ("v", "charter", "credential", "bootstrap"))
        if body["v"] != 1:
            raise canonical.invalid("$.v", "unsupported invitation version")
        charter = body["charter"]
        credential = body["credential"]
        if not isinstance(charter, bytes) or not isinstance(credential, bytes):
            raise canonical.invalid("$", "charter and credential are byte strings")
        addresses = expect_list(body["bootstrap"], "$.bootstrap", MAX_BOOTSTRAP)
        return cls(
            Charter.decode(charter),
            MembershipCredential.decode(credential),
            tuple(expect_str(a, f"$.bootstrap[{i}]", 300) for i, a in enumerate(addresses)),
        )


Document: TypeAlias = Signed | Invitation
_KINDS: Final[dict[str, type[Document]]] = {
    "charter": Charter,
    "credential": MembershipCredential,
    "revocation": Revocation,
    "link": DataSpaceLink,
    "invitation": Invitation,
}
_NAMES: Final = {kind: name for name, kind in _KINDS.items()}


class DocumentError(InvalidError):
    """Text that is not a valid document."""

    def __init__(self, reason: str, path: str | None = None) -> None:
        details = {} if path is None else {"path": path}
        super().__init__("document_invalid", f"not a valid document: {reason}", details)


def kind_of(document: Document) -> str:
    """``charter``, ``credential``, ``revocation``, ``link`` or ``invitation``."""
    return _NAMES[type(document)]


def to_text(document: Document) -> str:
    """The one-line text form."""
    data = base64.urlsafe_b64encode(document.encode()).decode("ascii").rstrip("=")
    return f"confide-{kind_of(document)}:{data}"


def from_text(text: str) -> Document:
    """Parse the one-line text form (surrounding whitespace ignored)."""
    text = text.strip()
    if len(text) > MAX_DOCUMENT:
        raise DocumentError("longer than 64 KiB")
    prefix, colon, data = text.partition(":")
    kind = _KINDS.get(prefix.removeprefix("confide-")) if prefix.startswith("confide-") else None
    if not colon or kind is None:
        raise DocumentError("expected confide-<charter|credential|revocation|link|invitation>:…")
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        raise DocumentError("the text after the colon is not base64url") from None
    try:
        return kind.decode(raw)
    except ValidationError as error:
        raise DocumentError(error.reason, error.path) from None
    except NetworkError as error:
        raise DocumentError(error.reason) from None
