"""Links over ``wss://``: TLS outside, Noise inside, over real sockets on loopback.

A throw-away certificate authority issues a certificate for 127.0.0.1; a ``PeerHost`` given a
server context listens with TLS itself, and diallers given a client context that trusts the CA
check that certificate. TLS terminated by a reverse proxy in front of a plain host
(``FaultProxy(tls=...)``) works the same. Either way the link handshake runs end to end inside
TLS: the peer is proven by its Noise static key and identity signature, so a different node
behind the right certificate is still refused.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from network.channel import PATH, allow_nodes
from network.errors import NetworkError, WireCode
from network.evilpeer import Echo, new_party, round_trip
from network.faultproxy import FaultProxy
from network.host import PeerHost

pytestmark = pytest.mark.asyncio

DIALLER, TARGET, OTHER = 71, 72, 73


@dataclass(frozen=True)
class Pki:
    """PEM files of a test CA and of a certificate for 127.0.0.1 that it issued."""

    ca: Path
    cert: Path
    key: Path

    def server(self) -> ssl.SSLContext:
        """A server context presenting the 127.0.0.1 certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client(self) -> ssl.SSLContext:
        """A client context trusting exactly the test CA (host names checked)."""
        return ssl.create_default_context(cafile=str(self.ca))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_pki(directory: Path) -> Pki:
    """Write a fresh self-signed CA and a 127.0.0.1 server certificate it signed to
    ``directory`` (``ca.pem``, ``cert.pem``, ``key.pem``)."""
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(minutes=1), now + datetime.timedelta(hours=1))
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("confide test CA"))
        .issuer_name(_name("confide test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("confide test node"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(_pem_key(key))
    return pki


@pytest_asyncio.fixture
async def hosts(tmp_path: Path) -> AsyncIterator[list[PeerHost]]:
    """Dialler (trusting the test CA), target (listening with TLS, answering with an Echo) and
    another node (plain), all admitting each other."""
    pki = make_pki(tmp_path)
    allowed = allow_nodes([new_party(s).identity.node_id for s in (DIALLER, TARGET, OTHER)])
    echo = Echo()
    started = [
        PeerHost(new_party(DIALLER), allowed, client_tls=pki.client()),
        PeerHost(new_party(TARGET), allowed, on_session=echo.on_session, server_tls=pki.server()),
        PeerHost(new_party(OTHER), allowed, server_tls=pki.server()),
    ]
    for host in started:
        await host.start()
    yield started
    for host in started:
        await host.aclose()
    await echo.aclose()


async def test_link_over_wss_runs_noise_inside_tls(hosts: list[PeerHost]) -> None:
    """A host listening with TLS: its address is wss://, the handshake proves the node id, and
    sessions carry data; a plain ws:// dial to that port gets no link."""
    dialler, target, _ = hosts
    assert target.url.startswith("wss://127.0.0.1:")
    link = await dialler.connect(target.node_id, target.url, deadline=5)
    assert link.peer.node_id == target.node_id
    await round_trip(link, 1)
    assert target.link(dialler.node_id) is not None
    await link.aclose()
    with pytest.raises((aiohttp.ClientError, NetworkError)):
        await dialler.connect(target.node_id, target.url.replace("wss", "ws", 1), deadline=0.3)


async def test_wrong_node_behind_a_valid_certificate_is_refused(hosts: list[PeerHost]) -> None:
    """TLS checks the certificate, not the node: dialling OTHER's id at TARGET is WRONG_PEER."""
    dialler, target, other = hosts
    with pytest.raises(NetworkError) as caught:
        await dialler.connect(other.node_id, target.url, 0.5)
    assert caught.value.code == WireCode.HANDSHAKE_WRONG_PEER
    assert dialler.link(other.node_id) is None


async def test_untrusted_certificate_gets_no_link(hosts: list[PeerHost]) -> None:
    """A dialler that does not trust the CA (the system store here) never reaches the
    handshake."""
    _, target, other = hosts
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await other.connect(target.node_id, target.url, 0.3)
    assert target.link(other.node_id) is None


async def test_tls_terminated_by_a_proxy_in_front_of_a_plain_host(
    hosts: list[PeerHost], tmp_path: Path
) -> None:
    """wss:// to a TLS-terminating proxy before a plain host: same link, same proof."""
    dialler, _, _ = hosts
    pki = make_pki(tmp_path / "proxy")
    plain = PeerHost(new_party(OTHER + 1), allow_nodes([dialler.node_id]))
    trusting = PeerHost(dialler.local, allow_nodes([plain.node_id]), client_tls=pki.client())
    for started in (plain, trusting):
        await started.start()
    try:
        async with FaultProxy(plain.port, tls=pki.server()) as proxy:
            url = f"wss://127.0.0.1:{proxy.port}{PATH}"
            link = await trusting.connect(plain.node_id, url, deadline=5)
            assert link.peer.node_id == plain.node_id
            assert proxy.statistics().upstream.bytes_forwarded > 0
    finally:
        await trusting.aclose()
        await plain.aclose()
