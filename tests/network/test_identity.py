"""Identities: node ids, signatures over domain || canonical(body), and key files."""

from __future__ import annotations

import hashlib
import os
import pickle
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from network.canonical import (
    DOMAIN_CHARTER,
    DOMAIN_DATA_SPACE_LINK,
    DOMAIN_MEMBERSHIP_CREDENTIAL,
    DOMAIN_NODE_RECORD,
    DOMAIN_NOISE_STATIC_KEY,
    DOMAIN_REVOCATION,
    signing_input,
)
from network.errors import (
    KeyFileError,
    LocalProtocolError,
    SignatureError,
    ValidationError,
    WireCode,
)
from network.identity import (
    Identity,
    node_id_from_public_key,
    public_key_from_node_id,
    verify,
)

# RFC 8032 §7.1, TEST 1: the secret key and the public key it must give.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
# Confide's own vector (docs/spec/identity-and-dataspaces.md): the RFC 8032 key signing
# {"hello": "world", "n": 1} under the node-record domain.
VECTOR_NODE_ID = "cfd125njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkena"
VECTOR_INPUT = bytes.fromhex(
    "636f6e666964652f76312f6e6f64652d7265636f726482a568656c6c6fa5776f726c64a16e01"
)
VECTOR_SIGNATURE = bytes.fromhex(
    "e10e1846c2d35960606d75689a28f465cfb0dcf37708d3941b0f377586bbfca3"
    "07d163fda8c26b11bdd7636784079391de1aeb642b689ca515e373b4565ca60b"
)
BODY = {"hello": "world", "n": 1}
P = 2**255 - 19


def insecure_identity(label: str) -> Identity:
    """A deterministic identity for tests only: its private key is a hash of ``label``."""
    return Identity.from_private_bytes(hashlib.sha256(label.encode()).digest())


def key_with_y(y: int, sign: int = 0) -> bytes:
    """The 32-byte Ed25519 encoding with y-coordinate ``y`` and x sign bit ``sign``."""
    return (y | (sign << 255)).to_bytes(32, "little")


def flip(data: bytes, bit: int) -> bytes:
    """``data`` with one bit flipped."""
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_rfc8032_key_derivation() -> None:
    """The RFC 8032 secret key gives the RFC 8032 public key and a pinned node id."""
    identity = Identity.from_private_bytes(RFC8032_SECRET)
    assert identity.public_key == RFC8032_PUBLIC
    assert identity.node_id == VECTOR_NODE_ID


def test_confide_signature_vector() -> None:
    """The signing input and signature of the spec's vector are pinned byte for byte."""
    identity = Identity.from_private_bytes(RFC8032_SECRET)
    assert signing_input(DOMAIN_NODE_RECORD, BODY) == VECTOR_INPUT
    assert identity.sign(DOMAIN_NODE_RECORD, BODY) == VECTOR_SIGNATURE
    verify(VECTOR_NODE_ID, DOMAIN_NODE_RECORD, BODY, VECTOR_SIGNATURE)


def test_node_id_round_trip() -> None:
    """A node id is cfd1 + 52 base32 characters and decodes back to its public key."""
    identity = Identity.generate()
    assert identity.node_id.startswith("cfd1")
    assert len(identity.node_id) == 56
    assert public_key_from_node_id(identity.node_id) == identity.public_key
    assert node_id_from_public_key(identity.public_key) == identity.node_id


@pytest.mark.parametrize(
    "node_id",
    [
        "",
        "cfd2" + VECTOR_NODE_ID[4:],
        VECTOR_NODE_ID.upper(),
        VECTOR_NODE_ID[:-1],
        VECTOR_NODE_ID + "a",
        VECTOR_NODE_ID[:-1] + "1",
        VECTOR_NODE_ID[:-1] + "b",  # same key bytes, nonzero padding bits: not canonical
    ],
    ids=["empty", "prefix", "uppercase", "short", "long", "alphabet", "padding-bits"],
)
def test_malformed_node_ids_refused(node_id: str) -> None:
    """Malformed or non-canonical node ids are refused with INVALID_PUBLIC_KEY at the path."""
    with pytest.raises(ValidationError) as caught:
        public_key_from_node_id(node_id, "$.body.member")
    assert caught.value.code is WireCode.INVALID_PUBLIC_KEY
    assert caught.value.path == "$.body.member"


SMALL_ORDER_Y = [
    0,
    1,
    P - 1,
    2707385501144840649318225287225658788936804267575313519463743609750303402022,
    P - 2707385501144840649318225287225658788936804267575313519463743609750303402022,
]


@pytest.mark.parametrize("sign", [0, 1])
@pytest.mark.parametrize("y", SMALL_ORDER_Y, ids=["y=0", "y=1", "y=-1", "y=+o8", "y=-o8"])
def test_small_order_keys_refused(y: int, sign: int) -> None:
    """Keys of order 1, 2, 4 or 8 (either sign of x) never become node ids."""
    with pytest.raises(ValidationError) as caught:
        node_id_from_public_key(key_with_y(y, sign))
    assert caught.value.code is WireCode.INVALID_PUBLIC_KEY


def test_small_order_list_matches_the_curve() -> None:
    """Every y in the blocklist is a point whose order divides 8 (checked on the curve)."""
    d = (-121665 * pow(121666, -1, P)) % P

    def add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
        """Twisted Edwards addition on edwards25519 (a = -1)."""
        (x1, y1), (x2, y2) = a, b
        t = d * x1 * x2 * y1 * y2
        return (
            (x1 * y2 + x2 * y1) * pow(1 + t, -1, P) % P,
            (y1 * y2 + x1 * x2) * pow(1 - t, -1, P) % P,
        )

    for y in SMALL_ORDER_Y:
        xx = (y * y - 1) * pow(d * y * y + 1, -1, P) % P
        x = pow(xx, (P + 3) // 8, P)
        if (x * x - xx) % P:
            x = x * pow(2, (P - 1) // 4, P) % P
        assert (x * x - xx) % P == 0
        point, total = (x, y), (x, y)
        for _ in range(7):
            total = add(total, point)
        assert total == (0, 1)


def test_non_canonical_key_refused() -> None:
    """A key whose y-coordinate is at least p is refused even if y - p is a valid point."""
    with pytest.raises(ValidationError) as caught:
        node_id_from_public_key(key_with_y(P + 2))
    assert caught.value.code is WireCode.INVALID_PUBLIC_KEY


def test_sign_and_verify() -> None:
    """A signature verifies under the signer's node id alone."""
    identity = insecure_identity("a")
    signature = identity.sign(DOMAIN_CHARTER, BODY)
    verify(identity.node_id, DOMAIN_CHARTER, BODY, signature)


@pytest.mark.parametrize("bit", [0, 7, 100, 255, 256, 300, 511])
def test_flipped_signature_bit_refused(bit: int) -> None:
    """Flipping any bit of a signature makes verification raise SignatureError."""
    identity = insecure_identity("a")
    signature = identity.sign(DOMAIN_CHARTER, BODY)
    with pytest.raises(SignatureError):
        verify(identity.node_id, DOMAIN_CHARTER, BODY, flip(signature, bit))


def test_malleated_signature_refused() -> None:
    """A signature with S replaced by S + L (same point equation) is refused: no malleability."""
    identity = insecure_identity("a")
    order = 2**252 + 27742317777372353535851937790883648493
    for n in range(64):
        body = {"n": n}
        signature = identity.sign(DOMAIN_CHARTER, body)
        s = int.from_bytes(signature[32:], "little")
        if s + order < 2**256:
            break
    malleated = signature[:32] + (s + order).to_bytes(32, "little")
    with pytest.raises(SignatureError):
        verify(identity.node_id, DOMAIN_CHARTER, body, malleated)


def test_changed_object_refused() -> None:
    """A signature over one body does not verify over another."""
    identity = insecure_identity("a")
    signature = identity.sign(DOMAIN_CHARTER, BODY)
    with pytest.raises(SignatureError):
        verify(identity.node_id, DOMAIN_CHARTER, {**BODY, "n": 2}, signature)


def test_other_signer_refused() -> None:
    """A signature by one node does not verify under another node's id."""
    signature = insecure_identity("a").sign(DOMAIN_CHARTER, BODY)
    with pytest.raises(SignatureError):
        verify(insecure_identity("b").node_id, DOMAIN_CHARTER, BODY, signature)


@pytest.mark.parametrize(
    "other",
    [DOMAIN_NODE_RECORD, DOMAIN_MEMBERSHIP_CREDENTIAL, DOMAIN_REVOCATION, DOMAIN_DATA_SPACE_LINK],
)
def test_wrong_domain_refused(other: bytes) -> None:
    """A signature under one domain string never verifies under another."""
    identity = insecure_identity("a")
    signature = identity.sign(DOMAIN_CHARTER, BODY)
    with pytest.raises(SignatureError):
        verify(identity.node_id, other, BODY, signature)


def test_domains_are_distinct() -> None:
    """The domain strings are distinct and none is a prefix of another."""
    domains = [
        DOMAIN_NODE_RECORD,
        DOMAIN_CHARTER,
        DOMAIN_MEMBERSHIP_CREDENTIAL,
        DOMAIN_REVOCATION,
        DOMAIN_DATA_SPACE_LINK,
        DOMAIN_NOISE_STATIC_KEY,
    ]
    for a in domains:
        for b in domains:
            assert a == b or not b.startswith(a)


@pytest.mark.parametrize("signature", [b"", bytes(63), bytes(65), bytes(64)])
def test_malformed_signature_refused(signature: bytes) -> None:
    """Signatures of the wrong length, or all zero, raise SignatureError."""
    with pytest.raises(SignatureError):
        verify(insecure_identity("a").node_id, DOMAIN_CHARTER, BODY, signature)


def test_malformed_node_id_in_verify_is_a_signature_error() -> None:
    """verify reports a malformed node id as the one opaque SignatureError."""
    signature = insecure_identity("a").sign(DOMAIN_CHARTER, BODY)
    with pytest.raises(SignatureError):
        verify("cfd1nonsense", DOMAIN_CHARTER, BODY, signature)


@pytest.mark.parametrize("domain", [b"", b"confide/v1/", b"other/v1/x", b"confide/v1/Node"])
def test_bad_domain_is_a_local_error(domain: bytes) -> None:
    """Signing under a domain not of the form confide/v1/<kind> is our caller's bug."""
    with pytest.raises(LocalProtocolError):
        insecure_identity("a").sign(domain, BODY)


def test_save_and_load(tmp_path: Path) -> None:
    """A saved key is mode 0600, reloads to the same identity, and leaves no temp file."""
    identity = Identity.generate()
    path = tmp_path / "node.key"
    identity.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Identity.load(path).node_id == identity.node_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node.key"]


def test_save_ignores_a_permissive_umask(tmp_path: Path) -> None:
    """The key file is 0600 whatever the process umask."""
    previous = os.umask(0)
    try:
        Identity.generate().save(tmp_path / "node.key")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "node.key").stat().st_mode) == 0o600


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    """Saving over an existing file fails unless overwrite=True, and keeps the old key."""
    path = tmp_path / "node.key"
    first, second = Identity.generate(), Identity.generate()
    first.save(path)
    with pytest.raises(KeyFileError) as caught:
        second.save(path)
    assert caught.value.code is WireCode.KEY_FILE_EXISTS
    assert Identity.load(path).node_id == first.node_id
    second.save(path, overwrite=True)
    assert Identity.load(path).node_id == second.node_id
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node.key"]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o660, 0o644])
def test_load_refuses_shared_files(tmp_path: Path, mode: int) -> None:
    """A key file any group or other bit is set on is refused."""
    path = tmp_path / "node.key"
    Identity.generate().save(path)
    path.chmod(mode)
    with pytest.raises(KeyFileError) as caught:
        Identity.load(path)
    assert caught.value.code is WireCode.KEY_FILE_UNSAFE


def test_load_refuses_symlinks(tmp_path: Path) -> None:
    """A symlink to a key file is not followed."""
    Identity.generate().save(tmp_path / "node.key")
    (tmp_path / "link.key").symlink_to(tmp_path / "node.key")
    with pytest.raises(OSError, match="link"):
        Identity.load(tmp_path / "link.key")


def test_load_refuses_other_content(tmp_path: Path) -> None:
    """Garbage and non-Ed25519 keys are refused with KEY_FILE_MALFORMED."""
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"not a key")
    x25519 = tmp_path / "x25519.key"
    x25519.write_bytes(
        X25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    for path in (garbage, x25519):
        path.chmod(0o600)
        with pytest.raises(KeyFileError) as caught:
            Identity.load(path)
        assert caught.value.code is WireCode.KEY_FILE_MALFORMED


def test_private_key_never_shown(tmp_path: Path) -> None:
    """Neither repr, str nor a key-file error shows any form of the private key."""
    identity = Identity.from_private_bytes(RFC8032_SECRET)
    path = tmp_path / "node.key"
    identity.save(path)
    pem = path.read_bytes().decode()
    body = "".join(pem.splitlines()[1:-1])
    path.chmod(0o644)
    with pytest.raises(KeyFileError) as caught:
        Identity.load(path)
    for text in (repr(identity), str(identity), str(caught.value), repr(caught.value)):
        assert RFC8032_SECRET.hex() not in text
        assert body not in text


def test_identity_cannot_be_pickled() -> None:
    """An Identity refuses implicit serialisation."""
    with pytest.raises(TypeError):
        pickle.dumps(insecure_identity("a"))
