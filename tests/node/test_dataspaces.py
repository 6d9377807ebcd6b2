"""Data spaces in the store: create, invite, join, revoke, link, documents; all survive reopen."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from network.channel import Peer
from network.errors import RemoteProtocolError, WireCode
from network.identity import Identity
from node.dataspaces import DataSpaces
from node.documents import DocumentError, Invitation, from_text, to_text
from node.errors import ConflictError, InvalidError, NotFoundError
from node.store import open_store

NOW = 1_700_000_000


def insecure_identity(name: str) -> Identity:
    """A deterministic identity for tests only (never for a real node)."""
    return Identity.from_private_bytes(hashlib.sha256(name.encode()).digest())


LEA, NGO, BAD, BE_GOV = (insecure_identity(n) for n in ("lea", "ngo", "bad", "be-gov"))


def open_spaces(tmp_path: Path, identity: Identity) -> DataSpaces:
    """DataSpaces over a store file named after the identity."""
    connection = open_store(tmp_path / f"{identity.node_id[:10]}.sqlite")
    return DataSpaces(connection, identity)


def founded(tmp_path: Path) -> DataSpaces:
    """LEA founds nl-ht (sole governance) and is a member."""
    lea = open_spaces(tmp_path, LEA)
    lea.create("nl-ht", roles=["lea", "ngo"], purposes=["monitoring"], now=NOW)
    lea.issue("nl-ht", LEA.node_id, ["lea"], NOW)
    return lea


def peer_of(spaces: DataSpaces, now: int) -> Peer:
    """How ``spaces``' node presents itself in a handshake."""
    own = spaces.own_credentials(now)
    return Peer(spaces.node_id, spaces.local_spaces(now), tuple(c.encode() for c in own))


def test_invite_join_and_admit(tmp_path: Path) -> None:
    """An invited node joins through the invitation text and both admit each other."""
    lea = founded(tmp_path)
    credential = lea.issue("nl-ht", NGO.node_id, ["ngo"], NOW)
    text = to_text(Invitation(lea.charter("nl-ht"), credential, (f"{LEA.node_id}@ws://a:1/x",)))
    invitation = from_text(text)
    assert isinstance(invitation, Invitation)
    ngo = open_spaces(tmp_path, NGO)
    ngo.join(invitation.charter, invitation.credential, invitation.bootstrap, NOW)
    assert ngo.local_spaces(NOW) == ("nl-ht",)
    assert ngo.bootstrap() == [f"{LEA.node_id}@ws://a:1/x"]
    lea.authorizer(lambda: NOW)(peer_of(ngo, NOW))
    ngo.authorizer(lambda: NOW)(peer_of(lea, NOW))


def test_a_non_member_and_a_revoked_member_are_refused(tmp_path: Path) -> None:
    """No credential: NOT_A_MEMBER; after revocation: REVOKED, also after reopening."""
    lea = founded(tmp_path)
    authorize = lea.authorizer(lambda: NOW + 10)
    with pytest.raises(RemoteProtocolError) as caught:
        authorize(Peer(BAD.node_id, ("nl-ht",), ()))
    assert caught.value.code == WireCode.NOT_A_MEMBER
    credential = lea.issue("nl-ht", BAD.node_id, ["ngo"], NOW)
    bad = Peer(BAD.node_id, ("nl-ht",), (credential.encode(),))
    authorize(bad)
    lea.revoke("nl-ht", NOW + 5, member=BAD.node_id)
    with pytest.raises(RemoteProtocolError) as caught:
        authorize(bad)
    assert caught.value.code == WireCode.REVOKED
    reopened = DataSpaces(open_store(tmp_path / f"{LEA.node_id[:10]}.sqlite"), LEA)
    with pytest.raises(RemoteProtocolError) as caught:
        reopened.authorizer(lambda: NOW + 10)(bad)
    assert caught.value.code == WireCode.REVOKED


def test_reload_reports_what_another_process_wrote(tmp_path: Path) -> None:
    """A revocation written through a second connection reaches the first one's listeners."""
    lea = founded(tmp_path)
    seen: list[str] = []
    lea.changed.append(lambda change, obj: seen.append(change))
    other = DataSpaces(open_store(tmp_path / f"{LEA.node_id[:10]}.sqlite"), LEA)
    other.revoke("nl-ht", NOW, member=BAD.node_id)
    assert [type(o).__name__ for o in lea.reload()] == ["Revocation"]
    assert seen == ["revocation"]
    assert lea.reload() == []


def test_join_refuses_someone_elses_credential(tmp_path: Path) -> None:
    """A credential naming another node cannot be used to join."""
    lea = founded(tmp_path)
    credential = lea.issue("nl-ht", BAD.node_id, [], NOW)
    ngo = open_spaces(tmp_path, NGO)
    with pytest.raises(InvalidError, match="another node"):
        ngo.join(lea.charter("nl-ht"), credential, (), NOW)
    assert ngo.local_spaces(NOW) == ()


def test_create_twice_and_unknown_vocabulary(tmp_path: Path) -> None:
    """A second charter for a space conflicts; a role outside the vocabulary is refused."""
    lea = founded(tmp_path)
    with pytest.raises(ConflictError):
        lea.create("nl-ht", roles=["x"], purposes=["y"], now=NOW)
    with pytest.raises(InvalidError) as caught:
        lea.issue("nl-ht", NGO.node_id, ["pilot"], NOW)
    assert caught.value.details["wire_code"] == "unknown_role"
    with pytest.raises(NotFoundError):
        lea.issue("be-ht", NGO.node_id, [], NOW)


def test_link_needs_both_governances_then_unlink(tmp_path: Path) -> None:
    """A link signed by one side is pending; co-signed it is adopted; unlink drops it."""
    lea = founded(tmp_path)
    belgium = open_spaces(tmp_path, BE_GOV)
    be_charter = belgium.create("be-ht", roles=["ngo"], purposes=["monitoring"], now=NOW)
    lea.adopt(be_charter, NOW)
    belgium.adopt(lea.charter("nl-ht"), NOW)
    pending = lea.link("nl-ht", "be-ht", ["monitoring"], NOW)
    assert lea.links() == []
    complete = from_text(to_text(belgium.sign(pending)))
    assert lea.adopt(complete, NOW) is True
    assert lea.adopt(complete, NOW) is False
    assert [s["linked_to"] for s in lea.summary(NOW) if s["data_space"] == "nl-ht"] == [["be-ht"]]
    assert lea.unlink("be-ht", "nl-ht", NOW) == 1
    assert lea.links() == []
    with pytest.raises(NotFoundError):
        lea.unlink("nl-ht", "be-ht", NOW)


def test_documents_refuse_garbage() -> None:
    """Wrong prefix, bad base64 and a corrupted body are document_invalid errors."""
    for text in ("hello", "confide-nothing:AAAA", "confide-charter:!!!!", "confide-charter:gqRi"):
        with pytest.raises(DocumentError):
            from_text(text)


def test_record_sequence_grows_across_reopen(tmp_path: Path) -> None:
    """The node-record sequence number never repeats, even after a restart."""
    lea = founded(tmp_path)
    first = lea.next_sequence()
    again = DataSpaces(open_store(tmp_path / f"{LEA.node_id[:10]}.sqlite"), LEA)
    assert again.next_sequence() == first + 1
