"""Charters, membership credentials, revocations, data-space links and who may connect."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import replace
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from network import canonical
from network.canonical import DOMAIN_CHARTER, DOMAIN_MEMBERSHIP_CREDENTIAL, Value
from network.dataspace import (
    Admission,
    Charter,
    DataSpaceLink,
    MembershipCredential,
    Revocation,
)
from network.errors import LocalProtocolError, ValidationError, WireCode
from network.identity import Identity
from network.membership import ConnectDecision, Membership
from network.records import NodeRecord, RecordAccepted, RecordStore, SignedNodeRecord

T0 = 1_700_000_000
DAY = 86_400
NL = "nl-human-trafficking"
BE = "be-human-trafficking"
T = TypeVar("T", Charter, MembershipCredential, Revocation, DataSpaceLink)


def insecure_identity(label: str) -> Identity:
    """A deterministic identity for tests only: its private key is a hash of ``label``."""
    return Identity.from_private_bytes(hashlib.sha256(label.encode()).digest())


NL_GOV = [insecure_identity(f"nl-governance-{i}") for i in range(3)]
BE_GOV = [insecure_identity(f"be-governance-{i}") for i in range(3)]
LEA, NGO, CARE, OUTSIDER = (insecure_identity(name) for name in ("lea", "ngo", "care", "outsider"))
BE_NGO, BRIDGE = insecure_identity("be-ngo"), insecure_identity("bridge")


def signed(obj: T, *identities: Identity) -> T:
    """``obj`` signed by each of ``identities`` in turn."""
    for identity in identities:
        obj = obj.sign(identity)
    return obj


def nl_charter(version: int = 1, signers: tuple[Identity, ...] = tuple(NL_GOV[:2])) -> Charter:
    """The Dutch charter: 2 of 3 governance keys sign charters and admit members."""
    charter = Charter(
        data_space=NL,
        version=version,
        issued_at=T0,
        governance=frozenset(g.node_id for g in NL_GOV),
        governance_threshold=2,
        admission=Admission("governance", 2),
        roles=frozenset({"lea", "ngo", "care-provider", "compute"}),
        purposes=frozenset({"monitoring", "victim-support"}),
    )
    return signed(charter, *signers)


def be_charter() -> Charter:
    """The Belgian charter: members are admitted by 2 endorsements."""
    charter = Charter(
        data_space=BE,
        version=1,
        issued_at=T0,
        governance=frozenset(g.node_id for g in BE_GOV),
        governance_threshold=2,
        admission=Admission("endorsements", 2),
        roles=frozenset({"ngo", "lea", "compute"}),
        purposes=frozenset({"monitoring", "research"}),
    )
    return signed(charter, *BE_GOV[:2])


def credential(
    member: Identity,
    space: str = NL,
    roles: frozenset[str] = frozenset({"ngo"}),
    signers: tuple[Identity, ...] = tuple(NL_GOV[:2]),
    issued_at: int = T0,
    valid_until: int = T0 + 365 * DAY,
) -> MembershipCredential:
    """A credential for ``member`` signed by ``signers``."""
    serial = hashlib.sha256(f"{member.node_id}/{space}/{issued_at}".encode()).digest()[:16]
    body = MembershipCredential(
        data_space=space,
        member=member.node_id,
        roles=roles,
        issued_at=issued_at,
        valid_until=valid_until,
        serial=serial,
    )
    return signed(body, *signers)


def link(
    signers: tuple[Identity, ...] = (*NL_GOV[:2], *BE_GOV[:2]),
    valid_until: int = T0 + 30 * DAY,
    purposes: frozenset[str] = frozenset({"monitoring"}),
) -> DataSpaceLink:
    """A link between the Dutch and Belgian data spaces."""
    body = DataSpaceLink(
        data_spaces=(NL, BE), purposes=purposes, issued_at=T0, valid_until=valid_until
    )
    return signed(body, *signers)


def membership() -> Membership:
    """A view holding both charters and credentials for LEA and NGO in NL."""
    view = Membership([nl_charter(), be_charter()])
    view.add_credential(credential(LEA, roles=frozenset({"lea", "compute"})))
    view.add_credential(credential(NGO))
    return view


def refused(error: pytest.ExceptionInfo[ValidationError]) -> tuple[WireCode, str]:
    """The code and path of a caught validation error."""
    return error.value.code, error.value.path


def flip(data: bytes, bit: int) -> bytes:
    """``data`` with one bit flipped."""
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        nl_charter,
        be_charter,
        lambda: credential(LEA),
        link,
        lambda: signed(Revocation(NL, T0, T0, serial=bytes(16)), *NL_GOV[:2]),
        lambda: signed(Revocation(NL, T0, T0, member=NGO.node_id), *NL_GOV[:2]),
    ],
    ids=["charter", "endorsement-charter", "credential", "link", "revoke-serial", "revoke-member"],
)
def test_round_trip(make: object) -> None:
    """Every object encodes canonically and decodes to an equal object."""
    obj = make()  # type: ignore[operator]
    data = obj.encode()
    decoded = type(obj).decode(data)
    assert decoded == obj
    assert decoded.encode() == data
    assert decoded.signers() == frozenset(obj.signatures)


def test_charter_verifies_with_threshold() -> None:
    """A charter signed by 2 of its 3 governance keys verifies; by 1 it does not."""
    nl_charter().verify()
    with pytest.raises(ValidationError) as caught:
        nl_charter(signers=(NL_GOV[0],)).verify()
    assert refused(caught) == (WireCode.INSUFFICIENT_SIGNATURES, "$.signatures")


def test_charter_signed_by_outsiders_refused() -> None:
    """Valid signatures from keys outside governance do not count towards the threshold."""
    with pytest.raises(ValidationError) as caught:
        nl_charter(signers=(NL_GOV[0], OUTSIDER, LEA)).verify()
    assert caught.value.code is WireCode.INSUFFICIENT_SIGNATURES


# --- forgeries ------------------------------------------------------------------------------


def test_flipped_signature_bit_is_forged() -> None:
    """A flipped bit in any one signature is FORGED_SIGNATURE at that signature's path."""
    charter = nl_charter()
    signer = sorted(charter.signatures)[1]
    bad = replace(
        charter, signatures={**charter.signatures, signer: flip(charter.signatures[signer], 9)}
    )
    with pytest.raises(ValidationError) as caught:
        bad.verify()
    assert refused(caught) == (WireCode.FORGED_SIGNATURE, "$.signatures[1].signature")


def test_changed_object_is_forged() -> None:
    """Changing a signed field (here the admission threshold) breaks every signature."""
    bad = replace(nl_charter(), admission=Admission("governance", 1))
    with pytest.raises(ValidationError) as caught:
        bad.verify()
    assert caught.value.code is WireCode.FORGED_SIGNATURE


def test_swapped_signer_is_forged() -> None:
    """A signature moved to another signer's name does not verify."""
    charter = nl_charter()
    signatures = dict(charter.signatures)
    signatures[NL_GOV[2].node_id] = signatures.pop(NL_GOV[0].node_id)
    with pytest.raises(ValidationError) as caught:
        replace(charter, signatures=signatures).verify()
    assert caught.value.code is WireCode.FORGED_SIGNATURE


def test_wrong_domain_is_forged() -> None:
    """A governance signature over the charter body under another domain is refused."""
    charter = nl_charter(signers=())
    signatures = {g.node_id: g.sign(DOMAIN_MEMBERSHIP_CREDENTIAL, charter.body()) for g in NL_GOV}
    with pytest.raises(ValidationError) as caught:
        replace(charter, signatures=signatures).verify()
    assert caught.value.code is WireCode.FORGED_SIGNATURE


def test_every_bit_flip_of_a_credential_refused() -> None:
    """Flipping any bit of an encoded credential makes decoding or checking it fail."""
    view = membership()
    data = credential(CARE).encode()
    view.check_credential(MembershipCredential.decode(data), T0)
    for bit in range(len(data) * 8):
        with pytest.raises(ValidationError):
            view.check_credential(MembershipCredential.decode(flip(data, bit)), T0)


# --- validation with paths ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code", "path"),
    [
        ({"data_space": "NL HT"}, WireCode.INVALID_FIELD, "$.body.data_space"),
        ({"governance": frozenset()}, WireCode.INVALID_FIELD, "$.body.governance"),
        ({"governance": frozenset({"cfd1x"})}, WireCode.INVALID_PUBLIC_KEY, "$.body.governance[0]"),
        ({"governance_threshold": 4}, WireCode.INVALID_FIELD, "$.body.governance_threshold"),
        (
            {"admission": Admission("governance", 4)},
            WireCode.INVALID_FIELD,
            "$.body.admission.threshold",
        ),
        ({"admission": Admission("endorsements", 0)}, WireCode.INVALID_FIELD, "$.body.admission.k"),
        ({"roles": frozenset({"lea", "Bad Role"})}, WireCode.INVALID_FIELD, "$.body.roles[0]"),
        ({"purposes": frozenset()}, WireCode.INVALID_FIELD, "$.body.purposes"),
        ({"version": 0}, WireCode.INVALID_FIELD, "$.body.version"),
    ],
)
def test_charter_validation_paths(changes: dict[str, object], code: WireCode, path: str) -> None:
    """Invalid charter fields are refused with a code and the field's path."""
    with pytest.raises(ValidationError) as caught:
        replace(nl_charter(), **changes)  # type: ignore[arg-type]
    assert refused(caught) == (code, path)


def test_unknown_admission_kind_refused() -> None:
    """An admission rule of an unknown kind is refused when built, at its path."""
    with pytest.raises(ValidationError) as caught:
        Admission("quorum", 2)  # type: ignore[arg-type]
    assert refused(caught) == (WireCode.INVALID_FIELD, "$.body.admission.kind")


def envelope(body: dict[str, Value], *signers: Identity, domain: bytes = DOMAIN_CHARTER) -> bytes:
    """A hand-built wire object with valid signatures over ``body``."""
    signatures: list[Value] = [
        {"signer": s.node_id, "signature": s.sign(domain, body)}
        for s in sorted(signers, key=lambda s: s.node_id)
    ]
    return canonical.encode({"body": body, "signatures": signatures})


@pytest.mark.parametrize(
    ("admission", "path"),
    [
        ({"kind": "quorum", "threshold": 2}, "$.body.admission.kind"),
        ({"kind": "governance", "k": 2}, "$.body.admission.threshold"),
        ({"kind": "endorsements", "k": 2, "threshold": 2}, "$.body.admission.<unknown #2>"),
        ({"kind": "endorsements", "k": True}, "$.body.admission.k"),
        ("governance", "$.body.admission.kind"),
    ],
)
def test_admission_rule_shape_on_the_wire(admission: Value, path: str) -> None:
    """A malformed admission rule from the wire is refused at its exact path."""
    body = nl_charter().body()
    body["admission"] = admission
    with pytest.raises(ValidationError) as caught:
        Charter.decode(envelope(body, *NL_GOV[:2]))
    assert refused(caught) == (WireCode.INVALID_FIELD, path)


def test_unsorted_signatures_refused() -> None:
    """Signature lists must be in strictly increasing signer order, as canonical sets are."""
    wire = nl_charter().to_wire()
    entries = wire["signatures"]
    assert isinstance(entries, list)
    wire["signatures"] = entries[::-1]
    with pytest.raises(ValidationError) as caught:
        Charter.decode(canonical.encode(wire))
    assert refused(caught) == (WireCode.INVALID_FIELD, "$.signatures")


def test_credential_wire_paths() -> None:
    """A short serial and an unknown version are reported at their paths."""
    body = credential(LEA).body()
    with pytest.raises(ValidationError) as caught:
        MembershipCredential.decode(
            envelope({**body, "serial": bytes(15)}, domain=DOMAIN_MEMBERSHIP_CREDENTIAL)
        )
    assert refused(caught) == (WireCode.INVALID_FIELD, "$.body.serial")
    with pytest.raises(ValidationError) as caught:
        MembershipCredential.decode(envelope({**body, "v": 9}))
    assert refused(caught) == (WireCode.UNSUPPORTED_VERSION, "$.body.v")


def test_revocation_needs_exactly_one_target() -> None:
    """A revocation names a serial or a member, not both and not neither."""
    for target in ({}, {"serial": bytes(16), "member": LEA.node_id}):
        with pytest.raises(ValidationError) as caught:
            Revocation(NL, T0, T0, **target)  # type: ignore[arg-type]
        assert refused(caught) == (WireCode.INVALID_FIELD, "$.body.target")


def test_link_needs_two_different_spaces() -> None:
    """A link joins exactly two different data spaces."""
    with pytest.raises(ValidationError) as caught:
        DataSpaceLink(data_spaces=(NL, NL), purposes=frozenset({"x"}), issued_at=0, valid_until=1)
    assert refused(caught) == (WireCode.INVALID_FIELD, "$.body.data_spaces")


@pytest.mark.parametrize("kind", [Charter, MembershipCredential, Revocation, DataSpaceLink])
@given(data=st.binary(max_size=400))
@settings(max_examples=300)
def test_decoders_fuzz(kind: type[Charter], data: bytes) -> None:
    """Any bytes given to an object decoder are accepted or raise ValidationError."""
    with contextlib.suppress(ValidationError):
        kind.decode(data)


def test_oversized_objects_are_local_errors() -> None:
    """Encoding an object past its size bound is refused before it reaches a peer."""
    many = frozenset(f"purpose-{i:03d}-{'p' * 52}" for i in range(64))
    roles = frozenset(f"role-{i:02d}-{'r' * 55}" for i in range(32))
    big = replace(nl_charter(), purposes=many, roles=roles)
    with pytest.raises(LocalProtocolError) as caught:
        link(purposes=many).encode()
    assert caught.value.code is WireCode.OBJECT_TOO_LARGE
    assert len(big.encode()) <= Charter.MAX_SIZE


# --- membership -----------------------------------------------------------------------------


def test_governance_admission() -> None:
    """A credential with 2 governance signatures admits its member; with 1 it does not."""
    view = membership()
    assert view.is_member(LEA.node_id, NL, T0)
    assert view.members(NL, T0) == {
        LEA.node_id: frozenset({"lea", "compute"}),
        NGO.node_id: frozenset({"ngo"}),
    }
    weak = credential(CARE, signers=(NL_GOV[0],))
    view.add_credential(weak)
    assert not view.is_member(CARE.node_id, NL, T0)
    with pytest.raises(ValidationError) as caught:
        view.check_credential(weak, T0)
    assert refused(caught) == (WireCode.INSUFFICIENT_SIGNATURES, "$.signatures")


def test_roles_outside_vocabulary_rejected_with_path() -> None:
    """A credential role the charter does not define is UNKNOWN_ROLE at its wire position."""
    view = membership()
    bad = credential(CARE, roles=frozenset({"ngo", "auditor"}))  # sorted: auditor, ngo
    with pytest.raises(ValidationError) as caught:
        view.add_credential(bad)
    assert refused(caught) == (WireCode.UNKNOWN_ROLE, "$.body.roles[0]")
    with pytest.raises(ValidationError) as caught:
        view.check_credential(bad, T0)
    assert refused(caught) == (WireCode.UNKNOWN_ROLE, "$.body.roles[0]")


def test_credential_time_window() -> None:
    """A credential counts from issued_at (minus skew) until valid_until, exclusive."""
    view = membership()
    assert view.is_member(LEA.node_id, NL, T0 + 365 * DAY - 1)
    assert not view.is_member(LEA.node_id, NL, T0 + 365 * DAY)
    assert not view.is_member(LEA.node_id, NL, T0 - 61)
    with pytest.raises(ValidationError) as caught:
        view.check_credential(credential(LEA), T0 + 365 * DAY)
    assert refused(caught) == (WireCode.EXPIRED, "$.body.valid_until")
    assert view.prune(T0 + 365 * DAY) == 2


def test_unknown_data_space() -> None:
    """A credential for a data space without a known charter is UNKNOWN_DATA_SPACE."""
    view = Membership([nl_charter()])
    with pytest.raises(ValidationError) as caught:
        view.add_credential(credential(BE_NGO, space=BE, signers=tuple(BE_GOV[:2])))
    assert refused(caught) == (WireCode.UNKNOWN_DATA_SPACE, "$.body.data_space")
    assert not view.is_member(BE_NGO.node_id, BE, T0)


def test_endorsements_grow_from_governance() -> None:
    """Under k=2 endorsements, members admitted by governance endorse the next members."""
    view = membership()
    first = credential(BE_NGO, BE, signers=tuple(BE_GOV[:2]))
    second = credential(BRIDGE, BE, signers=(BE_GOV[0], BE_NGO))
    third = credential(CARE, BE, signers=(BE_NGO, BRIDGE))
    for each in (third, second, first):  # order of arrival does not matter
        view.add_credential(each)
    assert set(view.members(BE, T0)) == {BE_NGO.node_id, BRIDGE.node_id, CARE.node_id}


def test_endorsements_below_k_refused() -> None:
    """One endorsement (or a self-endorsement) is not enough when k = 2."""
    view = membership()
    view.add_credential(credential(BE_NGO, BE, signers=tuple(BE_GOV[:2])))
    lonely = credential(CARE, BE, signers=(BE_NGO,))
    selfish = credential(BRIDGE, BE, signers=(BE_NGO, BRIDGE))
    for each in (lonely, selfish):
        view.add_credential(each)
        with pytest.raises(ValidationError) as caught:
            view.check_credential(each, T0)
        assert refused(caught) == (WireCode.INSUFFICIENT_SIGNATURES, "$.signatures")
    assert set(view.members(BE, T0)) == {BE_NGO.node_id}


def test_endorsement_cycles_admit_no_one() -> None:
    """Two outsiders endorsing each other (plus a third) never reach governance."""
    view = membership()
    ring = [insecure_identity(f"ring-{i}") for i in range(3)]
    for i, member in enumerate(ring):
        others = tuple(r for j, r in enumerate(ring) if j != i)
        view.add_credential(credential(member, BE, signers=others))
    assert view.members(BE, T0) == {}


def test_revoked_member_refused() -> None:
    """After a governance revocation takes effect, the member is out and may not connect."""
    view = membership()
    revocation = signed(Revocation(NL, T0 + 5, T0 + 10, member=NGO.node_id), *NL_GOV[1:])
    view.add_revocation(revocation)
    assert view.is_member(NGO.node_id, NL, T0 + 9)
    assert not view.is_member(NGO.node_id, NL, T0 + 10)
    decision = view.may_connect([NL], [credential(NGO)], [], T0 + 10, remote_node_id=NGO.node_id)
    assert decision == ConnectDecision(False, WireCode.REVOKED)
    readmitted = credential(NGO, issued_at=T0 + 20)
    view.add_credential(readmitted)
    assert view.is_member(NGO.node_id, NL, T0 + 20)


def test_revocation_by_serial() -> None:
    """Revoking a serial ends that credential only."""
    view = membership()
    target = credential(LEA, roles=frozenset({"lea", "compute"}))
    view.add_revocation(signed(Revocation(NL, T0, T0, serial=target.serial), *NL_GOV[:2]))
    assert not view.is_member(LEA.node_id, NL, T0)
    assert view.is_member(NGO.node_id, NL, T0)


def test_revocation_needs_governance_threshold() -> None:
    """A revocation signed by one governance key, or by members, is refused."""
    view = membership()
    body = Revocation(NL, T0, T0, member=NGO.node_id)
    for signers in ((NL_GOV[0],), (LEA, NGO, CARE)):
        with pytest.raises(ValidationError) as caught:
            view.add_revocation(signed(body, *signers))
        assert refused(caught) == (WireCode.INSUFFICIENT_SIGNATURES, "$.signatures")
    assert view.is_member(NGO.node_id, NL, T0)


def test_revoking_an_endorser_cascades() -> None:
    """A member whose endorsements fall below k once an endorser is revoked is out too."""
    view = membership()
    view.add_credential(credential(BE_NGO, BE, signers=tuple(BE_GOV[:2])))
    view.add_credential(credential(BRIDGE, BE, signers=(BE_GOV[0], BE_NGO)))
    view.add_revocation(signed(Revocation(BE, T0, T0, member=BE_NGO.node_id), *BE_GOV[1:]))
    assert view.members(BE, T0) == {}


def test_charter_update() -> None:
    """A newer charter signed by the held governance replaces it; stale or unsigned ones don't."""
    view = membership()
    with pytest.raises(ValidationError) as caught:
        view.update_charter(nl_charter(version=1))
    assert refused(caught) == (WireCode.STALE_CHARTER, "$.body.version")
    rogue = replace(
        nl_charter(version=2, signers=()),
        governance=frozenset({OUTSIDER.node_id}),
        governance_threshold=1,
        admission=Admission("governance", 1),
    )
    with pytest.raises(ValidationError) as caught:
        view.update_charter(signed(rogue, OUTSIDER))
    assert refused(caught) == (WireCode.INSUFFICIENT_SIGNATURES, "$.signatures")
    view.update_charter(nl_charter(version=2))
    charter = view.charter(NL)
    assert charter is not None
    assert charter.version == 2


# --- who may connect ------------------------------------------------------------------------


def test_shared_data_space_may_connect() -> None:
    """Two members of one data space may complete a handshake."""
    view = membership()
    decision = view.may_connect([NL], [credential(NGO)], [], T0, remote_node_id=NGO.node_id)
    assert decision == ConnectDecision(True, None)


def test_non_member_refused() -> None:
    """A peer presenting no credential is NOT_A_MEMBER; a weak credential says why."""
    view = membership()
    assert view.may_connect([NL], [], [], T0, remote_node_id=OUTSIDER.node_id) == (
        False,
        WireCode.NOT_A_MEMBER,
    )
    weak = credential(OUTSIDER, signers=(NL_GOV[0],))
    decision = view.may_connect([NL], [weak], [], T0, remote_node_id=OUTSIDER.node_id)
    assert decision == (False, WireCode.INSUFFICIENT_SIGNATURES)


def test_someone_elses_credential_refused() -> None:
    """A credential naming another node proves nothing about the peer presenting it."""
    view = membership()
    decision = view.may_connect([NL], [credential(NGO)], [], T0, remote_node_id=OUTSIDER.node_id)
    assert decision == (False, WireCode.SUBJECT_MISMATCH)


def test_forged_credential_alongside_does_not_help_or_hurt() -> None:
    """A forged credential presented with a valid one is ignored; the valid one decides."""
    view = membership()
    good = credential(NGO)
    bad_signatures = {k: flip(v, 0) for k, v in credential(NGO, space=BE).signatures.items()}
    bad = replace(credential(NGO, space=BE), signatures=bad_signatures)
    decision = view.may_connect([NL], [bad, good], [], T0, remote_node_id=NGO.node_id)
    assert decision == (True, None)
    alone = view.may_connect([NL], [bad], [], T0, remote_node_id=NGO.node_id)
    assert alone == (False, WireCode.FORGED_SIGNATURE)


def test_too_many_credentials_refused() -> None:
    """More than 8 presented credentials are refused outright."""
    view = membership()
    decision = view.may_connect([NL], [credential(NGO)] * 9, [], T0, remote_node_id=NGO.node_id)
    assert decision == (False, WireCode.INVALID_FIELD)


def test_different_spaces_need_a_link() -> None:
    """Members of two unlinked data spaces are refused with NO_SHARED_DATA_SPACE."""
    view = membership()
    be_member = credential(BE_NGO, BE, signers=tuple(BE_GOV[:2]))
    decision = view.may_connect([NL], [be_member], [], T0, remote_node_id=BE_NGO.node_id)
    assert decision == (False, WireCode.NO_SHARED_DATA_SPACE)
    linked = view.may_connect([NL], [be_member], [link()], T0, remote_node_id=BE_NGO.node_id)
    assert linked == (True, None)


def test_link_signed_by_one_side_refused() -> None:
    """A link signed only by the Dutch governance (or only 1 Belgian key) is refused."""
    view = membership()
    be_member = credential(BE_NGO, BE, signers=tuple(BE_GOV[:2]))
    for signers in (tuple(NL_GOV), (*NL_GOV[:2], BE_GOV[0])):
        one_sided = link(signers=signers)
        with pytest.raises(ValidationError) as caught:
            view.check_link(one_sided, T0)
        assert refused(caught) == (WireCode.INSUFFICIENT_SIGNATURES, "$.signatures")
        decision = view.may_connect(
            [NL], [be_member], [one_sided], T0, remote_node_id=BE_NGO.node_id
        )
        assert decision == (False, WireCode.INSUFFICIENT_SIGNATURES)


def test_link_expiry() -> None:
    """A link joins its data spaces until valid_until, then is EXPIRED."""
    view = membership()
    be_member = credential(BE_NGO, BE, signers=tuple(BE_GOV[:2]))
    short = link(valid_until=T0 + DAY)
    assert view.may_connect(
        [NL], [be_member], [short], T0 + DAY - 1, remote_node_id=BE_NGO.node_id
    )[0]
    decision = view.may_connect([NL], [be_member], [short], T0 + DAY, remote_node_id=BE_NGO.node_id)
    assert decision == (False, WireCode.EXPIRED)


def test_link_purposes_must_be_in_both_vocabularies() -> None:
    """A link purpose missing from either charter is UNKNOWN_PURPOSE at its position."""
    view = membership()
    with pytest.raises(ValidationError) as caught:
        view.check_link(link(purposes=frozenset({"monitoring", "research"})), T0)
    assert refused(caught) == (WireCode.UNKNOWN_PURPOSE, "$.body.purposes[1]")


def test_link_to_unknown_space() -> None:
    """A link naming a data space whose charter is not held is UNKNOWN_DATA_SPACE."""
    view = Membership([nl_charter()])
    with pytest.raises(ValidationError) as caught:
        view.check_link(link(), T0)
    assert refused(caught) == (WireCode.UNKNOWN_DATA_SPACE, "$.body.data_spaces[0]")


def test_node_in_two_data_spaces() -> None:
    """A node in NL and BE meets members of both; they still may not meet each other."""
    view = membership()
    view.add_credential(credential(BE_NGO, BE, signers=tuple(BE_GOV[:2])))
    bridge_credentials = [
        credential(BRIDGE, NL, roles=frozenset({"compute"})),
        credential(BRIDGE, BE, roles=frozenset({"compute"}), signers=(BE_GOV[0], BE_NGO)),
    ]
    for each in bridge_credentials:
        view.add_credential(each)
    assert view.is_member(BRIDGE.node_id, NL, T0)
    assert view.is_member(BRIDGE.node_id, BE, T0)
    nl_side = view.may_connect([NL], bridge_credentials, [], T0, remote_node_id=BRIDGE.node_id)
    be_side = view.may_connect([BE], bridge_credentials, [], T0, remote_node_id=BRIDGE.node_id)
    assert nl_side == be_side == (True, None)
    bridge_sees_ngo = view.may_connect(
        [NL, BE], [credential(NGO)], [], T0, remote_node_id=NGO.node_id
    )
    assert bridge_sees_ngo == (True, None)
    ngo_meets_be = view.may_connect(
        [NL],
        [credential(BE_NGO, BE, signers=tuple(BE_GOV[:2]))],
        [],
        T0,
        remote_node_id=BE_NGO.node_id,
    )
    assert ngo_meets_be == (False, WireCode.NO_SHARED_DATA_SPACE)
    record = NodeRecord(
        BRIDGE.node_id,
        ("wss://bridge.example",),
        {NL: frozenset({"compute"}), BE: frozenset({"compute"})},
        1,
        T0,
        T0 + DAY,
    )
    store = RecordStore()
    outcome = store.offer(
        SignedNodeRecord.sign(record, BRIDGE),
        T0,
        lambda node_id, space: view.is_member(node_id, space, T0),
    )
    assert isinstance(outcome, RecordAccepted)
