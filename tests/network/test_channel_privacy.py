"""Text a peer chose never reaches our error texts or log lines during a handshake.

A peer controls the data-space names in its hello and identity payload, the keys of those maps
and every byte of the credentials it presents. Each evil string of ``test_canonical.EVIL_KEYS``
(a newline with a forged log line, terminal escapes, 10 kB of filler, personal names, an e-mail
address) is put in each of those places; the decoders refuse it, and a host on loopback refuses
the peer with a code and logs nothing of the text.
"""

from __future__ import annotations

import msgpack
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from structlog.testing import capture_logs

from network import canonical
from network.admission import data_space_authorizer
from network.canonical import is_name
from network.channel import (
    MAX_HELLO,
    LocalParty,
    decode_hello,
    decode_identity_payload,
    encode_hello,
)
from network.errors import HandshakeError, WireCode
from network.evilpeer import EvilPeer, PeerClosedError, identity_payload
from network.host import PeerHost
from network.membership import Membership
from tests.network.test_canonical import EVIL_KEYS, MARKERS
from tests.network.test_channel import ALICE, STATIC
from tests.network.test_dataspace import NL, T0, credential, insecure_identity, nl_charter

EVIL = insecure_identity("channel-evil")


def hello_with(name: str) -> bytes:
    """A v1 hello offering the evil string as a data space, and carrying it as a key."""
    return bytes(msgpack.packb({"v": 1, "spaces": [NL, EVIL_KEYS[name]], EVIL_KEYS[name]: 1}))


def payload_with(name: str, static: bytes) -> bytes:
    """EVIL's honest identity payload, but claiming the evil string as a data space."""
    return identity_payload(EVIL, static, [NL, EVIL_KEYS[name]], [credential(EVIL).encode()])


def credential_with(name: str) -> bytes:
    """EVIL's credential with the evil string (cut to fit 4 KiB) as an extra body key."""
    value = canonical.decode(credential(EVIL).encode())
    assert isinstance(value, dict)
    body = value["body"]
    assert isinstance(body, dict)
    body[EVIL_KEYS[name][:3000]] = 1
    return canonical.encode(value)


def assert_absent(text: str, name: str) -> None:
    """No marker of the evil string ``name`` occurs in ``text``."""
    for marker in MARKERS[name]:
        assert marker not in text


def expected_codes(name: str) -> list[int | None]:
    """The host's code for the evil hello, payload and credential (``None``: accepted).

    A string of data-space name syntax (``devries``) is a well-formed data space id: it passes
    the decoders, and still must not reach a log line.
    """
    hello: int | None = None if is_name(EVIL_KEYS[name]) else 100
    if len(hello_with(name)) > MAX_HELLO:
        hello = 101
    payload = None if is_name(EVIL_KEYS[name]) else 100
    return [hello, payload, int(WireCode.INVALID_FIELD)]


@pytest.mark.parametrize("name", list(EVIL_KEYS))
def test_decoders_refuse_peer_text_without_repeating_it(name: str) -> None:
    """A hello or payload naming an evil data space is refused; the error holds none of it."""
    payload = identity_payload(ALICE, STATIC, ["nl-a", EVIL_KEYS[name]])
    hello_code, payload_code, _ = expected_codes(name)
    errors: list[HandshakeError] = []
    for code, decode in (
        (hello_code, lambda: decode_hello(hello_with(name))),
        (payload_code, lambda: decode_identity_payload(payload, STATIC)),
    ):
        if code is None:
            decode()
            continue
        with pytest.raises(HandshakeError) as caught:
            decode()
        assert caught.value.code == code
        errors.append(caught.value)
    for error in errors:
        assert_absent(f"{error}{error!r}{error.args}", name)


def test_unknown_keys_in_hello_and_payload_are_ignored_not_echoed() -> None:
    """Evil extra keys beside valid fields are ignored: the hello and the payload still pass."""
    hello = msgpack.unpackb(encode_hello(["nl-a"]), raw=False)
    body = msgpack.unpackb(identity_payload(ALICE, STATIC, ["nl-a"]), raw=False)
    for key in EVIL_KEYS.values():
        hello[key[:500]] = body[key] = 1
    assert decode_hello(bytes(msgpack.packb(hello))) == ("nl-a",)
    peer = decode_identity_payload(bytes(msgpack.packb(body, use_bin_type=True)), STATIC)
    assert peer.node_id == ALICE.node_id


async def handshakes_against(host: PeerHost, name: str) -> list[int | None]:
    """The evil hello, payload and credential against ``host``; the codes the evil side saw.

    A refused hello or payload closes the socket (``PeerClosedError``, code unknown to the evil
    side: 0 here); a refused credential comes back in the verdict; ``None`` is accepted.
    """
    seen: list[int | None] = []
    static = X25519PrivateKey.generate()
    honest = LocalParty(EVIL, static, (NL,), (credential(EVIL).encode(),))
    raw_static = static.public_key().public_bytes_raw()
    for changes in ({"hello": hello_with(name)}, {"payload": payload_with(name, raw_static)}):
        async with EvilPeer(honest, host.url) as evil:
            await evil.connect()
            try:
                seen.append(await evil.handshake(**changes))  # type: ignore[arg-type]
            except PeerClosedError:
                seen.append(0)
    bad_credential = LocalParty(EVIL, static, (NL,), (credential_with(name),))
    async with EvilPeer(bad_credential, host.url) as evil:
        await evil.connect()
        seen.append(await evil.handshake())
    return seen


@pytest.mark.asyncio
@pytest.mark.parametrize("name", list(EVIL_KEYS))
async def test_host_logs_no_peer_text_when_it_refuses(name: str) -> None:
    """A host refusing evil hellos, payloads and credentials logs codes, never the text."""
    membership = Membership([nl_charter()])
    own = credential(ALICE, issued_at=T0 - 5)
    local = LocalParty(ALICE, X25519PrivateKey.generate(), (NL,), (own.encode(),))
    host = PeerHost(local, data_space_authorizer(membership, (NL,), list, lambda: T0 + 10))
    with capture_logs() as logs:
        await host.start()
        try:
            seen = await handshakes_against(host, name)
        finally:
            await host.aclose()
    expected = expected_codes(name)
    assert seen == [None if code is None else 0 for code in expected[:2]] + expected[2:]
    refusals = [entry["code"] for entry in logs if entry["event"] == "link.refused"]
    assert refusals == [code for code in expected if code is not None]
    assert_absent(repr(logs), name)
