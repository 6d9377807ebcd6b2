"""Links over ``wss://``: TLS outside (terminated by a proxy in front of the node), Noise inside.

``PeerHost`` listens without TLS; a deployment puts a TLS-terminating reverse proxy in front of
it. Here that proxy is ``FaultProxy(tls=...)`` with a throw-away self-signed certificate for
127.0.0.1, and the dialling host's HTTP client trusts that certificate. The link handshake still
runs end to end inside TLS: the peer is proven by its Noise static key and identity signature,
so a different node behind the right certificate is still refused.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
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


def self_signed(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and a client
    context that trusts exactly that certificate (hostname checked)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "confide test node")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(pem)
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    client = ssl.create_default_context(cadata=pem.decode())
    return server, client


async def trusting(host: PeerHost, client: ssl.SSLContext) -> None:
    """Make ``host`` dial with an HTTP client that trusts the test certificate.

    (``PeerHost`` takes no TLS settings for dialling yet; its client is swapped here.)"""
    assert host._client is not None
    await host._client.close()
    host._client = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client))


@pytest_asyncio.fixture
async def hosts() -> AsyncIterator[list[PeerHost]]:
    """Dialler, target (answering with an Echo) and another node, all admitting each other."""
    allowed = allow_nodes([new_party(s).identity.node_id for s in (DIALLER, TARGET, OTHER)])
    echo = Echo()
    started = [
        PeerHost(new_party(DIALLER), allowed),
        PeerHost(new_party(TARGET), allowed, on_session=echo.on_session),
        PeerHost(new_party(OTHER), allowed),
    ]
    for host in started:
        await host.start()
    yield started
    for host in started:
        await host.aclose()
    await echo.aclose()


async def test_link_over_wss_runs_noise_inside_tls(hosts: list[PeerHost], tmp_path: Path) -> None:
    """wss:// to a TLS-terminating proxy: the handshake proves the node id, sessions carry data."""
    dialler, target, _ = hosts
    server, client = self_signed(tmp_path)
    await trusting(dialler, client)
    async with FaultProxy(target.port, tls=server) as proxy:
        url = f"wss://127.0.0.1:{proxy.port}{PATH}"
        link = await dialler.connect(target.node_id, url, deadline=5)
        assert link.peer.node_id == target.node_id
        await round_trip(link, 1)
        assert target.link(dialler.node_id) is not None
        forwarded = proxy.statistics().upstream.bytes_forwarded
        assert forwarded > 0  # the upgrade, the handshake and the records went through TLS


async def test_wrong_node_behind_a_valid_certificate_is_refused(
    hosts: list[PeerHost], tmp_path: Path
) -> None:
    """TLS checks the certificate, not the node: dialling OTHER's id there is WRONG_PEER."""
    dialler, target, other = hosts
    server, client = self_signed(tmp_path)
    await trusting(dialler, client)
    async with FaultProxy(target.port, tls=server) as proxy:
        with pytest.raises(NetworkError) as caught:
            await dialler.connect(other.node_id, f"wss://127.0.0.1:{proxy.port}{PATH}", 0.5)
        assert caught.value.code == WireCode.HANDSHAKE_WRONG_PEER
        assert dialler.link(other.node_id) is None


async def test_untrusted_certificate_gets_no_link(hosts: list[PeerHost], tmp_path: Path) -> None:
    """A dialler that does not trust the certificate never reaches the handshake."""
    dialler, target, _ = hosts
    server, _ = self_signed(tmp_path)
    async with FaultProxy(target.port, tls=server) as proxy:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await dialler.connect(target.node_id, f"wss://127.0.0.1:{proxy.port}{PATH}", 0.3)
        assert target.link(dialler.node_id) is None
